using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>
/// Managed memory the relay may use, measured in this process (the gateway runs in it): held frames
/// cost what they hold, a stalled reader costs no more than fixed buffers, and a pipe streams a large
/// message through one pooled buffer instead of reassembling it.
/// </summary>
[Collection(NonParallelCollection.Name)]
public sealed class MemoryBoundsTests
{
    private const int MiB = 1024 * 1024;

    private static readonly Dictionary<string, string?> Unlimited = new()
    {
        ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "0",
        ["Relay:Admission:NewSocketsPerSecondPerClient"] = "0",
    };

    [Fact]
    public async Task HeldFrames_OfSixtyFourWaitingHalves_CostNoMoreThanTheyHoldPlusAQuarter()
    {
        // Bound: 64 halves × 1 MiB held, + 25% (pool rounding, buffers retained by the pool) + 16 MiB slack.
        const int Halves = 64;
        await using var gateway = await TestGateway.StartAsync(Unlimited);
        var halves = new List<ClientWebSocket>();
        for (var i = 0; i < Halves; i++)
        {
            halves.Add(await gateway.ConnectAsync($"/connection/waiting-{i}/absent/doc"));
        }

        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().PendingConnections == Halves, "every half waits");
        var frame = new byte[64 * 1024];
        var baseline = GC.GetTotalMemory(forceFullCollection: true);

        await Task.WhenAll(halves.Select(async half =>
        {
            for (var sent = 0; sent < MiB; sent += frame.Length)
            {
                await half.SendBinaryAsync(frame);
            }
        }));
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().HeldBytes == (long)Halves * MiB, "the relay holds 1 MiB for each half");
        var growth = GC.GetTotalMemory(forceFullCollection: true) - baseline;

        Assert.True(growth <= Halves * MiB * 5L / 4 + 16L * MiB, $"holding {Halves} MiB grew managed memory by {growth / MiB} MiB");

        // One byte more than the limit closes each half with 4413, and the held memory goes.
        await Task.WhenAll(halves.Select(half => half.SendBinaryAsync([1])));
        var closes = await Task.WhenAll(halves.Select(half => half.ReceiveCloseAsync()));
        Assert.All(closes, close => Assert.Equal(4413, (int?)close.Status));
        await Task.WhenAll(halves.Select(half => half.CloseQuietlyAsync()));
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() == default, "nothing is held any more");
    }

    [Fact]
    public async Task StalledReader_KeepsManagedMemoryGrowthUnderThirtyTwoMebibytes()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:StallTimeout"] = "00:00:02" });
        using var writer = await gateway.ConnectAsync("/connection/writer/reader/doc");
        using var reader = await gateway.ConnectAsync("/connection/reader/writer/doc");

        // The reader's request joins the pairing just after its handshake; a flood before that would be held (and refused with 4413).
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "writer and reader are paired");
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        var flood = new StalledPipeWriter(writer);

        // Sample the heap until the relay gives up on the reader. Samples include garbage not yet
        // collected, so this overstates what the relay keeps.
        using (var sampling = new PeriodicTimer(TimeSpan.FromMilliseconds(10)))
        {
            while (!flood.Closed.IsCompleted && await sampling.WaitForNextTickAsync())
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false) - baseline);
            }
        }

        var (status, _) = await flood.CompletionAsync();
        Assert.Equal(4408, (int?)status);
        Assert.True(peak < 32L * MiB, $"a stalled reader grew managed memory by {peak / MiB} MiB");
        await writer.CloseQuietlyAsync();
    }

    [Fact]
    public async Task HundredMebibyteMessage_StreamsThroughThePipe_AllocatingUnderSixteenMebibytes()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "alice and bob are paired");
        var fragment = new byte[MiB];
        new Random(3).NextBytes(fragment);
        var receiveBuffer = new byte[64 * 1024];

        // Warm up first: the sockets' first sends rent their buffers and the JIT compiles the paths.
        await alice.SendAsync(fragment, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        for (long warm = 0; warm < MiB;)
        {
            warm += (await bob.ReceiveAsync(receiveBuffer.AsMemory(), CancellationToken.None)).Count;
        }

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                await alice.SendAsync(fragment, WebSocketMessageType.Binary, endOfMessage: i == 99, CancellationToken.None);
            }
        });
        long received = 0;
        long checksum = 0;
        while (true)
        {
            var result = await bob.ReceiveAsync(receiveBuffer.AsMemory(), CancellationToken.None);
            for (var i = 0; i < result.Count; i++)
            {
                checksum += receiveBuffer[i] ^ fragment[(int)((received + i) % MiB)];
            }

            received += result.Count;
            if (result.EndOfMessage)
            {
                break;
            }
        }

        await sending;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(100L * MiB, received);
        Assert.Equal(0, checksum);
        // Reassembling would cost at least the 100 MiB. What remains is per-fragment bookkeeping in the
        // sockets (and, in Debug builds, async state machines compiled as classes): about 4.5 MiB here.
        Assert.True(allocated < 16L * MiB, $"relaying a 100 MiB message allocated {allocated / 1024} KiB");
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }
}
