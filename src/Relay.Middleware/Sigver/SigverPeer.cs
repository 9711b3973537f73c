using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Sigver;

/// <summary>
/// One sigver socket. Frames for it come from other peers' receive loops and from the relay's clock, so they
/// are queued (bounded by bytes) and sent by a single pump, which also sends the close frame: only the pump
/// ever sends on the socket, and it exists only while there is something to send. Its place in a group
/// (member, joiner, bindings) is owned by <see cref="ISigverGroups"/> and guarded by its key's lock.
/// </summary>
internal sealed partial class SigverPeer : IRelaySession
{
    /// <summary>Server heartbeats in a row without one from the peer after which it is closed with 4002.</summary>
    public const int MaxMissedHeartbeats = 3;

    private readonly Lock _gate = new();
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _maxQueuedBytes;
    private readonly long _heartbeatTicks;
    private readonly TimeSpan _closeTimeout;
    private long _nextHeartbeat;
    private int _missedHeartbeats;
    private long _closeDeadline = long.MaxValue;

    // Guarded by _gate.
    private Queue<OutboundMessage>? _queue;
    private int _queuedBytes;
    private bool _pumping;
    private bool _closeRequested;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeReason;
    private TaskCompletionSource? _closeSent;

    public SigverPeer(string key, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
    {
        Key = key;
        Socket = socket;
        _sessions = sessions;
        _metrics = metrics;
        _logger = logger;
        _maxQueuedBytes = options.Sigver.MaxQueuedBytes;
        _heartbeatTicks = sessions.Ticks(options.Sigver.HeartbeatInterval);
        _closeTimeout = options.CloseTimeout;
        _nextHeartbeat = sessions.Now + _heartbeatTicks;
    }

    public string Key { get; }

    public WebSocket Socket { get; }

    /// <summary>Called when the relay closes this peer, to take it out of its group at once. Set by the handler.</summary>
    public Action<SigverPeer>? OnClosedByRelay { get; set; }

    // Group state, owned by the groups and guarded by Entry's lock.

    /// <summary>The peers of this peer's key, set when it joins.</summary>
    public SigverKeyEntry? Entry { get; set; }

    /// <summary>True once the peer has left its group (closed, or closed by the relay): nothing more is routed to or from it.</summary>
    public bool Detached { get; set; }

    /// <summary>True once its socket has ended and it has left its key.</summary>
    public bool Left { get; set; }

    public bool IsMember { get; set; }

    /// <summary>This peer's binding as a joiner, while one of its directions is open.</summary>
    public SigverBinding? AsJoiner { get; set; }

    /// <summary>The bindings of the joiners bound to this member, by the id the member knows them by.</summary>
    public Dictionary<uint, SigverBinding>? Joiners { get; set; }

    /// <summary>Members this joiner has already been bound to since its tried list was last reset.</summary>
    public List<SigverPeer>? Tried { get; set; }

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

    /// <summary>A heartbeat from the peer: the count of silent ticks starts again.</summary>
    public void HeartbeatReceived() => Volatile.Write(ref _missedHeartbeats, 0);

    /// <summary>Queues a frame (taking ownership of it); a peer over its backlog is closed with 4429 and the frame dropped.</summary>
    public void Send(OutboundMessage frame)
    {
        bool startPump;
        bool overflow = false;
        lock (_gate)
        {
            if (_closeRequested)
            {
                frame.Release();
                return;
            }

            // The cap is on the backlog: one frame always fits, so a peer that reads is never closed for the size of one.
            if (_queuedBytes > 0 && _queuedBytes + frame.Length > _maxQueuedBytes)
            {
                frame.Release();
                overflow = true;
                startPump = false;
            }
            else
            {
                (_queue ??= new Queue<OutboundMessage>(4)).Enqueue(frame);
                _queuedBytes += frame.Length;
                startPump = !_pumping;
                _pumping = true;
            }
        }

        if (overflow)
        {
            // Only the close is requested here (the sender may hold the group's lock); the peer leaves its group when its socket ends.
            RequestCloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many frames waiting; read faster");
        }
        else if (startPump)
        {
            _ = PumpAsync();
        }
    }

    /// <summary>Closes the peer because of a rule or a limit: counted, logged, taken out of its group, and the close code sent.</summary>
    public void CloseByRelay(int code, RejectionReason? reason, string description)
    {
        if (RequestCloseByRelay(code, reason, description))
        {
            OnClosedByRelay?.Invoke(this);
        }
    }

    /// <summary>As <see cref="CloseByRelay"/>, for a caller that holds the group's lock and takes the peer out itself.</summary>
    public bool RequestCloseByRelay(int code, RejectionReason? reason, string description)
    {
        if (!RequestClose((WebSocketCloseStatus)code, description))
        {
            return false;
        }

        _metrics.SigverClosed(code);
        if (reason is { } counted)
        {
            _metrics.Rejected(counted);
        }

        Log.ClosedByRelay(_logger, Key, code, description);
        return true;
    }

    /// <summary>
    /// Starts the close handshake with <paramref name="status"/>: the pump sends the close frame after what it is
    /// sending now; unsent frames are dropped. Only the first call counts.
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

    /// <summary>Sends queued frames, then the close frame once requested. Runs detached and never faults.</summary>
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
            Log.SendFailed(_logger, Key, ex);
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

    private async Task<bool> SendNextAsync()
    {
        OutboundMessage frame;
        lock (_gate)
        {
            if (_closeRequested)
            {
                DropQueued();
                frame = default;
            }
            else if (_queue is { Count: > 0 })
            {
                frame = _queue.Dequeue();
            }
            else
            {
                _pumping = false;
                return false;
            }
        }

        if (frame.Length == 0)
        {
            try
            {
                await RelaySocket.SendCloseAsync(Socket, _closeStatus, _closeReason).ConfigureAwait(false);
            }
            finally
            {
                _closeSent!.TrySetResult();
            }

            return false;
        }

        try
        {
            await Socket.SendAsync(frame.Payload, frame.Type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _queuedBytes -= frame.Length;
            }

            frame.Release();
        }

        return true;
    }

    private void DropQueued()
    {
        while (_queue is { Count: > 0 })
        {
            var frame = _queue.Dequeue();
            _queuedBytes -= frame.Length;
            frame.Release();
        }
    }

    /// <summary>
    /// The relay's clock: a heartbeat every interval; at the third tick in a row without one from the peer, 4002
    /// (as the original: its third silent tick closes instead of sending).
    /// </summary>
    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
        {
            Socket.Abort();
            return;
        }

        if (now < Volatile.Read(ref _nextHeartbeat) || IsClosing)
        {
            return;
        }

        Volatile.Write(ref _nextHeartbeat, now + _heartbeatTicks);
        if (Interlocked.Increment(ref _missedHeartbeats) >= MaxMissedHeartbeats)
        {
            CloseByRelay(RelayCloseCodes.SigverHeartbeatTimeout, RejectionReason.HeartbeatTimeout, "Too many missed heartbeats");
        }
        else
        {
            Send(SigverFrames.Fixed(SigverFrames.Heartbeat));
        }
    }

    public void CloseForShutdown()
    {
        if (RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"))
        {
            _metrics.SigverClosed(RelayCloseCodes.GoingAway);
        }
    }

    public void Abort() => Socket.Abort();

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.SigverSendFailed, LogLevel.Debug, "Sending to sigver peer on key {Key} failed.")]
        public static partial void SendFailed(ILogger logger, string key, Exception exception);

        // Debug: every such close is counted in relay.sigver.closes, and a flood of them must not flood the log.
        [LoggerMessage(RelayEventIds.SigverClosedByRelay, LogLevel.Debug, "Closing sigver peer on key {Key} with {CloseCode}: {Reason}.")]
        public static partial void ClosedByRelay(ILogger logger, string key, int closeCode, string reason);
    }
}
