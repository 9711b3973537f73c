using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Rooms;

/// <summary>
/// One rooms socket, raw or SockJS. Packets for it come from other sockets' receive loops, so they are
/// queued (bounded in bytes) and sent by a single pump, which also sends the close (and, for SockJS,
/// the <c>c[code,"reason"]</c> frame before it): only the pump ever sends on the socket. The pump runs
/// only while there is something to send.
/// </summary>
internal sealed partial class RoomSession : IRelaySession
{
    private readonly Lock _gate = new();
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _maxQueuedBytes;
    private readonly TimeSpan _closeTimeout;
    private readonly long _heartbeatTicks;
    private long _heartbeatDeadline;
    private long _closeDeadline = long.MaxValue;

    // Guarded by _gate.
    private readonly Queue<byte[]> _queue = new(2);
    private int _queuedBytes;
    private bool _pumping;
    private bool _closeRequested;
    private int _closeCode;
    private string? _closeReason;
    private bool _closeByRelay;
    private TaskCompletionSource? _closeSent;

    public RoomSession(string connectionId, WebSocket socket, bool sockJs, RelaySessions sessions, RelayOptions options, RelayMetrics metrics, ILogger logger)
    {
        ConnectionId = connectionId;
        Socket = socket;
        SockJs = sockJs;
        _sessions = sessions;
        _metrics = metrics;
        _logger = logger;
        _maxQueuedBytes = options.Rooms.MaxQueuedBytes;
        _closeTimeout = options.CloseTimeout;
        _heartbeatTicks = sockJs ? sessions.Ticks(options.Rooms.HeartbeatInterval) : long.MaxValue;
        _heartbeatDeadline = _heartbeatTicks == long.MaxValue ? long.MaxValue : sessions.Now + _heartbeatTicks;
    }

    /// <summary>The HTTP connection's id, for logs: a socket has no user id until it connects to a room.</summary>
    public string ConnectionId { get; }

    public WebSocket Socket { get; }

    /// <summary>True for the SockJS WebSocket transport (framed), false for the raw WebSocket.</summary>
    public bool SockJs { get; }

    /// <summary>The room this socket is in, and as whom. Guarded by the <see cref="RoomRegistry"/> lock.</summary>
    public string? RoomId { get; set; }

    /// <inheritdoc cref="RoomId"/>
    public string? UserId { get; set; }

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

    /// <summary>
    /// Queues a frame (already in this socket's framing); false if the socket is closing or, being over
    /// its backlog, is closed with 4429 now. One frame always fits, so a socket that reads is never
    /// closed for the size of a single packet.
    /// </summary>
    public bool TrySend(byte[] frame)
    {
        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                return false;
            }

            var overLimit = _queuedBytes > 0 && _queuedBytes + frame.Length > _maxQueuedBytes;
            if (!overLimit)
            {
                _queue.Enqueue(frame);
                _queuedBytes += frame.Length;
                startPump = !_pumping;
                _pumping = true;
            }
            else
            {
                startPump = false;
                frame = [];
            }
        }

        if (frame.Length == 0)
        {
            CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.QueueFull, "Too many packets waiting; read faster");
            return false;
        }

        if (startPump)
        {
            // Off the caller's thread: a fan-out must not wait on one recipient's socket.
            ThreadPool.UnsafeQueueUserWorkItem(static session => _ = session.PumpAsync(), this, preferLocal: false);
        }

        return true;
    }

    /// <summary>
    /// Starts the close with <paramref name="code"/>: what is queued is dropped and the pump sends the
    /// close. When the relay starts it (<paramref name="byRelay"/>), a SockJS socket gets
    /// <c>c[code,"reason"]</c> first; answering the client's own close it gets none. False if a close was
    /// already requested.
    /// </summary>
    public bool RequestClose(int code, string? reason, bool byRelay = true)
    {
        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                return false;
            }

            _closeRequested = true;
            _closeCode = code;
            _closeReason = reason;
            _closeByRelay = byRelay;
            _closeSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            startPump = !_pumping;
            _pumping = true;
        }

        Volatile.Write(ref _closeDeadline, _sessions.DeadlineAfter(_closeTimeout));
        if (startPump)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static session => _ = session.PumpAsync(), this, preferLocal: false);
        }

        return true;
    }

    /// <summary>Completes once the close has been sent (or could not be). Call after <see cref="RequestClose"/>.</summary>
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

    /// <summary>Closes the socket because of a limit or bad input: counted, logged at Debug, and the close code sent.</summary>
    public void CloseByRelay(int code, RejectionReason reason, string description)
    {
        if (RequestClose(code, description))
        {
            _metrics.Rejected(reason);
            Log.ClosedByRelay(_logger, ConnectionId, code, reason);
        }
    }

    /// <summary>Sends queued frames, then the close once requested. Detached, so it never faults: a failed send aborts the socket.</summary>
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
            Log.SendFailed(_logger, ConnectionId, ex);
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
        byte[] frame;
        lock (_gate)
        {
            if (_closeRequested)
            {
                DropQueued();
                frame = [];
            }
            else if (_queue.TryDequeue(out var next))
            {
                frame = next;
            }
            else
            {
                _pumping = false;
                return false;
            }
        }

        if (frame.Length == 0)
        {
            // The pump stays marked as running after the close, so no other one starts.
            await SendCloseAsync().ConfigureAwait(false);
            return false;
        }

        try
        {
            await Socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _queuedBytes -= frame.Length;
            }
        }

        return true;
    }

    private async Task SendCloseAsync()
    {
        try
        {
            var status = (WebSocketCloseStatus)_closeCode;
            if (SockJs && _closeByRelay && Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                try
                {
                    await Socket.SendAsync(PacketWriter.SockJsClose(_closeCode, _closeReason ?? ""), WebSocketMessageType.Text, true, CancellationToken.None)
                        .ConfigureAwait(false);
                }
                catch (Exception ex) when (RelaySocket.IsFailure(ex))
                {
                    Socket.Abort();
                }
            }

            await RelaySocket.SendCloseAsync(Socket, _closeCode == 0 ? WebSocketCloseStatus.Empty : status, _closeReason).ConfigureAwait(false);
        }
        finally
        {
            _closeSent!.TrySetResult();
        }
    }

    private void DropQueued()
    {
        _queue.Clear();
        _queuedBytes = 0;
    }

    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
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

    public void CloseForShutdown() => RequestClose(RelayCloseCodes.GoingAway, "Server shutting down");

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
