using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using Relay.Lifetime;

namespace Relay.Connection;

/// <summary>
/// One socket of a pairing: how it is read (into a pooled buffer it holds only while data is there),
/// and the gate every send to it passes through. Data reaches it only from its partner's pump; the
/// relay's own close frames take the same gate, so sends never overlap. Its <see cref="Pairing"/>
/// decides what is read and sent, and when.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The send gate's SemaphoreSlim owns no unmanaged resource unless AvailableWaitHandle is used, which it never is; a close still in flight may touch it after the handler ends.")]
internal sealed class ConnectionHalf(WebSocket socket, BatchedOutputStream? output, PairingServices services)
{
    private readonly TaskCompletionSource _closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendGate = new(1, 1);

    // Touched only by the one receive in flight, and by Release once none is.
    private byte[]? _buffer;
    private long _closeDeadline = long.MaxValue;
    private long _sendStartedAt;
    private int _closing;

    public WebSocket Socket { get; } = socket;

    /// <summary>Completes once a close frame has been sent on this socket (or the socket is gone).</summary>
    public Task CloseSent => _closeSent.Task;

    /// <summary>
    /// Receives the next fragment: its bytes are in <see cref="Received"/> until the next receive. It first
    /// waits for data with a zero-byte read, and gives the buffer back if it has to wait, so an idle socket
    /// holds none; on a busy pipe the data is already there and the buffer is kept. The zero-byte read
    /// returns a frame's header: an empty final frame is returned as it is (it ends a message); any other
    /// header is followed by the read of its data (an empty non-final frame carries none, and is passed
    /// over for the next frame).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync()
    {
        var header = Socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
        if (!header.IsCompleted)
        {
            ReturnBuffer();
        }

        var result = await header.ConfigureAwait(false);
        if (result.MessageType == WebSocketMessageType.Close || result.EndOfMessage)
        {
            return result;
        }

        _buffer ??= services.Buffers.Rent();
        return await Socket.ReceiveAsync(_buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The payload of the last receive, which returned <paramref name="count"/> bytes.</summary>
    public ReadOnlyMemory<byte> Received(int count) => count == 0 ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, count);

    /// <summary>
    /// Relays one frame to this socket; false if it is closing or the send failed. Beneath a batched
    /// output the frame is kept for <see cref="FlushAsync"/> (or the next write that must go out), so the
    /// frames of one read leave together.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, bool endOfMessage)
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _closing) != 0)
            {
                return false;
            }

            Volatile.Write(ref _sendStartedAt, services.Sessions.Now);
            if (output is null)
            {
                services.Metrics.ConnectionWrite();
                await Socket.SendAsync(payload, type, endOfMessage, CancellationToken.None).ConfigureAwait(false);
                return true;
            }

            output.Deferring = true;
            try
            {
                await Socket.SendAsync(payload, type, endOfMessage, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                output.Deferring = false;
            }

            return true;
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            MarkClosed();
            return false;
        }
        finally
        {
            Volatile.Write(ref _sendStartedAt, 0);
            _sendGate.Release();
        }
    }

    /// <summary>Writes the frames relayed since the last flush; the pump calls it before it waits for more.</summary>
    public ValueTask FlushAsync() => output is { PendingBytes: > 0 } ? FlushPendingAsync(output) : ValueTask.CompletedTask;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushPendingAsync(BatchedOutputStream pending)
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _sendStartedAt, services.Sessions.Now);
            await pending.WritePendingAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            MarkClosed();
        }
        finally
        {
            Volatile.Write(ref _sendStartedAt, 0);
            _sendGate.Release();
        }
    }

    /// <summary>
    /// Sends a close frame to this socket unless one was already sent, and starts the close timeout: a
    /// peer that does not answer in time is aborted (see <see cref="CloseTimedOut"/>). Never throws.
    /// </summary>
    public async Task SendCloseAsync(WebSocketCloseStatus status, string? reason)
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Interlocked.Exchange(ref _closing, 1) != 0)
            {
                return;
            }

            Volatile.Write(ref _closeDeadline, services.Sessions.DeadlineAfter(services.CloseTimeout));
            await RelaySocket.SendCloseAsync(Socket, status, reason).ConfigureAwait(false);
        }
        finally
        {
            _closeSent.TrySetResult();
            _sendGate.Release();
        }
    }

    /// <summary>True once the peer has had the close timeout to answer the relay's close frame.</summary>
    public bool CloseTimedOut(long now) => now >= Volatile.Read(ref _closeDeadline);

    /// <summary>True when a send to this peer has been stuck for the stall timeout: it stopped reading.</summary>
    public bool IsStalled(long now)
    {
        var sendStartedAt = Volatile.Read(ref _sendStartedAt);
        return sendStartedAt != 0 && now - sendStartedAt >= services.StallTicks;
    }

    /// <summary>This socket failed while receiving: nothing more is sent to it.</summary>
    public void Failed()
    {
        RelaySocket.AbortAfterReceiveFailure(Socket);
        MarkClosed();
    }

    public void Abort()
    {
        Socket.Abort();
        MarkClosed();
    }

    /// <summary>The half's handler is done with it: no receive is in flight, so the buffer goes back, and no deadline applies any more.</summary>
    public void Release()
    {
        Volatile.Write(ref _closeDeadline, long.MaxValue);
        ReturnBuffer();
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            services.Buffers.Return(buffer);
        }
    }

    private void MarkClosed()
    {
        Volatile.Write(ref _closing, 1);
        _closeSent.TrySetResult();
    }
}
