using System.Net.WebSockets;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Lifetime;

/// <summary>What became of an item offered to a <see cref="QueuedSocket{T}"/>.</summary>
internal enum EnqueueResult
{
    Queued,

    /// <summary>The socket is closing; the item was not taken.</summary>
    Closing,

    /// <summary>The backlog is over its cap; the item was not taken, and the caller closes the socket.</summary>
    OverLimit,
}

/// <summary>
/// A relay socket that other threads send to (an introduction peer, a rooms socket, a targeted-signaling
/// session). What they send is queued, bounded in bytes, and sent by a single pump, which also sends the
/// close frame: only the pump ever sends on the socket. The queue and the pump exist only while there is
/// something to send, so an idle socket costs no buffers and no suspended task.
/// </summary>
internal abstract class QueuedSocket<T>
{
    private readonly Lock _gate = new();
    private readonly RelaySessions _sessions;
    private readonly RelayMetrics _metrics;
    private readonly int _maxQueuedBytes;
    private readonly TimeSpan _closeTimeout;
    private long _closeDeadline = long.MaxValue;

    // Guarded by _gate.
    private Queue<T>? _queue;
    private int _queuedBytes;
    private bool _pumping;
    private bool _closeRequested;
    private bool _closeByRelay;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeReason;
    private TaskCompletionSource? _closeSent;

    protected QueuedSocket(WebSocket socket, RelaySessions sessions, RelayMetrics metrics, int maxQueuedBytes, TimeSpan closeTimeout)
    {
        Socket = socket;
        _sessions = sessions;
        _metrics = metrics;
        _maxQueuedBytes = maxQueuedBytes;
        _closeTimeout = closeTimeout;
    }

    public WebSocket Socket { get; }

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

    /// <summary>The bytes an item holds, counted against the backlog cap.</summary>
    protected abstract int SizeOf(T item);

    /// <summary>Sends one item on <see cref="Socket"/>.</summary>
    protected abstract ValueTask SendAsync(T item);

    /// <summary>Gives back what an item holds, once sent or dropped.</summary>
    protected virtual void Release(T item)
    {
    }

    /// <summary>Sent just before the close frame when the relay starts the close (a SockJS close frame, for one).</summary>
    protected virtual ValueTask SendBeforeCloseAsync(WebSocketCloseStatus status, string? reason) => ValueTask.CompletedTask;

    protected abstract void LogSendFailed(Exception exception);

    protected abstract void LogClosedByRelay(int code, RejectionReason reason);

    /// <summary>
    /// Queues an item and starts the pump if it is idle. The cap is on the backlog: one item always fits,
    /// however large, so a socket that reads is never closed for the size of a single item. Unless
    /// <see cref="EnqueueResult.Queued"/>, the caller still owns the item.
    /// </summary>
    protected EnqueueResult TryEnqueue(T item)
    {
        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                return EnqueueResult.Closing;
            }

            var size = SizeOf(item);
            if (_queuedBytes > 0 && _queuedBytes + size > _maxQueuedBytes)
            {
                return EnqueueResult.OverLimit;
            }

