using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Targeted;

/// <summary>
/// One <c>/v1/connect</c> socket. Messages for it come from other sessions' receive loops, so they are queued
/// and sent by one pump, which also sends the close frame. The queue is bounded in bytes: a sender never
/// waits for a slow target; a target that falls too far behind is closed with 4429 instead.
/// </summary>
internal sealed partial class TargetedSession : IRelaySession
{
    private readonly Lock _gate = new();
    private readonly Channel<OutboundMessage> _outbox = Channel.CreateUnbounded<OutboundMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _maxQueuedBytes;
    private readonly TimeSpan _closeTimeout;
    private long _closeDeadline = long.MaxValue;

    // Guarded by _gate.
    private int _queuedBytes;
    private bool _closing;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeDescription;
    private TargetedCloseReason? _closeReason;

    public TargetedSession(string username, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
    {
        Username = username;
        Socket = socket;
        _sessions = sessions;
        _metrics = metrics;
        _logger = logger;
        _maxQueuedBytes = options.Targeted.MaxQueuedBytes;
        _closeTimeout = options.CloseTimeout;
        _ = PumpAsync();
    }

    public string Username { get; }

    public WebSocket Socket { get; }

    public bool IsClosing
    {
        get
        {
            lock (_gate)
            {
                return _closing;
            }
        }
    }

    /// <summary>Why the relay closed this session, or null if it did not (the client closed or the socket dropped).</summary>
    public TargetedCloseReason? CloseReason
    {
        get
        {
            lock (_gate)
            {
                return _closeReason;
            }
        }
    }

    /// <summary>Completes once the close frame has been sent (or could not be).</summary>
    public Task CloseSent => _closeSent.Task;

    /// <summary>
    /// Queues a message (the session takes ownership of it); false if the session is closing or its backlog is
    /// full, in which case the session is closed with 4429 and the message released.
    /// </summary>
    public bool TryEnqueue(OutboundMessage message)
    {
        lock (_gate)
        {
            // One message always fits, however large, so a reader is never closed for the size of one message.
            if (!_closing && (_queuedBytes == 0 || _queuedBytes + message.Length <= _maxQueuedBytes))
            {
                _queuedBytes += message.Length;
                _outbox.Writer.TryWrite(message);
                return true;
            }
        }

        message.Release();
        CloseByRelay(RelayCloseCodes.OverLimit, TargetedCloseReason.QueueFull, RejectionReason.QueueFull, "Too many messages waiting; read faster");
        return false;
    }

    /// <summary>
    /// Starts the close handshake: the pump sends the close frame after the message it is sending now; unsent
    /// messages are dropped. Only the first call counts.
    /// </summary>
    public bool RequestClose(WebSocketCloseStatus status, string? description, TargetedCloseReason? reason = null)
    {
        lock (_gate)
        {
            if (_closing)
            {
                return false;
            }

            _closing = true;
            _closeStatus = status;
            _closeDescription = description;
            _closeReason = reason;
            _outbox.Writer.TryComplete();
        }

        Volatile.Write(ref _closeDeadline, _sessions.DeadlineAfter(_closeTimeout));
        return true;
    }

    /// <summary>Closes the session for a reason of the relay's: counted among rejections when it is one, logged at Debug, the code sent.</summary>
    public void CloseByRelay(int code, TargetedCloseReason reason, RejectionReason? rejection, string description)
    {
        if (RequestClose((WebSocketCloseStatus)code, description, reason))
        {
            if (rejection is { } counted)
            {
                _metrics.Rejected(counted);
            }

            Log.ClosedByRelay(_logger, Username, code, description);
        }
    }

    /// <summary>Sends queued messages until the queue is completed by a close, then the close frame. Never faults.</summary>
    private async Task PumpAsync()
    {
        var reader = _outbox.Reader;
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
                        Sent(message);
                    }
                }
            }

            WebSocketCloseStatus status;
            string? description;
            lock (_gate)
            {
                (status, description) = (_closeStatus, _closeDescription);
            }

            await RelaySocket.SendCloseAsync(Socket, status, description).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A failed send: abort, so the receive loop ends and with it the session; nothing waits on the socket.
            Log.SendFailed(_logger, Username, ex);
            Socket.Abort();
            RequestClose(WebSocketCloseStatus.Empty, null);
            while (reader.TryRead(out var message))
            {
                Sent(message);
            }
        }
        finally
        {
            _closeSent.TrySetResult();
        }
    }

    private void Sent(OutboundMessage message)
    {
        lock (_gate)
        {
            _queuedBytes -= message.Length;
        }

        message.Release();
    }

    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
        {
            // The client did not answer our close frame in time.
            Socket.Abort();
        }
    }

    public void CloseForShutdown() =>
        RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down", TargetedCloseReason.ShuttingDown);

    public void Abort() => Socket.Abort();

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.TargetedSendFailed, LogLevel.Debug, "Sending to targeted-signaling user {Username} failed.")]
        public static partial void SendFailed(ILogger logger, string username, Exception exception);

        // Debug: such closes are counted in relay.targeted.closes, and a flood of them must not flood the log.
        [LoggerMessage(RelayEventIds.TargetedClosedByRelay, LogLevel.Debug, "Closing the targeted-signaling session of {Username} with {CloseCode}: {Description}.")]
        public static partial void ClosedByRelay(ILogger logger, string username, int closeCode, string description);
    }
}
