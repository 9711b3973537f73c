using System.Net;
using System.Net.WebSockets;
using System.Text;
using Relay.Cluster;
using Relay.Tests.Infrastructure;
using StackExchange.Redis;

namespace Relay.Tests.Cluster;

/// <summary>
/// Pairings whose two halves reach different gateway processes: forwarded to the node the pairing runs on (byte for
/// byte, held frames, fragments, 1 MB, close codes, limits), 1001 when that node is killed, by hash while Redis is
/// down, forged forwarded requests refused, and the real npm client with its peers on two nodes.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed class ClusterPairingTests
{
    private const string Secret = "test-cluster-secret-0123456789abcdef";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HalvesOnTwoNodes_ArePipedByteExact_HeldFramesFragmentsAMegabyteAndTheCloseCode(bool senderFirst)
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        var (senderNode, receiverNode) = (cluster.Nodes[0], cluster.Nodes[1]);
        var big = new byte[1_000_000];
        new Random(12).NextBytes(big);

        ClientWebSocket sender;
        RawWebSocketClient receiver;
        if (senderFirst)
        {
            // The sender's node holds the pairing: its first frames are held there until the receiver, forwarded, arrives.
            sender = await ConnectAsync(senderNode, "s", "r", "doc");
            await SendHeldAsync(sender);
            receiver = await RawWebSocketClient.ConnectAsync(receiverNode.HttpUri, "/connection/r/s/doc");
        }
        else
        {
            receiver = await RawWebSocketClient.ConnectAsync(receiverNode.HttpUri, "/connection/r/s/doc");
            sender = await ConnectAsync(senderNode, "s", "r", "doc");
            await SendHeldAsync(sender);
        }

        using var disposeSender = sender;
        using var disposeReceiver = receiver;
        var frames = new List<(bool Fin, byte Opcode, byte[] Payload)>();
        while (frames.Count(f => f.Fin) < 3)
        {
            frames.Add(await receiver.ReadFrameWithFinAsync());
        }

        // Fragments are passed on as fragments, as on one node.
        Assert.Equal([(true, 1), (true, 2), (false, 1), (true, 0)], frames.Select(f => (f.Fin, f.Opcode)));
        Assert.Equal("held-1", Encoding.UTF8.GetString(frames[0].Payload));
        Assert.Equal([1, 2, 3], frames[1].Payload);
        Assert.Equal("frag-ment", Encoding.UTF8.GetString([.. frames[2].Payload, .. frames[3].Payload]));

        await sender.SendBinaryAsync(big);
        await sender.CloseOutputAsync((WebSocketCloseStatus)4000, "done", CancellationToken.None);
        using var message = new MemoryStream();
        (bool Fin, byte Opcode, byte[] Payload) frame;
        while ((frame = await receiver.ReadFrameWithFinAsync()).Opcode != 8)
        {
            Assert.Equal(message.Length == 0 ? 2 : 0, frame.Opcode);
            message.Write(frame.Payload);
        }

        Assert.Equal(big, message.ToArray());
        Assert.Equal([0x0F, 0xA0, .. "done"u8], frame.Payload);

        // The receiver's own close (another code) goes back to the sender unchanged.
        await receiver.SendFrameAsync(8, [0x0F, 0xA1, .. "bye"u8]);
        Assert.Equal(((WebSocketCloseStatus)4001, "bye"), await sender.ReceiveCloseAsync());

        var (first, second) = senderFirst ? (senderNode, receiverNode) : (receiverNode, senderNode);
        Assert.Equal(1, await second.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\""));
        Assert.Equal(1, await first.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"accepted\""));
        Assert.Equal(0, await second.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"lost\""));
    }

    [Fact]
    public async Task KilledPipeNode_TheSideConnectedElsewhereGets1001_AndOtherPairingsGoOn()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var nodes = cluster.Nodes;

        // Runs on node 0; b's half comes in through node 1.
        using var a = await ConnectAsync(nodes[0], "a", "b", "doc");
        using var b = await ConnectAsync(nodes[1], "b", "a", "doc");

        // Runs on node 1, not touching node 0.
        using var c = await ConnectAsync(nodes[1], "c", "d", "doc");
        using var d = await ConnectAsync(nodes[2], "d", "c", "doc");

        // Runs on node 2; f's half comes in through node 0, which will be killed.
        using var e = await ConnectAsync(nodes[2], "e", "f", "doc");
        using var f = await ConnectAsync(nodes[0], "f", "e", "doc");
        foreach (var (from, to) in new[] { (a, b), (b, a), (c, d), (d, c), (e, f), (f, e) })
        {
            await from.SendTextAsync("before");
            Assert.Equal("before", (await to.ReceiveMessageAsync()).Text);
        }

        await nodes[0].KillAsync();

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, (await b.ReceiveCloseAsync()).Status);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, (await e.ReceiveCloseAsync()).Status);
        foreach (var (from, to) in new[] { (c, d), (d, c) })
        {
            await from.SendTextAsync("after");
            Assert.Equal("after", (await to.ReceiveMessageAsync()).Text);
        }

        Assert.Equal(1, await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"lost\""));
        await WebSocketTestExtensions.ClosePairAsync(c, d);
    }

    [Fact]
    public async Task RecordOfAKilledNode_IsTakenOver_AndTheHalvesMeetElsewhere()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var nodes = cluster.Nodes;
        using (await ConnectAsync(nodes[0], "t", "u", "doc"))
        {
            await nodes[0].KillAsync();
        }

        // Node 0's lease has not run out yet, but it does not answer: node 1 takes its record over.
        using var u = await ConnectAsync(nodes[1], "u", "t", "doc");
        Assert.Equal(1, await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"taken_over\""));

        using var t = await ConnectAsync(nodes[2], "t", "u", "doc");
        await t.SendTextAsync("again");
        Assert.Equal("again", (await u.ReceiveMessageAsync()).Text);
        Assert.Equal(1, await nodes[2].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\""));
        await WebSocketTestExtensions.ClosePairAsync(t, u);
    }

    [Fact]
    public async Task ForwardingNodeStopping_ClosesItsClientWith1001_AndThePartnerGets1001()
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        using var a = await ConnectAsync(cluster.Nodes[0], "a", "b", "doc");
        using var b = await ConnectAsync(cluster.Nodes[1], "b", "a", "doc");
        await b.SendTextAsync("hi");
        Assert.Equal("hi", (await a.ReceiveMessageAsync()).Text);

        await cluster.Nodes[1].SignalAsync("-TERM");

        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"), await b.ReceiveCloseAsync());
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, (await a.ReceiveCloseAsync()).Status);
        Assert.Equal(0, await cluster.Nodes[1].WaitForExitAsync());
    }

    [Fact]
    public async Task RedisDown_HalvesOnDifferentNodesStillMeet_ByHash()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await cluster.KillRedisOnceEveryNodeKnowsTheOthersAsync();

        for (var i = 0; i < 6; i++)
        {
            var (one, other) = (cluster.Nodes[i % 3], cluster.Nodes[(i + 1) % 3]);
            using var x = await ConnectAsync(one, "x", "y", $"doc-{i}");
            using var y = await ConnectAsync(other, "y", "x", $"doc-{i}");
            await x.SendTextAsync($"x{i}");
            Assert.Equal($"x{i}", (await y.ReceiveMessageAsync()).Text);
            await y.SendTextAsync($"y{i}");
            Assert.Equal($"y{i}", (await x.ReceiveMessageAsync()).Text);
            await WebSocketTestExtensions.ClosePairAsync(x, y);
        }

        // Whichever node the hash picks, at least one half of each pairing was forwarded to it (both, if it is the third).
        var forwarded = 0.0;
        var accepted = 0.0;
        foreach (var node in cluster.Nodes)
        {
            forwarded += await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\"");
            accepted += await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"accepted\"");
        }

        Assert.InRange(forwarded, 6, 12);
        Assert.Equal(forwarded, accepted);
    }

    [Fact]
    public async Task ForgedForwardedRequests_AreRefusedWith403_ASignedOneIsServed()
    {
        await using var cluster = await GatewayCluster.StartAsync(2, $"--Relay:Cluster:Secret={Secret}");
        var node = cluster.Nodes[0];
        const string Path = "/connection/p/q/doc";
        var right = Encoding.UTF8.GetBytes(Secret);
        var forged = new[]
        {
            "1.abc",
            PairingForwarder.Sign(Encoding.UTF8.GetBytes("another-secret-of-enough-length-000000"), DateTimeOffset.UtcNow.AddSeconds(20), Path),
            PairingForwarder.Sign(right, DateTimeOffset.UtcNow.AddSeconds(-1), Path),
            PairingForwarder.Sign(right, DateTimeOffset.UtcNow.AddSeconds(20), "/connection/other/q/doc"),
        };
        foreach (var header in forged)
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            socket.Options.SetRequestHeader(PairingForwarder.Header, header);
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(node.WebSocketUri, Path), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
        }

        Assert.Equal(forged.Length, await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"refused\""));

        using var signed = new ClientWebSocket();
        signed.Options.SetRequestHeader(PairingForwarder.Header, PairingForwarder.Sign(right, DateTimeOffset.UtcNow.AddSeconds(20), Path));
        await signed.ConnectAsync(new Uri(node.WebSocketUri, Path), CancellationToken.None);
        Assert.Equal(1, await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"accepted\""));
    }

    [Fact]
    public async Task AForwardedHalf_IsAdmittedByTheNodeItReached_NotCountedAgainstTheForwardingNodesAddress()
    {
        // One socket per client address: every socket here comes from 127.0.0.1, and so does node 1's forward.
        await using var cluster = await GatewayCluster.StartAsync(2, "--Relay:Admission:MaxConcurrentSocketsPerClient=1");
        using var a = await ConnectAsync(cluster.Nodes[0], "a", "b", "doc");
        using var b = await ConnectAsync(cluster.Nodes[1], "b", "a", "doc");
        await b.SendTextAsync("in");
        Assert.Equal("in", (await a.ReceiveMessageAsync()).Text);

        // The limit still holds for clients of node 0 itself.
        using var c = new ClientWebSocket();
        c.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => c.ConnectAsync(new Uri(cluster.Nodes[0].WebSocketUri, "/connection/c/d/doc"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.TooManyRequests, c.HttpStatusCode);
        await WebSocketTestExtensions.ClosePairAsync(a, b);
    }

    [Fact]
    public async Task HeldTooMuch_ClosesAForwardedWaitingHalfWith4413()
    {
        await using var cluster = await GatewayCluster.StartAsync(2, "--Relay:Connection:MaxHeldBytes=1000");

        // The first half records node 0 and leaves; the record outlives it, so its partner is forwarded there to wait.
        using (var gone = await ConnectAsync(cluster.Nodes[0], "g", "h", "doc"))
        {
            await gone.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        }

        using var waiting = await ConnectAsync(cluster.Nodes[1], "h", "g", "doc");
        await waiting.SendBinaryAsync(new byte[2000]);
        Assert.Equal((WebSocketCloseStatus)4413, (await waiting.ReceiveCloseAsync()).Status);
        Assert.Equal(1, await cluster.Nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\""));
    }

    [Fact]
    [Trait("Category", "Interop")]
    public async Task NpmClient_PeersOnTwoNodes_ConnectAndExchange()
    {
        var interop = System.IO.Path.Combine(RepositoryPaths.Root, "tests", "interop");
        Assert.True(File.Exists(System.IO.Path.Combine(interop, "node_modules", "@localfirst", "relay", "dist", "Client.js")),
            "The npm client is not installed: run `npm install --prefix tests/interop` (bash .ci/run does).");
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);

        var run = await NodeScript.RunAsync(interop, "interop.mjs",
            cluster.Nodes[0].WebSocketUri.ToString().TrimEnd('/'), cluster.Nodes[1].WebSocketUri.ToString().TrimEnd('/'));

        NodeScript.AssertExchangedRounds("interop.mjs", run, rounds: 3);
        var forwarded = await cluster.Nodes[0].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\"")
            + await cluster.Nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\"");
        Assert.Equal(3, forwarded);
    }

    [Fact]
    public async Task RedisRestartedEmpty_TheNodesPutTheSameForwardingSecretBack_AndStillForward()
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 3);
        string? before;
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration))
        {
            before = await redis.GetDatabase().StringGetAsync("relay:secret");
        }

        Assert.False(string.IsNullOrEmpty(before));
        await cluster.Redis.KillAsync();
        await cluster.Redis.StartAgainAsync();
        foreach (var node in cluster.Nodes)
        {
            await node.UntilHealthAsync("Healthy");
        }

        // Every node offers the secret it knows, so whichever writes first, the nodes keep signing alike.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration))
        {
            var database = redis.GetDatabase();
            await Eventually.TrueAsync(async () => await database.KeyExistsAsync("relay:secret"), "a node writes the secret again");
            Assert.Equal(before, (string?)await database.StringGetAsync("relay:secret"));
        }

        for (var i = 0; i < cluster.Nodes.Length; i++)
        {
            using var a = await ConnectAsync(cluster.Nodes[i], "a", "b", $"doc-{i}");
            using var b = await ConnectAsync(cluster.Nodes[(i + 1) % cluster.Nodes.Length], "b", "a", $"doc-{i}");
            await a.SendTextAsync("after the wipe");
            Assert.Equal("after the wipe", (await b.ReceiveMessageAsync()).Text);
            await WebSocketTestExtensions.ClosePairAsync(a, b);
        }
    }

    private static async Task<ClientWebSocket> ConnectAsync(GatewayNode node, string local, string remote, string document)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(new Uri(node.WebSocketUri, $"/connection/{local}/{remote}/{document}"), timeout.Token);
        return socket;
    }

    private static async Task SendHeldAsync(ClientWebSocket sender)
    {
        await sender.SendTextAsync("held-1");
        await sender.SendBinaryAsync([1, 2, 3]);
        await sender.SendTextAsync("frag-", endOfMessage: false);
        await sender.SendTextAsync("ment");
    }
}
