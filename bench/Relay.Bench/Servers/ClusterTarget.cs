using System.Globalization;
using System.Net.Sockets;

namespace Relay.Bench.Servers;

/// <summary>
/// Relay as several nodes: one redis-server (no persistence) and three gateways, each started as
/// <see cref="WebSocketServer"/> starts one gateway plus <c>Relay:Cluster:Redis</c> and its own
/// <c>InternalUrl</c>. Its CPU is every gateway's and Redis's: what the cluster costs for the same work.
/// </summary>
internal sealed class ClusterTarget : Target
{
    public const int NodeCount = 3;

    private readonly ServerProcess _redis;
    private readonly List<WebSocketServer> _nodes = [];

    private ClusterTarget(ServerProcess redis) => _redis = redis;

    public override string Name => Cluster;

    public IReadOnlyList<WebSocketServer> Nodes => _nodes;

    /// <summary>Every node's WebSocket base, in node order.</summary>
    public IEnumerable<Uri> WebSocketBases => _nodes.Select(node => node.WebSocketBase);

    public double RedisCpuSeconds() => ProcFs.CpuSeconds(_redis.Pid);

    public static async Task<ClusterTarget> StartAsync(BenchConfig config, string label)
    {
        var redisPort = ServerProcess.FreePort();
        var redis = ServerProcess.Start(config.RedisServer,
            ["--port", redisPort.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            config.LogDirectory,
            new Dictionary<string, string?>(),
            Path.Combine(config.LogDirectory, "redis.log"));
        var cluster = new ClusterTarget(redis);
        try
        {
            await WaitForTcpAsync(redisPort, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            for (var n = 0; n < NodeCount; n++)
            {
                var port = ServerProcess.FreePort();
                // Ready once it is in Redis with its internal URL: partners are forwarded to it from then on.
                cluster._nodes.Add(await WebSocketServer.StartAsync(Relay, config, $"{label} node {n + 1}",
                    [
                        $"--Relay:Cluster:Redis=127.0.0.1:{redisPort.ToString(CultureInfo.InvariantCulture)}",
                        $"--Relay:Cluster:InternalUrl=http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
                        "--Logging:LogLevel:Relay.Cluster.ClusterPairings=Information",
                    ],
                    port,
                    logName: $"relay-node{n + 1}",
                    awaitedLine: "takes forwarded pairings at").ConfigureAwait(false));
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task WaitForTcpAsync(int port, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port, deadline.Token).ConfigureAwait(false);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, deadline.Token).ConfigureAwait(false);
            }
        }
    }

    public override double CpuSeconds() => _nodes.Sum(node => node.CpuSeconds()) + RedisCpuSeconds();

    public override long RssBytes() => _nodes.Sum(node => node.RssBytes()) + ProcFs.RssBytes(_redis.Pid);

    public override async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }

        _nodes.Clear();
        await _redis.DisposeAsync().ConfigureAwait(false);
    }
}
