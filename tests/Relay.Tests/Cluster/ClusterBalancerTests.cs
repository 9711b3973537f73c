using System.Net.WebSockets;
using System.Text;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Cluster;

/// <summary>
/// The balancer that <c>grafana/compose.cluster.yaml</c> runs (the gateway on <c>grafana/balancer.appsettings.json</c>,
/// only its destinations pointed at loopback ports) in front of three nodes: clients that know one address are
/// spread round-robin over the nodes, with no sticky sessions, and still meet and pair as on one relay.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed class ClusterBalancerTests
{
    [Fact]
    public async Task ThroughTheShippedBalancer_PeersSpreadOverThreeNodes_MeetAndPairAsOnOneRelay()
    {
        await using var cluster = await GatewayCluster.StartAsync(3, "--Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1");
        var directory = Directory.CreateTempSubdirectory("relay-balancer-");
        try
        {
            File.Copy(Path.Combine(RepositoryPaths.Root, "grafana", "balancer.appsettings.json"), Path.Combine(directory.FullName, "appsettings.json"));
            using var balancer = DotnetProcess.Start(
                directory.FullName,
                [Path.Combine(AppContext.BaseDirectory, "Relay.Gateway.dll"),
                "--urls", "http://127.0.0.1:0",
                .. cluster.Nodes.Select((node, i) => $"--ReverseProxy:Clusters:relay-nodes:Destinations:node{i + 1}:Address={node.HttpUri}")]);
            var balancerUri = new UriBuilder(await balancer.ListeningAsync()) { Scheme = "ws" }.Uri;

            // Six introduction peers on one document, two per node.
            var peers = new List<TestPeer>();
            foreach (var id in new[] { "p1", "p2", "p3", "p4", "p5", "p6" })
            {
                peers.Add(await TestPeer.ConnectAsync(balancerUri, id));
            }

            try
            {
                foreach (var peer in peers)
                {
                    await peer.JoinAsync("doc");
                }

                foreach (var peer in peers)
                {
                    var introduced = new List<string>();
                    for (var i = 0; i < peers.Count - 1; i++)
                    {
                        introduced.Add((await peer.ReceiveIntroductionAsync()).PeerId);
                    }

                    Assert.Equal(peers.Select(p => p.PeerId).Where(id => id != peer.PeerId).Order(), introduced.Order());
                }

                // They met across nodes: the balancer gave each node two of them.
                foreach (var node in cluster.Nodes)
                {
                    Assert.Equal(2, await node.MetricAsync("relay_active_peers"));
                }
            }
            finally
            {
                foreach (var peer in peers)
                {
                    await peer.DisposeAsync();
                }
            }

            // The two halves of a pairing reach two different nodes (round-robin), and are piped as on one.
            using var a = await ConnectAsync(balancerUri, "/connection/a/b/doc");
            await a.SendTextAsync("held before b arrives");
            using var b = await ConnectAsync(balancerUri, "/connection/b/a/doc");
            Assert.Equal("held before b arrives", (await b.ReceiveMessageAsync()).Text);
            await b.SendBinaryAsync([1, 2, 3]);
            Assert.Equal([1, 2, 3], (await a.ReceiveMessageAsync()).Payload);
            await a.CloseOutputAsync((WebSocketCloseStatus)4000, "done", CancellationToken.None);
            Assert.Equal(((WebSocketCloseStatus)4000, "done"), await b.ReceiveCloseAsync());

            var forwarded = 0.0;
            foreach (var node in cluster.Nodes)
            {
                forwarded += await node.MetricAsync("relay_cluster_forwarded_sockets_total", "relay_cluster_result=\"forwarded\"");
            }

            Assert.Equal(1, forwarded);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<ClientWebSocket> ConnectAsync(Uri balancer, string path)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(new Uri(balancer, path), timeout.Token);
        return socket;
    }
}
