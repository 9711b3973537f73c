using System.Net;
using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Every introduction-channel limit refuses clearly and leaves other peers undisturbed.</summary>
public sealed class IntroductionLimitTests
{
    [Fact]
    public async Task PeerId_LongerThanLimit_IsRefusedWith400()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);

        var (status, _) = await gateway.RefusedHandshakeAsync($"/introduction/{new string('p', 257)}");
        await using var longest = await TestPeer.ConnectAsync(gateway, new string('p', 256));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", "error.type", "invalid_id"));
    }

    [Fact]
    public async Task InvalidDocumentId_ClosesOnlyThatPeerWith4400()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var offender = await TestPeer.ConnectAsync(gateway, "offender");
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");
        await alice.JoinAsync("doc");

        await offender.JoinAsync("fine", new string('d', 257));
        var (status, _) = await offender.Socket.ReceiveCloseAsync();

        Assert.Equal(4400, (int?)status);
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(1000)]
    [InlineData(5000)]
    public async Task Message_OverMaxBytes_ClosesWith4413_AndOneAtTheLimitIsAccepted(int limit)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxMessageBytes"] = $"{limit}" });
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");

        // A Join of exactly the limit is fine...
        var atLimit = PadJoin(limit, "doc");
        await alice.Socket.SendBinaryAsync(atLimit);
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");

        // ...one byte more closes the socket, even when it arrives in fragments.
        var over = PadJoin(limit + 1, "doc-2");
        await alice.Socket.SendBinaryAsync(over[..600], endOfMessage: false);
        await alice.Socket.SendBinaryAsync(over[600..], endOfMessage: true);
        var (status, _) = await alice.Socket.ReceiveCloseAsync();
        Assert.Equal(4413, (int?)status);
    }

    [Fact]
    public async Task Join_NamingMoreDocumentsThanAllowed_ClosesWith4413()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxDocumentsPerMessage"] = "10" });
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");

        await alice.JoinAsync(Enumerable.Range(0, 11).Select(i => $"doc-{i}").ToArray());

        var (status, _) = await alice.Socket.ReceiveCloseAsync();
        Assert.Equal(4413, (int?)status);
        Assert.Equal(0, gateway.GetService<IRelayStatus>().GetSnapshot().Documents);
    }

    [Fact]
    public async Task Join_BeyondDocumentsPerPeer_ClosesWith4429_WithoutJoiningAny()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxDocumentsPerPeer"] = "5" });
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");
        await alice.JoinAsync("a", "b", "c");
        await bob.JoinAsync("a", "d", "e", "f");
        await bob.ExpectIntroductionAsync("alice", "a");
        await alice.ExpectIntroductionAsync("bob", "a");

        // Three more (two new ones beyond the five allowed, with a duplicate counted once) is refused whole.
        await alice.JoinAsync("d", "e", "e", "f");

        var (status, _) = await alice.Socket.ReceiveCloseAsync();
        Assert.Equal(4429, (int?)status);
        await using var carol = await TestPeer.ConnectAsync(gateway, "carol");
        await carol.JoinAsync("d");
        await carol.ExpectIntroductionAsync("bob", "d");
    }

    [Fact]
    public async Task Join_OfFullDocument_ClosesNewcomerWith4429_AndKeepsTheOthers()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxPeersPerDocument"] = "2" });
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");
        await using var carol = await TestPeer.ConnectAsync(gateway, "carol");
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");

        await carol.JoinAsync("doc");

        var (status, _) = await carol.Socket.ReceiveCloseAsync();
        Assert.Equal(4429, (int?)status);
        await bob.ExpectIntroductionAsync("alice", "doc");
        Assert.Equal(WebSocketState.Open, alice.Socket.State);
    }

    [Fact]
    public async Task IdlePeer_IsClosedWith4408_WhileHeartbeatingPeerStays()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:IdleTimeout"] = "00:00:00.400" });
        await using var beating = await TestPeer.ConnectAsync(gateway, "beating");
        await using var idle = await TestPeer.ConnectAsync(gateway, "idle");
        using var heartbeats = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        using var stop = new CancellationTokenSource();
        var heart = Task.Run(async () =>
        {
            while (await heartbeats.WaitForNextTickAsync(stop.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default))
            {
                await beating.Socket.SendBinaryAsync(MsgPack.Heartbeat());
            }
        });

        var (status, _) = await idle.Socket.ReceiveCloseAsync();

        Assert.Equal(4408, (int?)status);
        Assert.Equal(WebSocketState.Open, beating.Socket.State);
        await stop.CancelAsync();
        await heart;
    }

    [Fact]
    public async Task PeerThatStopsReading_IsClosedWith4429_WhenItsIntroductionsPileUp()
    {
        // Introductions naming many long documents are large, so a peer that never reads fills the
        // socket buffers quickly; past them, the relay's queue for it is capped.
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Introduction:MaxMessageBytes"] = "1048576",
            ["Relay:Introduction:MaxQueuedBytes"] = "262144",
        });
        using var recorder = new MetricRecorder(gateway.Services);
        var documents = Enumerable.Range(0, 1000).Select(i => $"{i:D4}-{new string('x', 200)}").ToArray();
        await using var stalled = await TestPeer.ConnectAsync(gateway, "stalled");
        await stalled.JoinAsync(documents);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Documents == 1000, "the stalled peer joined");

        for (var i = 0; recorder.Sum("relay.rejected_connections", "error.type", "queue_full") == 0; i++)
        {
            Assert.True(i < 500, "the relay never capped the stalled peer's queue");
            await using var joiner = await TestPeer.ConnectAsync(gateway, $"joiner-{i}");
            await joiner.JoinAsync(documents);
            await joiner.ExpectIntroductionAsync("stalled", documents);
        }

        // The stalled peer, reading at last, finds its queue was cut with 4429; the others were never held up.
        var (status, _) = await stalled.Socket.ReceiveCloseAsync();
        Assert.Equal(4429, (int?)status);
    }

    private static byte[] PadJoin(int size, string documentId)
    {
        // An unknown key whose string value pads the message to exactly `size` bytes.
        var baseline = MsgPack.Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = new[] { documentId }, ["pad"] = "" });
        var padded = MsgPack.Encode(new Dictionary<string, object?>
        {
            ["type"] = "Join",
            ["documentIds"] = new[] { documentId },
            ["pad"] = new string('.', size - baseline.Length - 2),
        });
        Assert.Equal(size, padded.Length);
        return padded;
    }
}
