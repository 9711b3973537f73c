using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Introduction;

/// <summary>
/// One peer's introduction socket. Introductions for it come from other peers' Joins on other threads,
/// so they are queued and sent by the single pump of <see cref="QueuedSocket{T}"/>, capped at
/// <see cref="RelayIntroductionOptions.MaxQueuedBytes"/>.
/// </summary>
internal sealed partial class PeerSession : QueuedMessageSocket, IRelaySession
{
    private readonly RelaySessions _sessions;
    private readonly ILogger _logger;
    private readonly TimeSpan _idleTimeout;
    private long _idleDeadline;

    public PeerSession(string peerId, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
        : base(socket, sessions, metrics, options.Introduction.MaxQueuedBytes, options.CloseTimeout)
    {
        PeerId = peerId;
        _sessions = sessions;
        _logger = logger;
        _idleTimeout = options.Introduction.IdleTimeout;
        _idleDeadline = sessions.DeadlineAfter(_idleTimeout);
    }

    public string PeerId { get; }

    /// <summary>Its request's place in line (<see cref="RelaySessions.NextArrival"/>): of two sessions for one peer id, the later one stays.</summary>
    public long Arrival { get; init; }

    /// <summary>Documents this peer has joined. Guarded by the <see cref="PeerRegistry"/> lock.</summary>
    public HashSet<string>? Documents { get; set; }

    /// <summary>The dialect of the peer's last well-formed message; its introductions are sent in it.</summary>
    public IntroductionDialect Dialect { get; set; }

    /// <summary>Encodes an introduction in this peer's dialect and queues it; false if the peer is closing or over its backlog.</summary>
    public bool TryIntroduce(string otherPeerId, List<string> documentIds)
    {
        var dialect = Dialect;
        var message = dialect == IntroductionDialect.MessagePack
            ? MessagePackIntroductionCodec.WriteIntroduction(otherPeerId, documentIds)
            : JsonIntroductionCodec.WriteIntroduction(otherPeerId, documentIds, dialect);

        var result = TryEnqueue(message);
        if (result == EnqueueResult.Queued)
        {
            return true;
        }

        message.Release();
        if (result == EnqueueResult.OverLimit)
        {
            CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many introductions waiting; read faster");
        }

        return false;
    }

    /// <summary>Any message from the peer restarts its idle clock.</summary>
    public void Touch() => Volatile.Write(ref _idleDeadline, _sessions.DeadlineAfter(_idleTimeout));

    protected override void LogSendFailed(Exception exception) => Log.SendFailed(_logger, PeerId, exception);

    protected override void LogClosedByRelay(int code, RejectionReason reason) => Log.ClosedByRelay(_logger, PeerId, code, reason);

    public void OnTick(long now)
    {
        if (CloseTimedOut(now))
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
