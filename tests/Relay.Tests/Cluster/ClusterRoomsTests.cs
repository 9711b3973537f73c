using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Relay.Tests.Infrastructure;
using Relay.Tests.Rooms;

namespace Relay.Tests.Cluster;

/// <summary>
/// Rooms (videre) across three gateway processes and one redis-server: members spread over the nodes exchange
/// exactly the packets of one node (per sender in order, each once), a killed node's members leave for the others,
/// and Redis restarted empty is repaired by the resync.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed partial class ClusterRoomsTests
{
    private const int Users = 6;
    private const int Broadcasts = 5;

    [Fact]
    public async Task MembersSpreadOverThreeNodes_ExchangeExactlyThePacketsOfOneNode()
    {
        List<string> oneNode;
        await using (var single = await TestGateway.StartAsync())
        {
            oneNode = await RunScenarioAsync(_ => single.WebSocketUri);
        }

        await using var cluster = await GatewayCluster.StartAsync();
        var threeNodes = await RunScenarioAsync(node => cluster.Nodes[node].WebSocketUri);

        Assert.Equal(oneNode, threeNodes);

        // Every room message published to another node arrived there once: delivered to its members, or stale
        // when they had all left meanwhile (the scenario's sockets close one after another at its end).
        async Task<(double Sent, double Arrived)> CountAsync()
        {
            double sent = 0, arrived = 0;
            foreach (var node in cluster.Nodes)
            {
                sent += await node.MetricAsync("relay_cluster_room_messages_total", "relay_cluster_result=\"sent\"");
                arrived += await node.MetricAsync("relay_cluster_room_messages_total", "relay_cluster_result=\"delivered\"")
                    + await node.MetricAsync("relay_cluster_room_messages_total", "relay_cluster_result=\"stale\"");
            }

            return (sent, arrived);
        }

        await Eventually.TrueAsync(async () => await CountAsync() is var (sent, arrived) && sent == arrived, "every room message sent is counted where it arrived");
        Assert.True((await CountAsync()).Sent >= Users * Broadcasts, "broadcasts crossed nodes");
        foreach (var node in cluster.Nodes)
        {
            Assert.True(await node.MetricAsync("relay_cluster_redis_duration_seconds_count", "relay_cluster_operation=\"room_send\"") > 0);
        }
    }

    /// <summary>
    /// Six users (raw and SockJS) on nodes <c>i % 3</c>: connects, concurrent broadcasts, pings, a disconnect
    /// and reconnect, a replacement from another node (4409), a close. Returns what each user received.
    /// </summary>
    private static async Task<List<string>> RunScenarioAsync(Func<int, Uri> nodeUri)
    {
        var transcript = new List<string>();
        var clients = new RoomClient?[Users];
        try
        {
            for (var i = 0; i < Users; i++)
            {
                clients[i] = await RoomClient.ConnectAsync(nodeUri(i % 3), sockJs: i % 2 == 1);
            }

            async Task ReadAsync(int receiver, string step)
            {
                var packet = await clients[receiver]!.ReceivePacketAsync();
                transcript.Add($"{step} -> u{receiver}: {Describe(packet)}");
            }

            for (var i = 0; i < Users; i++)
            {
                await clients[i]!.SendPacketAsync("connect", $"u{i}", "room");
                for (var j = 0; j <= i; j++)
                {
                    await ReadAsync(j, $"connect u{i}");
                }
            }

            // Everyone broadcasts at once: each receiver gets every packet once, each sender's in its order.
            await Task.WhenAll(Enumerable.Range(0, Users).Select(async i =>
            {
                for (var k = 0; k < Broadcasts; k++)
                {
                    await clients[i]!.SendPacketAsync("broadcast", $"u{i}", "room", $"u{i}-{k}");
                }
            }));
            var received = await Task.WhenAll(Enumerable.Range(0, Users).Select(async r =>
            {
                var bySender = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
                for (var n = 0; n < Users * Broadcasts; n++)
                {
                    var packet = await clients[r]!.ReceivePacketAsync();
                    var sender = (string)packet["Header"]!["UserId"]!;
                    (bySender.TryGetValue(sender, out var list) ? list : bySender[sender] = []).Add(Describe(packet));
                }

                return bySender.Select(pair => $"broadcasts -> u{r} from {pair.Key}: {string.Join(", ", pair.Value)}");
            }));
            transcript.AddRange(received.SelectMany(lines => lines));

            await clients[0]!.SendPacketAsync("ping", "u0", "room");
            await ReadAsync(0, "ping");
            await clients[3]!.SendPacketAsync("ping", "u3", "room");
            await ReadAsync(3, "ping");

            // A disconnect, then a connect again: last in join order now.
            await clients[2]!.SendPacketAsync("disconnect", "u2", "room");
            foreach (var j in new[] { 0, 1, 3, 4, 5 })
            {
                await ReadAsync(j, "disconnect u2");
            }

            await clients[2]!.SendPacketAsync("connect", "u2", "room");
            for (var j = 0; j < Users; j++)
            {
                await ReadAsync(j, "reconnect u2");
            }

            // u3 (node 0) connects again from node 1: the old socket closes with 4409, the room is told.
            var again = await RoomClient.ConnectAsync(nodeUri(1), sockJs: false);
            await again.SendPacketAsync("connect", "u3", "room");
            transcript.Add($"replaced u3 closed with {await clients[3]!.ReceiveCloseCodeAsync()}");
            await clients[3]!.DisposeAsync();
            clients[3] = again;
            foreach (var j in new[] { 0, 1, 2, 4, 5 })
            {
                await ReadAsync(j, "replace u3");
                await ReadAsync(j, "replace u3");
            }

            await ReadAsync(3, "replace u3 (new socket)");

            // A socket that closes leaves its room.
            await clients[5]!.DisposeAsync();
            clients[5] = null;
            for (var j = 0; j < 5; j++)
            {
                await ReadAsync(j, "close u5");
            }

            await clients[4]!.SendPacketAsync("ping", "u4", "room");
            await ReadAsync(4, "ping");
            return transcript;
        }
        finally
        {
            foreach (var client in clients)
            {
                if (client is not null)
                {
                    await client.DisposeAsync();
                }
            }
        }
    }

    /// <summary>The real npm sockjs-client (tests/interop-rooms/interop.mjs) with its clients on three nodes: alice on 0, bob on 1, the raw peer on 2, bob's second socket on 0.</summary>
    [Fact]
    [Trait("Category", "Interop")]
    public async Task SockJsClient_WithItsClientsOnThreeNodes_ConnectsPingsBroadcastsIsReplacedAndLeaves()
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop-rooms");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "sockjs-client", "package.json")),
            "sockjs-client is not installed: run `npm install --prefix tests/interop-rooms` (bash .ci/run does).");
        await using var cluster = await GatewayCluster.StartAsync();

        var (exitCode, output, errors) = await NodeScript.RunAsync(
            interop, ["interop.mjs", .. cluster.Nodes.Select(node => new Uri(node.HttpUri, "/echo").ToString())]);

        Assert.True(exitCode == 0, $"interop.mjs failed ({exitCode}):\n{output}\n{errors}");
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        JsonElement Event(string name) => events.Single(e => e.GetProperty("event").GetString() == name);
        Assert.Equal(["alice", "bob", "carol"], Event("ping").GetProperty("users").EnumerateArray().Select(user => user.GetString()));
        Assert.Equal("Ice Answer", Event("exchanged").GetProperty("answer").GetString());
        Assert.Equal(4409, Event("replaced").GetProperty("code").GetInt32());
        Assert.Equal("done", events[^1].GetProperty("event").GetString());
    }

    [Fact]
    public async Task KilledNode_ItsMembersLeaveTheRoomForTheOthers()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(cluster.Nodes[0].WebSocketUri, sockJs: false);
        await using var bob = await RoomClient.ConnectAsync(cluster.Nodes[1].WebSocketUri, sockJs: true);
        await using var doomed = await RoomClient.ConnectAsync(cluster.Nodes[2].WebSocketUri, sockJs: false);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);
        await doomed.JoinAsync("doomed", "room", alice, bob);

        await cluster.Nodes[2].KillAsync();

        foreach (var survivor in new[] { alice, bob })
        {
            var packet = await survivor.ReceivePacketAsync();
            Assert.Equal("disconnect", (string?)packet["Header"]!["Event"]);
            Assert.Equal("doomed", (string?)packet["Header"]!["UserId"]);
        }

        await alice.SendPacketAsync("ping", "alice", "room");
        Assert.Equal("[\"alice\",\"bob\"]", (string?)(await alice.ReceivePacketAsync())["Payload"]);
        await alice.SendPacketAsync("broadcast", "alice", "room", "still here");
        Assert.Equal("still here", (string?)(await alice.ReceivePacketAsync())["Payload"]);
        Assert.Equal("still here", (string?)(await bob.ReceivePacketAsync())["Payload"]);
    }

    [Fact]
    public async Task RedisOutage_RoomsGoOnPerNode_AndAnEmptyRedisIsResynchronised()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(cluster.Nodes[0].WebSocketUri, sockJs: false);
        await using var carol = await RoomClient.ConnectAsync(cluster.Nodes[0].WebSocketUri, sockJs: true);
        await using var bob = await RoomClient.ConnectAsync(cluster.Nodes[1].WebSocketUri, sockJs: false);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);
        var resyncsBefore = cluster.Nodes.Select(node => CompleteRoomResyncs(node.Output)).ToArray();

        await cluster.Redis.KillAsync();
        foreach (var node in cluster.Nodes)
        {
            await node.UntilHealthAsync("Degraded");
        }

        // Degraded: a member joins on node 0 and packets go on between the members of one node.
        await carol.JoinAsync("carol", "room", alice);
        await alice.SendPacketAsync("broadcast", "alice", "room", "local");
        Assert.Equal("local", (string?)(await alice.ReceivePacketAsync())["Payload"]);
        Assert.Equal("local", (string?)(await carol.ReceivePacketAsync())["Payload"]);

        await cluster.Redis.StartAgainAsync();
        for (var i = 0; i < cluster.Nodes.Length; i++)
        {
            var node = cluster.Nodes[i];
            await node.UntilHealthAsync("Healthy");
            var before = resyncsBefore[i];
            await Eventually.TrueAsync(() => CompleteRoomResyncs(node.Output) > before, $"node {i} re-publishes its room memberships");
        }

        // Redis was emptied: the memberships are back, so bob hears both users of node 0 and they hear him.
        await bob.SendPacketAsync("ping", "bob", "room");
        var users = JsonNode.Parse((string)(await bob.ReceivePacketAsync())["Payload"]!)!.AsArray().Select(user => (string)user!);
        Assert.Equal(["alice", "bob", "carol"], users.Order(StringComparer.Ordinal));
        await carol.SendPacketAsync("broadcast", "carol", "room", "after");
        foreach (var member in new[] { alice, bob, carol })
        {
            var packet = await member.ReceivePacketAsync();
            Assert.Equal("carol", (string?)packet["Header"]!["UserId"]);
            Assert.Equal("after", (string?)packet["Payload"]);
        }

        await bob.SendPacketAsync("broadcast", "bob", "room", "back");
        foreach (var member in new[] { bob, alice, carol })
        {
            Assert.Equal("back", (string?)(await member.ReceivePacketAsync())["Payload"]);
        }
    }


    private static string Describe(JsonNode packet) =>
        $"{packet["Header"]!["Event"]} {packet["Header"]!["UserId"]} {packet["Header"]!["RoomId"]} {packet["Payload"]?.ToJsonString()}";

    private static int CompleteRoomResyncs(string output) => CompleteRoomResync().Count(output);

    [GeneratedRegex(@"Re-published \d+ room memberships to Redis \(complete: True\)")]
    private static partial Regex CompleteRoomResync();
}
