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
/// Fixed-size pinned blocks (sockets read into them directly), reused through a free list that keeps at
/// most <see cref="MaxRetainedBlocks"/>; blocks returned beyond that are left to the GC, so a burst does
/// not pin its peak memory forever. The list is last in, first out: the block just returned, still in the
/// CPU's cache, is the next one given out, rather than every retained block in turn.
/// </summary>
internal sealed class LargeBlockMemoryPool(int blockSize = LargeBlockMemoryPool.DefaultBlockSize, int maxRetainedBlocks = LargeBlockMemoryPool.DefaultMaxRetainedBlocks)
    : MemoryPool<byte>
{
    public const int DefaultBlockSize = 128 * 1024;

    /// <summary>64 MiB of 128 KiB blocks.</summary>
    public const int DefaultMaxRetainedBlocks = 512;

    private readonly Lock _lock = new();
    private readonly Stack<Block> _free = new();
    private int _retained;
    private volatile bool _disposed;

    public override int MaxBufferSize => blockSize;

    public int MaxRetainedBlocks => maxRetainedBlocks;

    /// <summary>Blocks waiting in the free list.</summary>
    public int RetainedBlocks => Volatile.Read(ref _retained);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, blockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Block? block;
        lock (_lock)
        {
            if (_free.TryPop(out block))
            {
                _retained--;
            }
        }

        if (block is not null)
        {
            block.Rented();
            return block;
        }

        return new Block(this, GC.AllocateUninitializedArray<byte>(blockSize, pinned: true));
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            if (!_disposed && _retained < maxRetainedBlocks)
            {
                _free.Push(block);
                _retained++;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            _disposed = true;
            _free.Clear();
            _retained = 0;
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
