using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Targeted;

/// <summary>
/// One <c>/v1/connect</c> socket. Messages for it come from other sessions' receive loops, so they are queued
/// and sent by the single pump of <see cref="QueuedSocket{T}"/>, capped at
/// <see cref="RelayTargetedOptions.MaxQueuedBytes"/>: a sender never waits for a slow target; a target that
/// falls too far behind is closed with 4429 instead. Every close the relay starts records its
/// <see cref="TargetedCloseReason"/>, for <c>relay.targeted.closes</c>.
/// </summary>
internal sealed partial class TargetedSession : QueuedMessageSocket, IRelaySession
{
    private readonly ILogger _logger;

    // Set by the base's lock, by the close request that wins; read once CloseSent has completed.
    private TargetedCloseReason? _closeReason;

    public TargetedSession(string username, WebSocket socket, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
        : base(socket, sessions, metrics, options.Targeted.MaxQueuedBytes, options.CloseTimeout)
    {
        Username = username;
        _logger = logger;
    }

    public string Username { get; }

    /// <summary>Why the relay closed this session, or null if it did not (the client closed or the socket dropped). Read after <see cref="QueuedSocket{T}.CloseSent"/>.</summary>
    public TargetedCloseReason? CloseReason => _closeReason;

    /// <summary>
    /// Queues a message (the session takes ownership of it); false if the session is closing or its backlog is
    /// full, in which case the session is closed with 4429. Either way a message not queued is released.
    /// </summary>
    public bool TrySend(OutboundMessage message)
    {
        var result = TryEnqueue(message);
        if (result == EnqueueResult.Queued)
        {
            return true;
        }

        message.Release();
        if (result == EnqueueResult.OverLimit)
        {
            CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, TargetedCloseReason.QueueFull, "Too many messages waiting; read faster");
        }

        return false;
    }

    /// <summary>Closes the session because a limit was reached or input was refused: counted among rejections and in <c>relay.targeted.closes</c>, logged at Debug.</summary>
    public void CloseByRelay(int code, RejectionReason rejection, TargetedCloseReason reason, string description) =>
        CloseByRelay(code, rejection, description, ref _closeReason, reason);

    /// <summary>Closes the session at an admin's request (no rejection: the client did nothing wrong).</summary>
    public void Kick(string description)
    {
        if (RequestClose((WebSocketCloseStatus)RelayCloseCodes.TargetedSignaling, description, byRelay: true, ref _closeReason, TargetedCloseReason.Kicked))
        {
            Log.ClosedByRelay(_logger, Username, RelayCloseCodes.TargetedSignaling, TargetedCloseReason.Kicked.ToTag());
        }
    }

    protected override void LogSendFailed(Exception exception) => Log.SendFailed(_logger, Username, exception);

    protected override void LogClosedByRelay(int code, RejectionReason reason) => Log.ClosedByRelay(_logger, Username, code, reason.ToTag());

    public void OnTick(long now)
    {
        if (CloseTimedOut(now))
        {
            // The client did not answer our close frame in time.
            Socket.Abort();
        }
    }

    public void CloseForShutdown() =>
        RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down", byRelay: true, ref _closeReason, TargetedCloseReason.ShuttingDown);

    public void Abort() => Socket.Abort();

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.TargetedSendFailed, LogLevel.Debug, "Sending to targeted-signaling user {Username} failed.")]
        public static partial void SendFailed(ILogger logger, string username, Exception exception);

        // Debug: such closes are counted in relay.targeted.closes, and a flood of them must not flood the log.
        [LoggerMessage(RelayEventIds.TargetedClosedByRelay, LogLevel.Debug, "Closing the targeted-signaling session of {Username} with {CloseCode}: {Reason}.")]
        public static partial void ClosedByRelay(ILogger logger, string username, int closeCode, string reason);
    }
}
