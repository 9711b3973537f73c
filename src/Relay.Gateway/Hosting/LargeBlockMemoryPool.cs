using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;

namespace Relay.Gateway.Hosting;

/// <summary>
/// Gives Kestrel 128 KiB buffers instead of its 4 KiB ones. Kestrel reads a socket into one buffer per
/// receive, so relayed streams need a system call per 4 KiB with the default pool, which profiling put
/// at about 30% of the gateway's CPU for 1 KiB messages; with 32 KiB buffers a 64 KiB message still took
/// four (a readiness wait and a receive per buffer), with 128 KiB it takes one or two. Idle connections
/// hold no buffer either way: Kestrel takes one only once data is ready, and gives it back once read.
/// </summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}

/// <summary>
/// Fixed-size pinned blocks (sockets read into them directly), reused through a free list. The list is
/// last in, first out: the block just returned, still in the CPU's cache, is the next one given out. A
/// burst (thousands of sockets writing at once) may need thousands of blocks; they are kept for the next
/// one, up to <see cref="MaxRetainedBlocks"/>, and every <see cref="TrimInterval"/> half of those no rent
/// reached during the interval are let go, coldest first, so a quiet gateway gives its peak back within a
/// minute or so.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int DefaultBlockSize = 128 * 1024;

    /// <summary>256 MiB of 128 KiB blocks at most, as long as they are in use.</summary>
    public const int DefaultMaxRetainedBlocks = 2048;

    public static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly int _blockSize;
    private readonly Block[] _free;
    private readonly ITimer? _trimTimer;
    private int _count;
    private int _lowWater;
    private bool _disposed;

    /// <param name="trimEvery">Trim on this timer; <see langword="false"/> leaves it to <see cref="Trim"/> calls.</param>
    public LargeBlockMemoryPool(int blockSize = DefaultBlockSize, int maxRetainedBlocks = DefaultMaxRetainedBlocks, bool trimEvery = true)
    {
        _blockSize = blockSize;
        _free = new Block[maxRetainedBlocks];
        if (trimEvery)
        {
            // The timer holds the pool only weakly, so a pool nobody disposed can still be collected.
            var pool = new WeakReference<LargeBlockMemoryPool>(this);
            _trimTimer = TimeProvider.System.CreateTimer(
                static state => { if (((WeakReference<LargeBlockMemoryPool>)state!).TryGetTarget(out var p)) { p.Trim(); } },
                pool,
                TrimInterval,
                TrimInterval);
        }
    }

    public override int MaxBufferSize => _blockSize;

    public int MaxRetainedBlocks => _free.Length;

    /// <summary>Blocks waiting in the free list.</summary>
    public int RetainedBlocks
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, _blockSize);
        Block? block = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_count > 0)
            {
                block = _free[--_count];
                _free[_count] = null!;
                _lowWater = Math.Min(_lowWater, _count);
            }
        }

        if (block is not null)
        {
            block.Rented();
            return block;
        }

        return new Block(this, GC.AllocateUninitializedArray<byte>(_blockSize, pinned: true));
    }

    /// <summary>
    /// Lets go of half the blocks that stayed in the free list since the last trim (the coldest, at the
    /// bottom of the list), rounded up; the GC reclaims them.
    /// </summary>
    public void Trim()
    {
        lock (_lock)
        {
            var release = (_lowWater + 1) / 2;
            if (release > 0)
            {
                Array.Copy(_free, release, _free, 0, _count - release);
                Array.Clear(_free, _count - release, release);
                _count -= release;
            }

            _lowWater = _count;
        }
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            if (!_disposed && _count < _free.Length)
            {
                _free[_count++] = block;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        _trimTimer?.Dispose();
        lock (_lock)
        {
            _disposed = true;
            Array.Clear(_free);
            _count = 0;
            _lowWater = 0;
        }
    }

    private sealed class Block(LargeBlockMemoryPool pool, byte[] array) : MemoryManager<byte>
    {
        private int _returned;

        public void Rented() => Volatile.Write(ref _returned, 0);

        public override Span<byte> GetSpan() => array;

        // The array is on the pinned object heap: it never moves, so pinning is just taking its address.
        public override unsafe MemoryHandle Pin(int elementIndex = 0) => new(Unsafe.AsPointer(ref array[elementIndex]));

        public override void Unpin()
        {
        }

        // Kestrel's socket transport asks for the array behind every buffer.
        protected override bool TryGetArray(out ArraySegment<byte> segment)
        {
            segment = new ArraySegment<byte>(array);
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            // Returned once per rental, however often the owner disposes it.
            if (Interlocked.Exchange(ref _returned, 1) == 0)
            {
                pool.Return(this);
            }
        }
    }
}
