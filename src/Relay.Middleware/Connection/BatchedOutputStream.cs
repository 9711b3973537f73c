using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// The upgraded connection stream of a pipe half, beneath its <see cref="WebSocket"/>. While the partner's
/// pump relays a frame (<see cref="Deferring"/>), the frame's bytes are kept in a pooled buffer instead of
/// being written, so the frames one read brings are sent with one write (one flush, one <c>send</c> call)
/// when the pump has nothing more at hand (<see cref="WritePendingAsync"/>), not one per message. Every other
/// write (the WebSocket's pongs, keep-alive pings, close frames) goes out at once, after what is pending, in
/// order. Nothing is held while idle: the buffer is rented for a batch and returned when it is written.
/// </summary>
/// <remarks>
/// The WebSocket serialises its own writes; the pump's <see cref="WritePendingAsync"/> can meet one of them
/// (a pong), so every write takes <see cref="_writeLock"/>. When the WebSocket is aborted it disposes this
/// stream, which aborts the connection (the server's stream alone would not), as ASP.NET Core's accept does.
/// </remarks>
internal sealed class BatchedOutputStream(Stream inner, HttpContext context, int batchBytes, RelayMetrics metrics) : Stream
{
    /// <summary>
    /// What the pipe's halves keep for one write: small frames gain a write each from it, a larger frame
    /// gains nothing and goes out at once (saving its copy), and a half whose peer stops reading holds no more.
    /// </summary>
    public const int BatchBytes = 32 * 1024;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private byte[]? _pending;
    private int _pendingLength;
    private int _deferring;
    private int _disposed;

    /// <summary>The WebSocket over this stream, to tell an abort from a graceful end when it disposes the stream.</summary>
    public WebSocket? Socket { get; set; }

    /// <summary>True while the pump relays a frame: its bytes are kept for the next <see cref="WritePendingAsync"/>.</summary>
    public bool Deferring
    {
        set => Volatile.Write(ref _deferring, value ? 1 : 0);
    }

    /// <summary>Bytes kept and not yet written.</summary>
    public int PendingBytes => Volatile.Read(ref _pendingLength);

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            var deferring = Volatile.Read(ref _deferring) != 0;
            if (buffer.Length <= batchBytes - _pendingLength && (deferring || _pendingLength > 0))
            {
                // Kept for the batch, or joined to what is kept so both go in one write now.
                Keep(buffer.Span);
                if (!deferring)
                {
                    await WritePendingLockedAsync(cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            await WritePendingLockedAsync(cancellationToken).ConfigureAwait(false);
            metrics.ConnectionWrite();
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    /// <summary>Writes what is kept, in one write; nothing to do if nothing is.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WritePendingAsync()
    {
        if (PendingBytes == 0)
        {
            return;
        }

        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            await WritePendingLockedAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _deferring) != 0)
        {
            return;
        }

        await WritePendingAsync().ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (Socket?.State == WebSocketState.Aborted)
            {
                context.Abort();
            }

            // A write still in flight owns the buffer (and gives it back); otherwise it goes back now. Any
            // write after this finds the stream disposed.
            Volatile.Write(ref _disposed, 1);
            if (_writeLock.Wait(0))
            {
                ReturnPending();
                _writeLock.Release();
            }

            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Keep(ReadOnlySpan<byte> bytes)
    {
        _pending ??= ArrayPool<byte>.Shared.Rent(batchBytes);
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        Volatile.Write(ref _pendingLength, _pendingLength + bytes.Length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WritePendingLockedAsync(CancellationToken cancellationToken)
    {
        if (_pending is not { } pending || _pendingLength == 0)
        {
            return;
        }

        try
        {
            metrics.ConnectionWrite();
            await inner.WriteAsync(pending.AsMemory(0, _pendingLength), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReturnPending();
        }
    }

    private void ReturnPending()
    {
        if (_pending is { } pending)
        {
            _pending = null;
            Volatile.Write(ref _pendingLength, 0);
            ArrayPool<byte>.Shared.Return(pending);
        }
    }
}
