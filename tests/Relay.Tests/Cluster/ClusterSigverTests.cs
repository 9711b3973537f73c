using System.Net;
using System.Net.WebSockets;
using System.Text;
using Relay.Cluster;
using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;
using Relay.Tests.Sigver;
using StackExchange.Redis;

namespace Relay.Tests.Cluster;

/// <summary>
/// Sigver (Netflux) groups whose peers reach different gateway processes: each group meets on one node, the others
/// forward its peers there (raw key kept byte for byte); 1001 when that node is killed, the group made again on a
/// live node; by hash while Redis is down; an emptied group's record removed; a forged forwarded request refused.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed class ClusterSigverTests
{
    private const string Forwarded = "relay_cluster_result=\"forwarded\"";
    private const string Accepted = "relay_cluster_result=\"accepted\"";
    private const string Secret = "test-cluster-secret-0123456789abcdef";

    [Fact]
    public async Task ThreePeersOnThreeNodes_MeetInOneGroup_ContentFlowsBothWaysByteExact()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var nodes = cluster.Nodes;

        // Lower-case escapes: forwarding the decoded path would send %C3%A9, another key.
        const string Path = "/sigver/caf%c3%a9/room";
        var (member, memberFirst) = await SigverClient.JoinAsync(nodes[0].WebSocketUri, Path);
        var (joiner1, joiner1First) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, Path);
        var (joiner2, joiner2First) = await SigverClient.JoinAsync(nodes[2].WebSocketUri, Path);
        await using var disposeMember = member;
        await using var disposeJoiner1 = joiner1;
        await using var disposeJoiner2 = joiner2;
        Assert.Equal((true, false, false), (memberFirst, joiner1First, joiner2First));

        var big = new byte[60_000];
        new Random(7).NextBytes(big);
        await joiner1.SendDataAsync(0, "from-1"u8.ToArray());
        var id1 = await member.ExpectDataAsync("from-1"u8.ToArray());
        await joiner2.SendDataAsync(12345, big);
        var id2 = await member.ExpectDataAsync(big);
        Assert.NotEqual(0u, id1);
        Assert.NotEqual(0u, id2);
        Assert.NotEqual(id1, id2);

        await member.SendDataAsync(id2, "to-2"u8.ToArray());
        await joiner2.ExpectDataAsync(0, "to-2"u8.ToArray());
        await member.SendDataAsync(id1, big);
        await joiner1.ExpectDataAsync(0, big);

        Assert.Equal(1, await nodes[0].MetricAsync("relay_sigver_groups"));
        Assert.Equal(3, await nodes[0].MetricAsync("relay_sigver_peers"));
        Assert.Equal(0, await nodes[1].MetricAsync("relay_sigver_groups") + await nodes[2].MetricAsync("relay_sigver_groups"));
        Assert.Equal(0, await nodes[1].MetricAsync("relay_sigver_peers") + await nodes[2].MetricAsync("relay_sigver_peers"));
        Assert.Equal(1, await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", Forwarded));
        Assert.Equal(1, await nodes[2].MetricAsync("relay_cluster_forwarded_sockets_total", Forwarded));
        Assert.Equal(2, await nodes[0].MetricAsync("relay_cluster_forwarded_sockets_total", Accepted));
        Assert.True(await nodes[0].MetricAsync("relay_cluster_redis_duration_seconds_count", "relay_cluster_operation=\"sigver\"") >= 1);

        // The same key with upper-case escapes is another key: a group of its own, on the node it reached.
        var (other, otherFirst) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/caf%C3%A9/room");
        await using var disposeOther = other;
        Assert.True(otherFirst);
        Assert.Equal(1, await nodes[1].MetricAsync("relay_sigver_groups"));

        // A joiner leaving on its node: the member is told (isError for its id), as on one node.
        await joiner1.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await member.ExpectAsync(Content.TypeOneofCase.IsError, id1);
    }

    [Fact]
    public async Task ForgedForwardedSigverRequest_IsRefusedWith403_ASignedOneIsServedAndClaimsTheRecord()
    {
        await using var cluster = await GatewayCluster.StartAsync(1, $"--Relay:Cluster:Secret={Secret}");
        var node = cluster.Nodes[0];
        const string Path = "/sigver/signed";
        using (var forged = new ClientWebSocket())
        {
            forged.Options.CollectHttpResponseDetails = true;
            forged.Options.SetRequestHeader(PairingForwarder.Header, "1.abc");
            await Assert.ThrowsAsync<WebSocketException>(() => forged.ConnectAsync(new Uri(node.WebSocketUri, Path), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Forbidden, forged.HttpStatusCode);
        }

        Assert.Equal(1, await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"refused\""));
        Assert.Equal(0, await node.MetricAsync("relay_sigver_peers"));

        // Signed as another node would: served here (it was admitted there), and the free record now names this node.
        using var signed = new ClientWebSocket();
        signed.Options.SetRequestHeader(PairingForwarder.Header, PairingForwarder.Sign(Encoding.UTF8.GetBytes(Secret), DateTimeOffset.UtcNow.AddSeconds(20), Path));
        await signed.ConnectAsync(new Uri(node.WebSocketUri, Path), CancellationToken.None);
        var client = new SigverClient(signed);
        Assert.True((await client.ReceiveAsync()).IsFirst);
        Assert.Equal(1, await node.MetricAsync("relay_cluster_forwarded_sockets_total", Accepted));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var owner = (string?)await redis.GetDatabase().StringGetAsync("relay:sigver:signed");
        Assert.NotNull(owner);
        Assert.Equal(node.HttpUri.GetLeftPart(UriPartial.Authority), (string?)await redis.GetDatabase().HashGetAsync("relay:nodes", owner));
    }

    [Fact]
    public async Task GroupNodeKilled_AForwardedPeerGets1001_ANewPeerMakesTheGroupAgainOnALiveNode()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var nodes = cluster.Nodes;
        var (member, _) = await SigverClient.JoinAsync(nodes[0].WebSocketUri, "/sigver/lost");
        var (joiner, joinerFirst) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/lost");
        await using var disposeMember = member;
        await using var disposeJoiner = joiner;
        Assert.False(joinerFirst);
        await joiner.SendDataAsync(0, "hi"u8.ToArray());
        await member.ExpectDataAsync("hi"u8.ToArray());

        await nodes[0].KillAsync();

        Assert.Equal(1001, await joiner.ExpectCloseAsync());
        Assert.Equal(1, await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"lost\""));

        // Node 0's lease runs out and it is reaped, its group record with it.
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        await Eventually.TrueAsync(async () => !await redis.GetDatabase().KeyExistsAsync("relay:sigver:lost"), "node 0's group record is reaped");

        var (again, againFirst) = await SigverClient.JoinAsync(nodes[2].WebSocketUri, "/sigver/lost");
        await using var disposeAgain = again;
        Assert.True(againFirst);
        Assert.Equal(1, await nodes[2].MetricAsync("relay_sigver_groups"));
        var (late, lateFirst) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/lost");
        await using var disposeLate = late;
        Assert.False(lateFirst);
        await late.SendDataAsync(0, "again"u8.ToArray());
        await again.ExpectDataAsync("again"u8.ToArray());
    }

    [Fact]
    public async Task RedisDown_PeersOnTwoNodesStillMeet_ByHash()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await cluster.KillRedisOnceEveryNodeKnowsTheOthersAsync();

        for (var i = 0; i < 6; i++)
        {
            var path = $"/sigver/hashed-{i}";
            var (a, aFirst) = await SigverClient.JoinAsync(cluster.Nodes[i % 3].WebSocketUri, path);
            var (b, bFirst) = await SigverClient.JoinAsync(cluster.Nodes[(i + 1) % 3].WebSocketUri, path);
            await using var disposeA = a;
            await using var disposeB = b;
            Assert.Equal((true, false), (aFirst, bFirst));
            var hello = Encoding.UTF8.GetBytes($"b{i}");
            await b.SendDataAsync(0, hello);
            var id = await a.ExpectDataAsync(hello);
            await a.SendDataAsync(id, Encoding.UTF8.GetBytes($"a{i}"));
            await b.ExpectDataAsync(0, Encoding.UTF8.GetBytes($"a{i}"));
        }

        // Whichever node the hash picks, at least one peer of each group was forwarded to it (both, if it is the third).
        var forwarded = 0.0;
        var accepted = 0.0;
        foreach (var node in cluster.Nodes)
        {
            forwarded += await node.MetricAsync("relay_cluster_forwarded_sockets_total", Forwarded);
            accepted += await node.MetricAsync("relay_cluster_forwarded_sockets_total", Accepted);
        }

        Assert.InRange(forwarded, 6, 12);
        Assert.Equal(forwarded, accepted);
    }

    [Fact]
    public async Task RedisRestartedEmpty_TheGroupNodeRepublishesItsRecord_ALaterPeerElsewhereJoinsIt()
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        var nodes = cluster.Nodes;
        var (member, _) = await SigverClient.JoinAsync(nodes[0].WebSocketUri, "/sigver/kept");
        await using var disposeMember = member;

        await cluster.Redis.KillAsync();
        await nodes[0].UntilHealthAsync("Degraded");
        await cluster.Redis.StartAgainAsync();

        // Both nodes back on Redis (a node still degraded would place the joiner by hash), node 0 with its lease.
        foreach (var node in nodes)
        {
            await node.UntilHealthAsync("Healthy");
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var db = redis.GetDatabase();
        await Eventually.TrueAsync(async () => await db.KeyExistsAsync("relay:sigver:kept"), "node 0 re-publishes the record of its group");
        await Eventually.TrueAsync(async () => await db.SortedSetScoreAsync("relay:leases", (string?)await db.StringGetAsync("relay:sigver:kept")) is not null, "node 0 holds its lease again");
        Assert.Equal(nodes[0].HttpUri.GetLeftPart(UriPartial.Authority), (string?)await db.HashGetAsync("relay:nodes", (string?)await db.StringGetAsync("relay:sigver:kept")));

        var (joiner, joinerFirst) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/kept");
        await using var disposeJoiner = joiner;
        Assert.False(joinerFirst);
        await joiner.SendDataAsync(0, "back"u8.ToArray());
        await member.ExpectDataAsync("back"u8.ToArray());
    }

    [Fact]
    public async Task AnEmptiedGroup_RemovesItsRecord_ALaterPeerElsewhereIsFirstOnItsOwnNode()
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        var nodes = cluster.Nodes;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var db = redis.GetDatabase();

        var (member, _) = await SigverClient.JoinAsync(nodes[0].WebSocketUri, "/sigver/brief");
        var (joiner, _) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/brief");
        var nodeId = (string?)await db.StringGetAsync("relay:sigver:brief");
        Assert.NotNull(nodeId);
        Assert.True(await db.SetContainsAsync($"relay:node:{nodeId}:entries", "g brief"));

        // The forwarded joiner leaves first: the member still holds the group, and its record stays.
        await joiner.DisposeAsync();
        await Eventually.TrueAsync(async () => await nodes[0].MetricAsync("relay_sigver_peers") == 1, "the joiner left node 0");
        Assert.Equal(nodeId, (string?)await db.StringGetAsync("relay:sigver:brief"));

        await member.DisposeAsync();
        await Eventually.TrueAsync(async () => !await db.KeyExistsAsync("relay:sigver:brief"), "the emptied group's record is removed");
        Assert.False(await db.SetContainsAsync($"relay:node:{nodeId}:entries", "g brief"));

        var (later, laterFirst) = await SigverClient.JoinAsync(nodes[1].WebSocketUri, "/sigver/brief");
        await using var disposeLater = later;
        Assert.True(laterFirst);
        Assert.Equal(1, await nodes[1].MetricAsync("relay_sigver_groups"));
        Assert.Equal(0, await nodes[0].MetricAsync("relay_sigver_groups"));
        Assert.Equal(1, await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", Forwarded));
    }

    [Fact]
    [Trait("Category", "Interop")]
    public async Task Netflux_AliceOnOneNode_BobAndCarolOnAnother_FormOneGroup()
    {
        var interop = System.IO.Path.Combine(RepositoryPaths.Root, "tests", "interop-sigver");
        Assert.True(
            File.Exists(System.IO.Path.Combine(interop, "node_modules", "netflux", "dist", "netflux.cjs.js")),
            "netflux is not installed: run `npm install --prefix tests/interop-sigver` (bash .ci/run does).");
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        var nodes = cluster.Nodes;

        var (exitCode, output, errors) = await NodeScript.RunAsync(
            interop, "interop.mjs", new Uri(nodes[0].WebSocketUri, "/sigver").ToString(), "netflux-room", new Uri(nodes[1].WebSocketUri, "/sigver").ToString());

        NetfluxInteropTests.AssertGroupFormed(exitCode, output, errors);

        // Bob's and carol's signaling went to alice's node: every content message was relayed there, none on node 1.
        var forwarded = await nodes[1].MetricAsync("relay_cluster_forwarded_sockets_total", Forwarded);
        Assert.True(forwarded >= 2, $"bob and carol were forwarded ({forwarded})");
        Assert.Equal(forwarded, await nodes[0].MetricAsync("relay_cluster_forwarded_sockets_total", Accepted));
        Assert.True(await nodes[0].MetricAsync("relay_sigver_content_messages_total") >= 4, "SDP and candidates were relayed on node 0");
        Assert.Equal(0, await nodes[1].MetricAsync("relay_sigver_content_messages_total"));
    }
}
