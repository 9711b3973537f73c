using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Sigver;

/// <summary>
/// One sigver socket. Frames for it come from other peers' receive loops and from the relay's clock, so they
/// go through the bounded queue and single pump of <see cref="QueuedSocket{T}"/>, which also sends the close
/// frame. Its place in a group (member, joiner, bindings) is owned by <see cref="ISigverGroups"/> and guarded
/// by its key's lock.
/// </summary>
internal sealed partial class SigverPeer : QueuedMessageSocket, IRelaySession
{
    /// <summary>Server heartbeats in a row without one from the peer after which it is closed with 4002.</summary>
    public const int MaxMissedHeartbeats = 3;

    private readonly RelayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly long _heartbeatTicks;
    private long _nextHeartbeat;
    private int _missedHeartbeats;

    public SigverPeer(string key, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
        : base(socket, sessions, metrics, options.Sigver.MaxQueuedBytes, options.CloseTimeout)
    {
        Key = key;
        _metrics = metrics;
        _logger = logger;
        _heartbeatTicks = sessions.Ticks(options.Sigver.HeartbeatInterval);
        _nextHeartbeat = sessions.Now + _heartbeatTicks;
    }

    public string Key { get; }

    /// <summary>Called when the relay closes this peer, to take it out of its group at once. Set by the handler.</summary>
    public Action<SigverPeer>? OnClosedByRelay { get; set; }

    // Group state, owned by the groups and guarded by Entry's lock.

    /// <summary>The peers of this peer's key, set when it joins.</summary>
    public SigverKeyEntry? Entry { get; set; }

    /// <summary>True once the peer is out of its group (closed, or closed by the relay): nothing more is routed to or from it.</summary>
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

    /// <summary>A heartbeat from the peer: the count of silent ticks starts again.</summary>
    public void HeartbeatReceived() => Volatile.Write(ref _missedHeartbeats, 0);

    /// <summary>Queues a frame (taking ownership of it); a peer over its backlog is closed with 4429 and the frame dropped.</summary>
    public void Send(OutboundMessage frame)
    {
        var result = TryEnqueue(frame);
        if (result == EnqueueResult.Queued)
        {
            return;
        }

        frame.Release();
        if (result == EnqueueResult.OverLimit)
        {
            // Only the close is requested here (the sender may hold the group's lock); the peer leaves its group when its socket ends.
            RequestCloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many frames waiting; read faster");
        }
    }

    /// <summary>Closes the peer because of a rule or a limit: counted, logged, taken out of its group, and the close code sent.</summary>
    public void CloseBySigver(int code, RejectionReason? reason, string description)
    {
        if (RequestCloseByRelay(code, reason, description))
        {
            OnClosedByRelay?.Invoke(this);
        }
    }

    /// <summary>As <see cref="CloseBySigver"/>, for a caller that holds the group's lock and takes the peer out itself.</summary>
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

    protected override void LogSendFailed(Exception exception) => Log.SendFailed(_logger, Key, exception);

    protected override void LogClosedByRelay(int code, RejectionReason reason) => Log.ClosedByRelay(_logger, Key, code, reason.ToTag());

    /// <summary>
    /// The relay's clock: a heartbeat every interval; at the third tick in a row without one from the peer, 4002
    /// (as the original: its third silent tick closes instead of sending).
    /// </summary>
    public void OnTick(long now)
    {
        if (CloseTimedOut(now))
        {
            // The peer did not answer our close frame in time.
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
            CloseBySigver(RelayCloseCodes.SigverHeartbeatTimeout, RejectionReason.HeartbeatTimeout, "Too many missed heartbeats");
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
