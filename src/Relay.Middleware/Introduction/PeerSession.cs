using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Introduction;

/// <summary>
/// One peer's introduction socket. Introductions for it come from other peers' Joins on other threads,
/// so they are queued and sent by a single pump, which also sends the close frame: only the pump ever
/// sends on the socket. The queue and the pump exist only while there is something to send, so an idle
/// peer costs no buffers and no suspended task.
/// </summary>
internal sealed partial class PeerSession : IRelaySession
{
    private readonly Lock _gate = new();
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _maxQueuedBytes;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _closeTimeout;
    private long _idleDeadline;
    private long _closeDeadline = long.MaxValue;

    // Guarded by _gate.
    private Queue<OutboundMessage>? _queue;
    private int _queuedBytes;
    private bool _pumping;
    private bool _closeRequested;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeReason;
    private TaskCompletionSource? _closeSent;

    public PeerSession(string peerId, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
    {
        PeerId = peerId;
        Socket = socket;
        _sessions = sessions;
        _metrics = metrics;
        _logger = logger;
        _maxQueuedBytes = options.Introduction.MaxQueuedBytes;
        _idleTimeout = options.Introduction.IdleTimeout;
        _closeTimeout = options.CloseTimeout;
        _idleDeadline = sessions.DeadlineAfter(_idleTimeout);
    }

    public string PeerId { get; }

    public WebSocket Socket { get; }

    /// <summary>Documents this peer has joined. Guarded by the <see cref="PeerRegistry"/> lock.</summary>
    public HashSet<string>? Documents { get; set; }

    /// <summary>The dialect of the peer's last well-formed message; its introductions are sent in it.</summary>
    public IntroductionDialect Dialect { get; set; }

    public bool IsClosing
    {
        get
        {
            lock (_gate)
            {
                return _closeRequested;
            }
        }
    }

    /// <summary>Encodes an introduction in this peer's dialect and queues it; false if the peer is closing or over its backlog.</summary>
    public bool TryIntroduce(string otherPeerId, List<string> documentIds)
    {
        var dialect = Dialect;
        var message = dialect == IntroductionDialect.MessagePack
            ? MessagePackIntroductionCodec.WriteIntroduction(otherPeerId, documentIds)
            : JsonIntroductionCodec.WriteIntroduction(otherPeerId, documentIds, dialect);

        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                message.Release();
                return false;
            }

            // The cap is on the backlog: one message always fits, however large, so a peer that reads
            // is never closed for the size of a single introduction.
            if (_queuedBytes > 0 && _queuedBytes + message.Length > _maxQueuedBytes)
            {
                message.Release();
                startPump = false;
            }
            else
            {
                (_queue ??= new Queue<OutboundMessage>(4)).Enqueue(message);
                _queuedBytes += message.Length;
                startPump = !_pumping;
                _pumping = true;
                message = default;
            }
        }

        if (message.Length > 0)
        {
            CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many introductions waiting; read faster");
            return false;
        }

        if (startPump)
        {
            _ = PumpAsync();
        }

        return true;
    }

    /// <summary>Any message from the peer restarts its idle clock.</summary>
    public void Touch() => Volatile.Write(ref _idleDeadline, _sessions.DeadlineAfter(_idleTimeout));

    /// <summary>
    /// Starts the close handshake with <paramref name="status"/>: the pump sends the close frame after
    /// whatever it is sending now; unsent introductions are dropped. Only the first call counts.
    /// </summary>
    public bool RequestClose(WebSocketCloseStatus status, string? reason)
    {
        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                return false;
            }

            _closeRequested = true;
            _closeStatus = status;
            _closeReason = reason;
            _closeSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            startPump = !_pumping;
            _pumping = true;
        }

        Volatile.Write(ref _closeDeadline, _sessions.DeadlineAfter(_closeTimeout));
        if (startPump)
        {
            _ = PumpAsync();
        }

        return true;
    }

    /// <summary>Completes once the close frame has been sent (or could not be). Call after <see cref="RequestClose"/>.</summary>
    public Task CloseSent
    {
        get
        {
            lock (_gate)
            {
                return _closeSent?.Task ?? throw new InvalidOperationException("No close was requested.");
            }
        }
    }

    /// <summary>Closes the peer because a limit was reached: counted, logged, and the close code sent.</summary>
    public void CloseByRelay(int code, RejectionReason reason, string description)
    {
        if (RequestClose((WebSocketCloseStatus)code, description))
        {
            _metrics.Rejected(reason);
            Log.ClosedByRelay(_logger, PeerId, code, reason);
        }
    }

    /// <summary>
    /// Sends queued introductions, then the close frame once one is requested, and stops when there is
    /// nothing left. Runs detached, so it must never fault: a failed send aborts the socket, which ends
    /// the receive loop and with it the session.
    /// </summary>
    private async Task PumpAsync()
    {
        try
        {
            while (await SendNextAsync().ConfigureAwait(false))
            {
            }
        }
        catch (Exception ex)
        {
            // Leave no pump marked as running and no close unanswered: a later RequestClose starts a
            // new pump, which finds the socket aborted and completes at once.
            Log.SendFailed(_logger, PeerId, ex);
            Socket.Abort();
            TaskCompletionSource? closeSent;
            lock (_gate)
            {
                DropQueued();
                _pumping = false;
                closeSent = _closeSent;
            }

            closeSent?.TrySetResult();
        }
    }

    /// <summary>Sends one queued message; false when the pump should stop (queue empty, or the close frame sent).</summary>
    private async Task<bool> SendNextAsync()
    {
        OutboundMessage message;
        lock (_gate)
        {
            if (_closeRequested)
            {
                DropQueued();
                message = default;
            }
            else if (_queue is { Count: > 0 })
            {
                message = _queue.Dequeue();
            }
            else
            {
                _pumping = false;
                return false;
            }
        }

        if (message.Length == 0)
        {
            // The pump stays marked as running after the close frame, so no other one starts.
            await SendCloseAsync().ConfigureAwait(false);
            return false;
        }

        try
        {
            await Socket.SendAsync(message.Payload, message.Type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _queuedBytes -= message.Length;
            }

            message.Release();
        }

        return true;
    }

    private async Task SendCloseAsync()
    {
        try
        {
            await RelaySocket.SendCloseAsync(Socket, _closeStatus, _closeReason).ConfigureAwait(false);
        }
        finally
        {
            _closeSent!.TrySetResult();
        }
    }

    private void DropQueued()
    {
        while (_queue is { Count: > 0 })
        {
            var message = _queue.Dequeue();
            _queuedBytes -= message.Length;
            message.Release();
        }
    }

    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
        {
            // The peer did not answer our close frame in time.
            Socket.Abort();
        }
        else if (now >= Volatile.Read(ref _idleDeadline) && !IsClosing)
        {
            CloseByRelay(RelayCloseCodes.Timeout, RejectionReason.IdleTimeout, "Idle timeout");
        }
    }

    public void CloseForShutdown() => RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");

    public void Abort() => Socket.Abort();

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.PeerSendFailed, LogLevel.Debug, "Sending to peer {PeerId} failed.")]
        public static partial void SendFailed(ILogger logger, string peerId, Exception exception);

        // Debug: every such close is counted in relay.rejected_connections, and a flood of them must not flood the log.
        [LoggerMessage(RelayEventIds.PeerClosedByRelay, LogLevel.Debug, "Closing peer {PeerId} with {CloseCode}: {Reason}.")]
        public static partial void ClosedByRelay(ILogger logger, string peerId, int closeCode, RejectionReason reason);
    }
}
