using System.Diagnostics;
using System.Globalization;
using System.Net;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Cluster;

/// <summary>
/// A redis-server and several gateway processes (the built Relay.Gateway.dll, as operators run it) configured
/// as one cluster on the command line, each on a free loopback port. Short lease settings keep node loss quick;
/// the nodes share one Data Protection key ring (a directory), as a cluster's nodes must for signed cookies.
/// </summary>
internal sealed class GatewayCluster : IAsyncDisposable
{
    public static readonly TimeSpan LeaseInterval = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Targeted signaling's admin key, the same on every node.</summary>
    public const string AdminKey = "a-cluster-admin-key-of-some-length";

    private readonly string _workingDirectory;

    private GatewayCluster(RedisServer redis, string workingDirectory, GatewayNode[] nodes)
    {
        Redis = redis;
        _workingDirectory = workingDirectory;
        Nodes = nodes;
    }

    public RedisServer Redis { get; }

    public GatewayNode[] Nodes { get; }

    /// <summary>Starts redis-server and <paramref name="nodes"/> gateways, each with <paramref name="settings"/> (<c>--Key=value</c>) added.</summary>
    public static async Task<GatewayCluster> StartAsync(int nodes = 3, params string[] settings)
    {
        var redis = await RedisServer.StartAsync();
        var workingDirectory = Directory.CreateTempSubdirectory("relay-cluster-").FullName;
        var started = await Task.WhenAll(Enumerable.Range(0, nodes).Select(_ => GatewayNode.StartAsync(workingDirectory, redis.Configuration, settings)));
        var cluster = new GatewayCluster(redis, workingDirectory, started);
        foreach (var node in started)
        {
            await node.UntilHealthAsync("Healthy");

            // Published its internal URL: a pairing half that meets one of its pairings elsewhere is forwarded to it.
            await Eventually.TrueAsync(() => node.Output.Contains("takes forwarded pairings at 'http", StringComparison.Ordinal), "the node publishes its internal URL");
        }

        return cluster;
    }

    /// <summary>
    /// Kills redis-server once every node has read the list of live nodes it places pairings and sigver groups by
    /// while Redis is unavailable, then waits until each runs degraded.
    /// </summary>
    public async Task KillRedisOnceEveryNodeKnowsTheOthersAsync()
    {
        foreach (var node in Nodes)
        {
            await Eventually.TrueAsync(() => node.Output.Contains($"pairing by hash (while Redis is unavailable): {Nodes.Length}.", StringComparison.Ordinal), "each node knows the live nodes");
        }

        await Redis.KillAsync();
        foreach (var node in Nodes)
        {
            await node.UntilHealthAsync("Degraded");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            node.Dispose();
        }

        await Redis.DisposeAsync();
        Directory.Delete(_workingDirectory, recursive: true);
    }
}

/// <summary>One gateway process of a <see cref="GatewayCluster"/>.</summary>
internal sealed class GatewayNode : IDisposable
{
    private readonly DotnetProcess _process;

    private GatewayNode(DotnetProcess process, Uri httpUri)
    {
        _process = process;
        HttpUri = httpUri;
        WebSocketUri = new UriBuilder(httpUri) { Scheme = "ws" }.Uri;
        Http = new HttpClient { BaseAddress = httpUri, Timeout = TestTimeouts.Default };
    }

    public Uri HttpUri { get; }

    public Uri WebSocketUri { get; }

    public HttpClient Http { get; }

    public string Output => _process.Output;

    public static async Task<GatewayNode> StartAsync(string workingDirectory, string redis, params string[] settings)
    {
        var process = DotnetProcess.Start(
            workingDirectory,
            [Path.Combine(AppContext.BaseDirectory, "Relay.Gateway.dll"),
            "--urls", "http://127.0.0.1:0",
            $"--Relay:Cluster:Redis={redis}",
            $"--Relay:Cluster:LeaseInterval={GatewayCluster.LeaseInterval.ToString("c", CultureInfo.InvariantCulture)}",
            $"--Relay:Cluster:NodeTimeout={GatewayCluster.NodeTimeout.ToString("c", CultureInfo.InvariantCulture)}",
            $"--Gateway:DataProtectionKeys={Path.Combine(workingDirectory, "keys")}",
            $"--Relay:Targeted:AdminKey={GatewayCluster.AdminKey}",
            "--Relay:Rooms:HeartbeatInterval=00:00:01",
            "--Relay:Admission:NewSocketsPerSecondPerClient=0",
            "--Relay:Admission:MaxConcurrentSocketsPerClient=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Relay=Information",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
            .. settings]);
        return new GatewayNode(process, await process.ListeningAsync());
    }

    public Task<TestPeer> ConnectAsync(string peerId) => TestPeer.ConnectAsync(WebSocketUri, peerId);

    /// <summary>The health endpoint's body (its status code must be 200 whatever the cluster's state).</summary>
    public async Task<string> HealthAsync()
    {
        using var response = await Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The sum of a metric's series on <c>/metrics</c> whose labels contain <paramref name="labels"/> (e.g. <c>relay_cluster_result="sent"</c>).</summary>
    public async Task<double> MetricAsync(string name, string labels = "")
    {
        var text = await Http.GetStringAsync("/metrics");
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains(labels, StringComparison.Ordinal))
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    public async Task UntilHealthAsync(string status)
    {
        using var deadline = new CancellationTokenSource(TestTimeouts.Default);
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        string last;
        while ((last = await HealthAsync()) != status)
        {
            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting for /healthz to say {status} (last: {last}). Gateway output:\n{Output}");
            }

            await tick.WaitForNextTickAsync(CancellationToken.None);
        }
    }

    /// <summary>SIGKILL: the node vanishes without leaving anything, as a crashed or killed machine does.</summary>
    public async Task KillAsync()
    {
        await SignalAsync("-KILL");
        await _process.WaitForExitAsync();
    }

    public Task<int> WaitForExitAsync() => _process.WaitForExitAsync();

    /// <summary>Sends a signal to the gateway process (<c>-STOP</c> freezes it as a long pause would, <c>-CONT</c> resumes it).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    public void Dispose()
    {
        Http.Dispose();
        _process.Dispose();
    }
}
