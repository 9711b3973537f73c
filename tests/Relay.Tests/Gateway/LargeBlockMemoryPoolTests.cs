using Microsoft.AspNetCore.Connections;
using Relay.Gateway.Hosting;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

public sealed class LargeBlockMemoryPoolTests
{
    [Fact]
    public void Rent_GivesAPinnedBlockOfTheBlockSize_BackedByAnArray()
    {
        using var pool = new LargeBlockMemoryPool();
        using var owner = pool.Rent();

        Assert.Equal(128 * 1024, owner.Memory.Length);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(owner.Memory, out var segment));
        using var handle = owner.Memory.Pin();
        unsafe
        {
            fixed (byte* address = segment.Array)
            {
                Assert.True(handle.Pointer == address);
            }
        }
    }

    [Fact]
    public void ReturnedBlock_IsReused_AndReturningTwiceReturnsOnce()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent();
        var memory = first.Memory;
        first.Dispose();
        first.Dispose();

        Assert.Equal(1, pool.RetainedBlocks);
        using var second = pool.Rent();
        using var third = pool.Rent();
        Assert.True(second.Memory.Span == memory.Span);
        Assert.False(third.Memory.Span == memory.Span);
        Assert.Equal(0, pool.RetainedBlocks);
    }

    [Fact]
    public void FreeList_GivesTheBlockReturnedLastFirst()
    {
        using var pool = new LargeBlockMemoryPool(blockSize: 1024);
        var first = pool.Rent();
        var second = pool.Rent();
        var secondMemory = second.Memory;
        first.Dispose();
        second.Dispose();

        using var next = pool.Rent();

        Assert.True(next.Memory.Span == secondMemory.Span);
    }

    [Fact]
    public void FreeList_KeepsNoMoreThanItsCap()
    {
        using var pool = new LargeBlockMemoryPool(blockSize: 1024, maxRetainedBlocks: 3);
        var owners = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToList();

        owners.ForEach(owner => owner.Dispose());

        Assert.Equal(3, pool.RetainedBlocks);
    }

    [Fact]
    public void Trim_LetsGoOfHalfTheBlocksNoRentReached_ColdestFirst()
    {
        using var pool = new LargeBlockMemoryPool(blockSize: 1024, trimEvery: false);
        var owners = Enumerable.Range(0, 8).Select(_ => pool.Rent()).ToList();
        var memories = owners.Select(owner => owner.Memory).ToList();
        owners.ForEach(owner => owner.Dispose());
        Assert.Equal(8, pool.RetainedBlocks);

        // All eight were out during this interval: none is surplus yet.
        pool.Trim();
        Assert.Equal(8, pool.RetainedBlocks);

        // A quiet interval: half go, the ones returned first (the bottom of the list).
        pool.Trim();
        Assert.Equal(4, pool.RetainedBlocks);
        using (var hot = pool.Rent())
        {
            Assert.True(hot.Memory.Span == memories[^1].Span);
        }

        // Two rents deep this interval: two blocks stayed untouched, and the trim lets one of them go.
        using (pool.Rent())
        using (pool.Rent())
        {
        }

        pool.Trim();
        Assert.Equal(3, pool.RetainedBlocks);
        pool.Trim();
        pool.Trim();
        pool.Trim();
        Assert.Equal(0, pool.RetainedBlocks);
    }

    [Fact]
    public void Rent_LargerThanABlock_Throws()
    {
        using var pool = new LargeBlockMemoryPool(blockSize: 1024);

        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(1025));
    }

    [Fact]
    public async Task Gateway_GivesKestrelTheLargeBlockPool()
    {
        await using var gateway = await TestGateway.StartAsync();

        Assert.IsType<LargeBlockMemoryPoolFactory>(gateway.GetService<IMemoryPoolFactory<byte>>());
    }
}
