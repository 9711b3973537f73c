using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using Relay.Connection;

namespace Relay.Tests.Connection;

public sealed class HeldFramesTests
{
    [Fact]
    public void Frames_AfterMixedAdds_ComeBackVerbatimInOrder()
    {
        using var held = new HeldFrames(maxBytes: 1024, maxFrames: 16);
        (byte[] Payload, WebSocketMessageType Type, bool EndOfMessage)[] sent =
        [
            ("hello"u8.ToArray(), WebSocketMessageType.Text, true),
            ([0x00, 0xff, 0x10], WebSocketMessageType.Binary, false),
            ([], WebSocketMessageType.Binary, false),
            ([0x20], WebSocketMessageType.Binary, true),
            ("{\"a\":"u8.ToArray(), WebSocketMessageType.Text, false),
            ("1}"u8.ToArray(), WebSocketMessageType.Text, true),
        ];

        foreach (var (payload, type, end) in sent)
        {
            Assert.True(held.TryAdd(payload, type, end));
        }

        var frames = held.Frames().ToArray();
        Assert.Equal(sent.Length, frames.Length);
        for (var i = 0; i < sent.Length; i++)
        {
            Assert.Equal(sent[i].Payload, frames[i].Payload.ToArray());
            Assert.Equal(sent[i].Type, frames[i].Type);
            Assert.Equal(sent[i].EndOfMessage, frames[i].EndOfMessage);
        }

        Assert.Equal(sent.Length, held.Count);
        Assert.Equal(sent.Sum(f => f.Payload.Length), held.Bytes);
    }

    [Fact]
    public void TryAdd_UpToExactlyMaxBytes_IsAccepted()
    {
        using var held = new HeldFrames(maxBytes: 10, maxFrames: 100);

        Assert.True(held.TryAdd(new byte[4], WebSocketMessageType.Binary, true));
        Assert.True(held.TryAdd(new byte[6], WebSocketMessageType.Binary, true));

        Assert.Equal(10, held.Bytes);
    }

    [Fact]
    public void TryAdd_OneByteOverMaxBytes_IsRefusedAndKeepsNothingOfIt()
    {
        using var held = new HeldFrames(maxBytes: 10, maxFrames: 100);
        Assert.True(held.TryAdd([1, 2, 3, 4], WebSocketMessageType.Binary, true));

        Assert.False(held.TryAdd(new byte[7], WebSocketMessageType.Binary, true));

        Assert.Equal(1, held.Count);
        Assert.Equal(4, held.Bytes);
        Assert.Equal([1, 2, 3, 4], Assert.Single(held.Frames()).Payload.ToArray());

        // A smaller frame that fits is still welcome after a refusal.
        Assert.True(held.TryAdd(new byte[6], WebSocketMessageType.Binary, true));
    }

    [Fact]
    public void TryAdd_SingleFrameLargerThanMaxBytes_IsRefused()
    {
        using var held = new HeldFrames(maxBytes: 10, maxFrames: 100);

        Assert.False(held.TryAdd(new byte[11], WebSocketMessageType.Binary, true));

        Assert.Equal(0, held.Count);
        Assert.Equal(0, held.Bytes);
    }

    [Fact]
    public void TryAdd_BeyondMaxFrames_IsRefusedEvenWhenEmpty()
    {
        using var held = new HeldFrames(maxBytes: 1024, maxFrames: 3);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(held.TryAdd([], WebSocketMessageType.Binary, false));
        }

        Assert.False(held.TryAdd([], WebSocketMessageType.Binary, true));
        Assert.False(held.TryAdd([1], WebSocketMessageType.Binary, true));

        Assert.Equal(3, held.Count);
    }

    [Fact]
    public void TryAdd_ZeroLimits_HoldNothing()
    {
        using var noBytes = new HeldFrames(maxBytes: 0, maxFrames: 10);
        using var noFrames = new HeldFrames(maxBytes: 1024, maxFrames: 0);

        Assert.False(noBytes.TryAdd([1], WebSocketMessageType.Binary, true));
        Assert.False(noFrames.TryAdd([1], WebSocketMessageType.Binary, true));
        Assert.Equal(0, noBytes.Count + noFrames.Count);
    }

    [Fact]
    public void TryAdd_ManyFramesThroughSeveralGrowths_KeepsEveryByte()
    {
        const int MaxBytes = 100_000;
        using var held = new HeldFrames(MaxBytes, maxFrames: 10_000);
        var random = new Random(5);
        var sent = new List<byte[]>();
        var total = 0;
        while (true)
        {
            var payload = new byte[random.Next(1, 3_000)];
            random.NextBytes(payload);
            if (total + payload.Length > MaxBytes)
            {
                Assert.False(held.TryAdd(payload, WebSocketMessageType.Binary, true));
                break;
            }

            Assert.True(held.TryAdd(payload, WebSocketMessageType.Binary, true));
            sent.Add(payload);
            total += payload.Length;
        }

        Assert.Equal(total, held.Bytes);
        Assert.Equal(sent, held.Frames().Select(f => f.Payload.ToArray()));
    }

    [Fact]
    public void TryAdd_Growing_ReturnsTheOutgrownBufferToThePool()
    {
        using var held = new HeldFrames(maxBytes: 1 << 20, maxFrames: 100);
        Assert.True(held.TryAdd(new byte[700], WebSocketMessageType.Binary, true));
        var outgrown = BackingArray(held);

        Assert.True(held.TryAdd(new byte[outgrown.Length], WebSocketMessageType.Binary, true));
        Assert.NotSame(outgrown, BackingArray(held));

        // The shared pool hands a just-returned array back to the same thread first.
        var rented = ArrayPool<byte>.Shared.Rent(outgrown.Length);
        ArrayPool<byte>.Shared.Return(rented);
        Assert.Same(outgrown, rented);
    }

    [Fact]
    public void Dispose_ReturnsTheBufferToThePoolOnce()
    {
        var held = new HeldFrames(maxBytes: 1 << 20, maxFrames: 100);
        Assert.True(held.TryAdd(new byte[3_000], WebSocketMessageType.Binary, true));
        var buffer = BackingArray(held);

        held.Dispose();
        held.Dispose();

        // Returned once: the first rent gets it back, the second must not get it a second time.
        var first = ArrayPool<byte>.Shared.Rent(buffer.Length);
        var second = ArrayPool<byte>.Shared.Rent(buffer.Length);
        ArrayPool<byte>.Shared.Return(second);
        ArrayPool<byte>.Shared.Return(first);
        Assert.Same(buffer, first);
        Assert.NotSame(buffer, second);
    }

    [Fact]
    public void Dispose_LeavesItEmptyAndReusable()
    {
        var held = new HeldFrames(maxBytes: 10, maxFrames: 2);
        Assert.True(held.TryAdd(new byte[10], WebSocketMessageType.Binary, true));
        Assert.True(held.TryAdd([], WebSocketMessageType.Text, true));

        held.Dispose();

        Assert.Equal(0, held.Count);
        Assert.Equal(0, held.Bytes);
        Assert.Empty(held.Frames());
        Assert.True(held.TryAdd([7], WebSocketMessageType.Text, false));
        Assert.Equal([7], Assert.Single(held.Frames()).Payload.ToArray());
        held.Dispose();
    }

    private static byte[] BackingArray(HeldFrames held)
    {
        Assert.True(MemoryMarshal.TryGetArray(held.Frames().First().Payload, out var segment));
        return segment.Array!;
    }
}