            (_queue ??= new Queue<T>(4)).Enqueue(item);
            _queuedBytes += size;
            startPump = !_pumping;
            _pumping = true;
        }

        if (startPump)
        {
            _ = PumpAsync();
        }

        return EnqueueResult.Queued;
    }

    /// <summary>
    /// Starts the close handshake with <paramref name="status"/>: what is queued is dropped and the pump
    /// sends the close frame. <paramref name="byRelay"/> is false when answering the peer's own close.
    /// False if a close was already requested.
    /// </summary>
    public bool RequestClose(WebSocketCloseStatus status, string? reason, bool byRelay = true)
    {
        var noCause = false;
        return RequestClose(status, reason, byRelay, ref noCause, true);
    }

    /// <summary>
    /// <see cref="RequestClose(WebSocketCloseStatus, string?, bool)"/> that also records why, for a subclass
    /// that reports its closes by cause: if this call starts the close, <paramref name="cause"/> is set to
    /// <paramref name="value"/> under the queue's lock, before the close frame can be sent, so whoever awaits
    /// <see cref="CloseSent"/> reads the cause of the close that won.
    /// </summary>
    protected bool RequestClose<TCause>(WebSocketCloseStatus status, string? reason, bool byRelay, ref TCause cause, TCause value)
    {
        bool startPump;
        lock (_gate)
        {
            if (_closeRequested)
            {
                return false;
            }

            cause = value;
            _closeRequested = true;
            _closeByRelay = byRelay;
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

    /// <summary>Closes the socket because a limit was reached or input was refused: counted, logged, and the close code sent.</summary>
    public void CloseByRelay(int code, RejectionReason reason, string description)
    {
        var noCause = false;
        CloseByRelay(code, reason, description, ref noCause, true);
    }

    /// <summary><see cref="CloseByRelay(int, RejectionReason, string)"/> that also records why, as <see cref="RequestClose{TCause}"/> does.</summary>
    protected void CloseByRelay<TCause>(int code, RejectionReason reason, string description, ref TCause cause, TCause value)
    {
        if (RequestClose((WebSocketCloseStatus)code, description, byRelay: true, ref cause, value))
        {
            _metrics.Rejected(reason);
            LogClosedByRelay(code, reason);
        }
    }

    /// <summary>True once the peer has had its close timeout to answer the relay's close frame.</summary>
    protected bool CloseTimedOut(long now) => now >= Volatile.Read(ref _closeDeadline);

    /// <summary>
    /// Sends queued items, then the close frame once one is requested, and stops when there is nothing
    /// left. Runs detached, so it must never fault: a failed send aborts the socket, which ends the
    /// receive loop and with it the session.
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
            LogSendFailed(ex);
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

    /// <summary>Sends one queued item; false when the pump should stop (queue empty, or the close frame sent).</summary>
    private async Task<bool> SendNextAsync()
    {
        T? item = default;
        bool closing;
        lock (_gate)
        {
            closing = _closeRequested;
            if (closing)
            {
                DropQueued();
            }
            else if (_queue is { Count: > 0 })
            {
                item = _queue.Dequeue();
            }
            else
            {
                _pumping = false;
                return false;
            }
        }

        if (closing)
        {
            // The pump stays marked as running after the close frame, so no other one starts.
            await SendCloseAsync().ConfigureAwait(false);
            return false;
        }

        try
        {
            await SendAsync(item!).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _queuedBytes -= SizeOf(item!);
            }

            Release(item!);
        }

        return true;
    }

    private async Task SendCloseAsync()
    {
        try
        {
            if (_closeByRelay && Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                try
                {
                    await SendBeforeCloseAsync(_closeStatus, _closeReason).ConfigureAwait(false);
                }
                catch (Exception ex) when (RelaySocket.IsFailure(ex))
                {
                    Socket.Abort();
                }
            }

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
            var item = _queue.Dequeue();
            _queuedBytes -= SizeOf(item);
            Release(item);
        }
    }
}

/// <summary>A <see cref="QueuedSocket{T}"/> whose items are whole messages in pooled buffers, given back once sent or dropped.</summary>
internal abstract class QueuedMessageSocket(WebSocket socket, RelaySessions sessions, RelayMetrics metrics, int maxQueuedBytes, TimeSpan closeTimeout)
    : QueuedSocket<OutboundMessage>(socket, sessions, metrics, maxQueuedBytes, closeTimeout)
{
    protected sealed override int SizeOf(OutboundMessage item) => item.Length;

    protected sealed override ValueTask SendAsync(OutboundMessage item) =>
        Socket.SendAsync(item.Payload, item.Type, endOfMessage: true, CancellationToken.None);

    protected sealed override void Release(OutboundMessage item) => item.Release();
}
