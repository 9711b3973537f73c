using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Rooms;

/// <summary>
/// One rooms socket, raw or SockJS. Packets for it come from other sockets' receive loops, so they are
/// queued, already framed for this socket, and sent by the single pump of <see cref="QueuedSocket{T}"/>,
/// capped at <see cref="RelayRoomsOptions.MaxQueuedBytes"/>. When the relay closes a SockJS socket, the
/// pump sends <c>c[code,"reason"]</c> before the WebSocket close.
/// </summary>
internal sealed partial class RoomSession : QueuedSocket<byte[]>, IRelaySession
{
    private readonly ILogger _logger;
    private readonly long _heartbeatTicks;
    private long _heartbeatDeadline;

    public RoomSession(string connectionId, WebSocket socket, bool sockJs, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
        : base(socket, sessions, metrics, options.Rooms.MaxQueuedBytes, options.CloseTimeout)
    {
        ConnectionId = connectionId;
        SockJs = sockJs;
        _logger = logger;
        _heartbeatTicks = sockJs ? sessions.Ticks(options.Rooms.HeartbeatInterval) : long.MaxValue;
        _heartbeatDeadline = _heartbeatTicks == long.MaxValue ? long.MaxValue : sessions.Now + _heartbeatTicks;
    }

    /// <summary>The HTTP connection's id, for logs: a socket has no user id until it connects to a room.</summary>
    public string ConnectionId { get; }

    /// <summary>True for the SockJS WebSocket transport (framed), false for the raw WebSocket.</summary>
    public bool SockJs { get; }

    /// <summary>The room this socket is in, and as whom. Guarded by the <see cref="RoomRegistry"/> lock.</summary>
    public string? RoomId { get; set; }

    /// <inheritdoc cref="RoomId"/>
    public string? UserId { get; set; }

    /// <summary>
    /// Queues a frame (already in this socket's framing); false if the socket is closing or, being over
    /// its backlog, is closed with 4429 now.
    /// </summary>
    public bool TrySend(byte[] frame)
    {
        switch (TryEnqueue(frame))
        {
            case EnqueueResult.Queued:
                return true;
            case EnqueueResult.OverLimit:
                CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many packets waiting; read faster");
                return false;
            default:
                return false;
        }
    }

    protected override int SizeOf(byte[] item) => item.Length;

    protected override ValueTask SendAsync(byte[] item) =>
        Socket.SendAsync(item.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    protected override ValueTask SendBeforeCloseAsync(WebSocketCloseStatus status, string? reason) =>
        SockJs ? SendAsync(PacketWriter.SockJsClose((int)status, reason ?? "")) : ValueTask.CompletedTask;

    protected override void LogSendFailed(Exception exception) => Log.SendFailed(_logger, ConnectionId, exception);

    protected override void LogClosedByRelay(int code, RejectionReason reason) => Log.ClosedByRelay(_logger, ConnectionId, code, reason);

    public void OnTick(long now)
    {
        if (CloseTimedOut(now))
        {
            // The client did not answer our close in time.
            Socket.Abort();
        }
        else if (now >= Volatile.Read(ref _heartbeatDeadline))
        {
            Volatile.Write(ref _heartbeatDeadline, now + _heartbeatTicks);
            TrySend(PacketWriter.SockJsHeartbeat);
        }
    }

    public void CloseForShutdown() => RequestClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");

    public void Abort() => Socket.Abort();

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.RoomSendFailed, LogLevel.Debug, "Sending to rooms socket {ConnectionId} failed.")]
        public static partial void SendFailed(ILogger logger, string connectionId, Exception exception);

        // Debug: every such close is counted in relay.rejected_connections.
        [LoggerMessage(RelayEventIds.RoomSocketClosedByRelay, LogLevel.Debug, "Closing rooms socket {ConnectionId} with {CloseCode}: {Reason}.")]
        public static partial void ClosedByRelay(ILogger logger, string connectionId, int closeCode, RejectionReason reason);
    }
}
