using System.Net.WebSockets;
using System.Threading.Channels;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Introduction;

/// <summary>
/// One peer's introduction socket. Introductions for it come from other peers' Joins on other threads,
/// so they go through a queue drained by a single send loop, which also sends the close frame: only
/// that loop ever sends on the socket.
/// </summary>
internal sealed class PeerSession : IRelaySession
{
    private readonly Channel<OutboundMessage> _outbound =
        Channel.CreateUnbounded<OutboundMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly int _maxQueuedBytes;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _closeTimeout;
    private int _queuedBytes;
    private long _idleDeadline;
    private long _closeDeadline = long.MaxValue;
    private int _closeRequested;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeReason;

    public PeerSession(string peerId, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics)
    {
        PeerId = peerId;
        Socket = socket;
        _sessions = sessions;
        _metrics = metrics;
        _maxQueuedBytes = options.Introduction.MaxQueuedBytes;
        _idleTimeout = options.Introduction.IdleTimeout;
        _closeTimeout = options.CloseTimeout;
        _idleDeadline = sessions.DeadlineAfter(_idleTimeout);
    }

    public string PeerId { get; }

    public WebSocket Socket { get; }

    /// <summary>Documents this peer has joined. Guarded by the <see cref="PeerRegistry"/> lock.</summary>
    public HashSet<string>? Documents { get; set; }

    /// <summary>True when the peer's last message was a JSON text frame (the cevitxe dialect).</summary>
    public bool SpeaksJson { get; set; }

    public bool IsClosing => Volatile.Read(ref _closeRequested) != 0;

    /// <summary>The close code the relay chose, when it was the relay that closed.</summary>
    public WebSocketCloseStatus? RelayCloseStatus => IsClosing ? _closeStatus : null;

    /// <summary>Encodes an introduction in this peer's dialect and queues it.</summary>
    public bool TryIntroduce(string otherPeerId, List<string> documentIds)
    {
        if (IsClosing)
        {
            return false;
        }

        var message = SpeaksJson
            ? JsonIntroductionCodec.WriteIntroduction(otherPeerId, documentIds)
            : MessagePackIntroductionCodec.WriteIntroduction(otherPeerId, documentIds);

        if (Interlocked.Add(ref _queuedBytes, message.Length) > _maxQueuedBytes)
        {
            Interlocked.Add(ref _queuedBytes, -message.Length);
            message.Release();
            if (RequestClose((WebSocketCloseStatus)RelayCloseCodes.OverLimit, "Too many introductions waiting; read faster"))
            {
                _metrics.Rejected(RejectionReasons.QueueFull);
            }

            return false;
        }

        if (!_outbound.Writer.TryWrite(message))
        {
            Interlocked.Add(ref _queuedBytes, -message.Length);
            message.Release();
            return false;
        }

        return true;
    }

    /// <summary>Any message from the peer restarts its idle clock.</summary>
    public void Touch() => Volatile.Write(ref _idleDeadline, _sessions.DeadlineAfter(_idleTimeout));

    /// <summary>
    /// Starts the close handshake with <paramref name="status"/>: the send loop sends the close frame
    /// after whatever it is sending now; unsent introductions are dropped. Only the first call counts.
    /// </summary>
    public bool RequestClose(WebSocketCloseStatus status, string? reason)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return false;
        }

        _closeStatus = status;
        _closeReason = reason;
        Volatile.Write(ref _closeDeadline, _sessions.DeadlineAfter(_closeTimeout));
        _outbound.Writer.TryComplete();
        return true;
    }

    public async Task RunSendLoopAsync()
    {
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var message))
                {
                    try
                    {
                        if (!IsClosing)
                        {
                            await Socket.SendAsync(message.Payload, message.Type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
                        }
                    }
                    finally
                    {
                        Interlocked.Add(ref _queuedBytes, -message.Length);
                        message.Release();
                    }
                }
            }

            if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await Socket.CloseOutputAsync(_closeStatus, _closeStatus == WebSocketCloseStatus.Empty ? null : _closeReason, CancellationToken.None)
                    .ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The peer is gone; the receive loop sees the same and ends the session.
            Socket.Abort();
        }
        finally
        {
            while (reader.TryRead(out var message))
            {
                message.Release();
            }
        }
    }

    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
        {
            // The peer did not answer our close frame in time.
            Socket.Abort();
        }
        else if (now >= Volatile.Read(ref _idleDeadline) && RequestClose((WebSocketCloseStatus)RelayCloseCodes.Timeout, "Idle timeout"))
        {
            _metrics.Rejected(RejectionReasons.IdleTimeout);
        }
    }

    public void CloseForShutdown() => RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");

    public void Abort() => Socket.Abort();
}
