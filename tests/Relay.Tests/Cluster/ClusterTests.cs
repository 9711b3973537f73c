using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Relay.Tests.Infrastructure;
using StackExchange.Redis;

namespace Relay.Tests.Cluster;

/// <summary>
/// Three gateway processes and one redis-server act as one relay for introductions: the same introductions as
/// one node, 4409 across nodes, a killed node's peers dropped within the lease bound, and a Redis outage (even
/// one that empties Redis) degrading to local introductions and repaired by a resync when Redis is back.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed partial class ClusterTests
{
    [Theory]
    [InlineData(20261202)]
    [InlineData(7)]
    public async Task RandomSpreadOverThreeNodes_MakesExactlyTheIntroductionsOfOneNode(int seed)
    {
        var scenario = IntroductionScenario.Generate(new Random(seed), peers: 24, documents: 8, steps: 60, nodes: 3);
        var expected = scenario.Expected();
        Assert.True(expected.Sum(step => step.Count) > 20, "the scenario introduces peers");
        Assert.Equal(3, scenario.NodeOf.Distinct().Count());

        List<string>[] oneNode;
        await using (var single = await TestGateway.StartAsync())
        {
            oneNode = await scenario.RunAsync(_ => single.WebSocketUri);
        }

        await using var cluster = await GatewayCluster.StartAsync();
        var threeNodes = await scenario.RunAsync(node => cluster.Nodes[node].WebSocketUri);

        for (var i = 0; i < scenario.Steps.Count; i++)
        {
            Assert.Equal(IntroductionScenario.Flatten(expected[i]), oneNode[i]);
            Assert.Equal(oneNode[i], threeNodes[i]);
        }

        // Every cross-node introduction published was delivered, none twice (each node counts its own side).
        var sent = 0.0;
        var delivered = 0.0;
        foreach (var node in cluster.Nodes)
        {
            sent += await node.MetricAsync("relay_cluster_introductions_total", "relay_cluster_result=\"sent\"");
            delivered += await node.MetricAsync("relay_cluster_introductions_total", "relay_cluster_result=\"delivered\"");
            Assert.Equal(0, await node.MetricAsync("relay_cluster_introductions_total", "relay_cluster_result=\"duplicate\""));
            Assert.Equal(3, await node.MetricAsync("relay_cluster_nodes"));
            Assert.True(await node.MetricAsync("relay_cluster_redis_duration_seconds_count", "relay_cluster_operation=\"join\"") > 0);
        }

        Assert.True(sent > 0, "introductions crossed nodes");
        Assert.Equal(sent, delivered);
    }

    [Fact]
    public async Task SamePeerIdOnAnotherNode_ReplacesTheFirstWith4409_AndTheNewSessionIsIntroducedOnce()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var first = await cluster.Nodes[0].ConnectAsync("alice");
        await using var bob = await cluster.Nodes[1].ConnectAsync("bob");
        await first.JoinAsync("doc");
        await bob.JoinAsync("doc");
        await first.ExpectIntroductionAsync("bob", "doc");
        await bob.ExpectIntroductionAsync("alice", "doc");

        await using var second = await cluster.Nodes[2].ConnectAsync("alice");
        var (status, _) = await first.Socket.ReceiveCloseAsync();
        Assert.Equal((WebSocketCloseStatus)4409, status);

        // The replaced session's presence is gone: a newcomer meets bob only, then the new alice once.
        await using var carol = await cluster.Nodes[0].ConnectAsync("carol");
        await carol.JoinAsync("doc");
        await carol.ExpectIntroductionAsync("bob", "doc");
        await bob.ExpectIntroductionAsync("carol", "doc");

        await second.JoinAsync("doc");
        var introduced = new[] { await second.ReceiveIntroductionAsync(), await second.ReceiveIntroductionAsync() };
        Assert.Equal(["bob", "carol"], introduced.Select(i => i.PeerId).Order(StringComparer.Ordinal));
        Assert.All(introduced, i => Assert.Equal(["doc"], i.DocumentIds));
        await bob.ExpectIntroductionAsync("alice", "doc");
        await carol.ExpectIntroductionAsync("alice", "doc");
    }

    [Fact]
    public async Task KilledNode_ItsPeersAreNoLongerIntroducedWithinTheLeaseBound_AndItsPresenceIsReaped()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var doomed = await cluster.Nodes[2].ConnectAsync("doomed");
        await using var live = await cluster.Nodes[1].ConnectAsync("live");
        await using var witness = await cluster.Nodes[1].ConnectAsync("witness");
        await using var seeker = await cluster.Nodes[0].ConnectAsync("seeker");
        await doomed.JoinAsync("doc");
        await live.JoinAsync("doc");
        await live.ExpectIntroductionAsync("doomed", "doc");
        await witness.JoinAsync("witness-doc");

        // One round: the seeker joins the document again, then the witness's document. The second Join's
        // answer is handled after the first's (one session's answers are handled one at a time), so the
        // introductions before the witness's are exactly those of the first Join.
        async Task<string[]> RoundAsync()
        {
            await seeker.LeaveAsync("doc", "witness-doc");
            await seeker.JoinAsync("doc");
            await seeker.JoinAsync("witness-doc");
            var introduced = new List<string>();
            while ((await seeker.ReceiveIntroductionAsync()) is var (peerId, _) && peerId != "witness")
            {
                introduced.Add(peerId);
            }

            await live.ExpectIntroductionAsync("seeker", "doc");
            await witness.ExpectIntroductionAsync("seeker", "witness-doc");
            return [.. introduced.Order(StringComparer.Ordinal)];
        }

        Assert.Equal(["doomed", "live"], await RoundAsync());

        await cluster.Nodes[2].KillAsync();
        var killed = Stopwatch.StartNew();

        // Join again until the dead node's peer is no longer introduced; from then on it never is.
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        TimeSpan? dropped = null;
        for (var clean = 0; clean < 3; await pace.WaitForNextTickAsync())
        {
            Assert.True(killed.Elapsed < TestTimeouts.Default, "the dead node's peer is dropped");
            var introduced = await RoundAsync();
            if (introduced.Contains("doomed"))
            {
                Assert.Null(dropped);
                Assert.Equal(["doomed", "live"], introduced);
            }
            else
            {
                Assert.Equal(["live"], introduced);
                dropped ??= killed.Elapsed;
                clean++;
            }
        }

        // The bound: the lease runs out (NodeTimeout after its last renewal), plus slack for a busy machine.
        var bound = GatewayCluster.NodeTimeout + GatewayCluster.LeaseInterval + TimeSpan.FromSeconds(2);
        Assert.True(dropped <= bound, $"dropped after {dropped}, bound {bound}");

        // Reaped: the document's hash holds the live peers only, and the dead node holds no lease.
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var database = redis.GetDatabase();
        await Eventually.TrueAsync(async () =>
            (await database.HashKeysAsync("relay:doc:doc")).Select(k => (string)k!).Order(StringComparer.Ordinal).SequenceEqual(["live", "seeker"])
            && (await database.HashKeysAsync("relay:doc:witness-doc")).Select(k => (string)k!).Order(StringComparer.Ordinal).SequenceEqual(["seeker", "witness"])
            && await database.SortedSetLengthAsync("relay:leases") == 2
            && !await database.KeyExistsAsync("relay:peer:doomed"),
            "the dead node's presence is reaped");
        Assert.Contains(cluster.Nodes.Take(2), node => ReapedLine().IsMatch(node.Output));
        Assert.True(await cluster.Nodes[0].MetricAsync("relay_cluster_reaped_entries_total") + await cluster.Nodes[1].MetricAsync("relay_cluster_reaped_entries_total") >= 2,
            "the reaper counts the entries it removed (the peer and its document)");
        Assert.Equal(2, await cluster.Nodes[0].MetricAsync("relay_cluster_nodes"));
    }

    [Fact]
    public async Task RedisOutage_DegradesToLocalIntroductions_AndAnEmptyRedisIsResynchronised()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var alice = await cluster.Nodes[0].ConnectAsync("alice");
        await using var bob = await cluster.Nodes[1].ConnectAsync("bob");
        await alice.JoinAsync("before");
        await bob.JoinAsync("before");
        await alice.ExpectIntroductionAsync("bob", "before");
        await bob.ExpectIntroductionAsync("alice", "before");
        var resyncsBefore = cluster.Nodes.Select(node => CompleteResyncs(node.Output)).ToArray();

        await cluster.Redis.KillAsync();
        foreach (var node in cluster.Nodes)
        {
            await node.UntilHealthAsync("Degraded");
            Assert.Equal(0, await node.MetricAsync("relay_cluster_redis_available"));
        }

        // Degraded, not refusing: new peers connect, and peers of one node still meet.
        await using var carol = await cluster.Nodes[0].ConnectAsync("carol");
        await alice.JoinAsync("during");
        await carol.JoinAsync("during");
        await carol.ExpectIntroductionAsync("alice", "during");
        await alice.ExpectIntroductionAsync("carol", "during");
        await bob.JoinAsync("during");

        // Redis comes back empty: the epoch tells, each node re-publishes its peers, and the missed
        // cross-node introductions are made, once.
        await cluster.Redis.StartAgainAsync();
        foreach (var node in cluster.Nodes)
        {
            await node.UntilHealthAsync("Healthy");
        }

        var toBob = new[] { await bob.ReceiveIntroductionAsync(), await bob.ReceiveIntroductionAsync() };
        Assert.Equal(["alice: during", "carol: during"], toBob.Select(i => $"{i.PeerId}: {string.Join(',', i.DocumentIds)}").Order(StringComparer.Ordinal));
        await alice.ExpectIntroductionAsync("bob", "during");
        await carol.ExpectIntroductionAsync("bob", "during");

        for (var i = 0; i < cluster.Nodes.Length; i++)
        {
            var node = cluster.Nodes[i];
            var before = resyncsBefore[i];
            await Eventually.TrueAsync(() => CompleteResyncs(node.Output) > before, $"node {i} finishes its resync");
        }

        foreach (var node in cluster.Nodes)
        {
            Assert.Equal(1, await node.MetricAsync("relay_cluster_redis_available"));
            Assert.True(await node.MetricAsync("relay_cluster_resyncs_total") >= 1);
        }

        Assert.True(await cluster.Nodes[1].MetricAsync("relay_cluster_redis_errors_total", "relay_cluster_operation=\"join\"") >= 1, "bob's Join during the outage is counted as failed");

        // What was introduced before the outage is not introduced again: a newcomer's introduction is next.
        await using var dave = await cluster.Nodes[2].ConnectAsync("dave");
        await dave.JoinAsync("before", "during");
        await alice.ExpectIntroductionAsync("dave", "before", "during");
        await bob.ExpectIntroductionAsync("dave", "before", "during");
        await carol.ExpectIntroductionAsync("dave", "during");
    }

    [Fact]
    public async Task RedisDownAtStartUp_TheNodeStartsDegraded_AndJoinsWhenRedisComes()
    {
        await using var redis = await RedisServer.StartAsync();
        await redis.KillAsync();
        var workingDirectory = Directory.CreateTempSubdirectory("relay-cluster-").FullName;
        try
        {
            using var first = await GatewayNode.StartAsync(workingDirectory, redis.Configuration);
            using var second = await GatewayNode.StartAsync(workingDirectory, redis.Configuration);
            await first.UntilHealthAsync("Degraded");
            await using var alice = await first.ConnectAsync("alice");
            await using var bob = await second.ConnectAsync("bob");
            await alice.JoinAsync("doc");
            await bob.JoinAsync("doc");

            await redis.StartAgainAsync();
            await alice.ExpectIntroductionAsync("bob", "doc");
            await bob.ExpectIntroductionAsync("alice", "doc");
            await first.UntilHealthAsync("Healthy");
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task NodeFrozenBeyondItsLease_IsReaped_AndOnResumingRepublishesItsPeers()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var alice = await cluster.Nodes[0].ConnectAsync("alice");
        await using var bob = await cluster.Nodes[1].ConnectAsync("bob");
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");
        await bob.ExpectIntroductionAsync("alice", "doc");

        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var database = redis.GetDatabase();
        TestPeer? carol = null;
        await cluster.Nodes[0].SignalAsync("-STOP");
        try
        {
            await Eventually.TrueAsync(async () => !await database.HashExistsAsync("relay:doc:doc", "alice"), "the frozen node's presence is reaped");
            carol = await cluster.Nodes[2].ConnectAsync("carol");
            await carol.JoinAsync("doc");
            await carol.ExpectIntroductionAsync("bob", "doc");
            await bob.ExpectIntroductionAsync("carol", "doc");
        }
        finally
        {
            await cluster.Nodes[0].SignalAsync("-CONT");
        }

        // Its lease was lost: it re-publishes alice, who meets carol now (and bob is not introduced again).
        await using var carolAfterwards = carol;
        await alice.ExpectIntroductionAsync("carol", "doc");
        await carol.ExpectIntroductionAsync("alice", "doc");
        await using var dave = await cluster.Nodes[1].ConnectAsync("dave");
        await dave.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("dave", "doc");
        await bob.ExpectIntroductionAsync("dave", "doc");
        await carol.ExpectIntroductionAsync("dave", "doc");
        Assert.Equal(["alice", "bob", "carol"], new[]
        {
            (await dave.ReceiveIntroductionAsync()).PeerId, (await dave.ReceiveIntroductionAsync()).PeerId, (await dave.ReceiveIntroductionAsync()).PeerId,
        }.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task PeersOfEveryDialect_MeetAcrossNodes_EachAnsweredInItsOwn()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var packed = await cluster.Nodes[0].ConnectAsync("packed");
        await using var v3 = await cluster.Nodes[1].ConnectAsync("v3");
        await using var cevitxe = await cluster.Nodes[2].ConnectAsync("cevitxe");
        await packed.JoinAsync("doc");
        await v3.JoinV3Async("doc");
        await packed.ExpectIntroductionAsync("v3", "doc");
        await v3.ExpectV3IntroductionAsync("packed", "doc");

        await cevitxe.JoinJsonAsync("doc");
        Assert.Equal(["packed", "v3"], new[] { (await cevitxe.ReceiveJsonIntroductionAsync()).PeerId, (await cevitxe.ReceiveJsonIntroductionAsync()).PeerId }.Order(StringComparer.Ordinal));
        await packed.ExpectIntroductionAsync("cevitxe", "doc");
        await v3.ExpectV3IntroductionAsync("cevitxe", "doc");
    }

    [Fact]
    public async Task NodeStoppedGracefully_ClosesItsPeersWith1001_AndGivesItsLeaseUpAtOnce()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var leaving = await cluster.Nodes[2].ConnectAsync("leaving");
        await using var live = await cluster.Nodes[1].ConnectAsync("live");
        await leaving.JoinAsync("doc");
        await live.JoinAsync("doc");
        await live.ExpectIntroductionAsync("leaving", "doc");

        var closing = leaving.Socket.ReceiveCloseAsync();
        await cluster.Nodes[2].SignalAsync("-TERM");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, (await closing).Status);
        await leaving.Socket.CloseQuietlyAsync();

        // No lease to wait out: the node resigned, so Redis drops it from the live nodes before its timeout.
        var stopped = Stopwatch.StartNew();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        await Eventually.TrueAsync(async () => await redis.GetDatabase().SortedSetLengthAsync("relay:leases") == 2, "the stopped node's lease is gone");
        Assert.True(stopped.Elapsed < GatewayCluster.NodeTimeout, $"gone after {stopped.Elapsed}, within the node timeout {GatewayCluster.NodeTimeout}");

        await using var seeker = await cluster.Nodes[0].ConnectAsync("seeker");
        await seeker.JoinAsync("doc");
        await seeker.ExpectIntroductionAsync("live", "doc");
        await live.ExpectIntroductionAsync("seeker", "doc");
        Assert.Equal(0, await cluster.Nodes[2].WaitForExitAsync());
    }

    [Fact]
    public async Task ReapingLeftUnfinishedByADeadReaper_IsTakenOver()
    {
        await using var cluster = await GatewayCluster.StartAsync(nodes: 2);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var database = redis.GetDatabase();

        // What a reaper that died after claiming node "gone" leaves: its claim, long stale, and the entries still to remove.
        await database.HashSetAsync("relay:doc:shared", [new HashEntry("ghost", "gone|1|1"), new HashEntry("other", "elsewhere|1|1")]);
        await database.StringSetAsync("relay:peer:ghost", "gone|1");
        await database.SetAddAsync("relay:reaping:gone", ["d shared ghost", "p ghost"]);
        await database.SortedSetAddAsync("relay:reapings", "gone", 0);

        await Eventually.TrueAsync(async () => !await database.HashExistsAsync("relay:doc:shared", "ghost") && !await database.KeyExistsAsync("relay:peer:ghost")
            && !await database.KeyExistsAsync("relay:reaping:gone") && await database.SortedSetScoreAsync("relay:reapings", "gone") is null,
            "a live node takes the reaping over");
        Assert.Equal("elsewhere|1|1", (string?)await database.HashGetAsync("relay:doc:shared", "other"));
    }

    [Fact]
    public async Task LostPubSubLinks_AreRepaired_AndIntroductionsStayExactlyOnce()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var alice = await cluster.Nodes[0].ConnectAsync("alice");
        await alice.JoinAsync("doc");
        var resyncsBefore = cluster.Nodes.Select(node => CompleteResyncs(node.Output)).ToArray();

        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration + ",allowAdmin=true");
        await redis.GetServer(cluster.Redis.Configuration).ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");

        // Whether bob's introduction to alice went out before or after her node's channel was back, she gets it once.
        await using var bob = await cluster.Nodes[1].ConnectAsync("bob");
        await bob.JoinAsync("doc");
        await bob.ExpectIntroductionAsync("alice", "doc");
        await alice.ExpectIntroductionAsync("bob", "doc");
        for (var i = 0; i < cluster.Nodes.Length; i++)
        {
            var node = cluster.Nodes[i];
            var before = resyncsBefore[i];
            await Eventually.TrueAsync(() => CompleteResyncs(node.Output) > before, $"node {i} resynchronises after losing its channel");
        }

        await using var carol = await cluster.Nodes[2].ConnectAsync("carol");
        await carol.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("carol", "doc");
        await bob.ExpectIntroductionAsync("carol", "doc");
    }

    private static int CompleteResyncs(string output) => CompleteResync().Count(output);


    [GeneratedRegex(@"Re-published the presence of \d+ sessions to Redis \(complete: True\)")]
    private static partial Regex CompleteResync();

    [GeneratedRegex(@"Reaped node [0-9a-f]+, whose lease expired")]
    private static partial Regex ReapedLine();
}

/// <summary>Without <c>Relay:Cluster:Redis</c> nothing of the cluster is built: the relay is one node, as before.</summary>
public sealed class SingleNodeTests
{
    [Fact]
    public async Task WithoutRedisSetting_TheGatewayIsASingleNode_AndNeverBuildsTheCluster()
    {
        await using var gateway = await TestGateway.StartAsync();
        Assert.IsType<Relay.Introduction.PeerRegistry>(gateway.GetService<Relay.Introduction.IPeerRegistry>());
        Assert.Equal("Healthy", await gateway.Http.GetStringAsync("/healthz"));
        Assert.DoesNotContain("relay_cluster_", await gateway.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }
}
