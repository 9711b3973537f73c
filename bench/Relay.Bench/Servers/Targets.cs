using System.Net;

namespace Relay.Bench.Servers;

/// <summary>What a scenario drives: Relay, the reference server, or the TCP floor.</summary>
internal abstract class Target : IAsyncDisposable
{
    public const string Relay = "relay";
    public const string Reference = "reference";
    public const string Floor = "floor";

    /// <summary>Three Relay gateways sharing one redis-server, as one relay (the cluster scenario only).</summary>
    public const string Cluster = "cluster";

    public abstract string Name { get; }

    /// <summary>CPU seconds used so far by every process serving this target.</summary>
    public abstract double CpuSeconds();

    /// <summary>Resident memory of the serving process(es), in bytes.</summary>
    public abstract long RssBytes();

    /// <summary>The measured phase begins (after warm-up): a profiler, if one is configured, starts here.</summary>
    public virtual Task BeginMeasureAsync(string label) => Task.CompletedTask;

    /// <summary>The measured phase is over.</summary>
    public virtual Task EndMeasureAsync() => Task.CompletedTask;

    public abstract ValueTask DisposeAsync();
}

/// <summary>A WebSocket relay server (Relay's gateway or the reference), freshly started for one measurement.</summary>
internal sealed class WebSocketServer : Target
{
    private readonly ServerProcess _process;
    private readonly string _logDirectory;
    private Tracer? _tracer;

    private WebSocketServer(string name, ServerProcess process, int port, string logDirectory)
    {
        Name = name;
        _logDirectory = logDirectory;
        _process = process;
        Port = port;
        WebSocketBase = new Uri($"ws://127.0.0.1:{port}");
    }

    public override string Name { get; }

    public int Port { get; }

    public int Pid => _process.Pid;

    public Uri WebSocketBase { get; }

    public bool HasExited => _process.HasExited;

    public override double CpuSeconds() => ProcFs.CpuSeconds(_process.Pid);

    public override long RssBytes() => ProcFs.RssBytes(_process.Pid);

    /// <summary>The gateway's environment: this process's, plus --gateway-env for trying runtime settings.</summary>
    private static Dictionary<string, string?> GatewayEnvironment(BenchConfig config)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (name, value) in config.GatewayEnvironment)
        {
            environment[name] = value;
        }

        return environment;
    }

    public static async Task<WebSocketServer> StartAsync(string name, BenchConfig config, string label, IReadOnlyList<string>? extraArguments = null, int? knownPort = null,
        string? logName = null, string? awaitedLine = null)
    {
        var port = knownPort ?? ServerProcess.FreePort();
        var log = Path.Combine(config.LogDirectory, $"{logName ?? name}.log");
        ServerProcess process;
        Uri ready;
        if (name == Relay)
        {
            // The gateway as built in Release, on its default configuration, with the relay's idle timeout
            // and server pings off (they would only add noise to storms and idle peers), quiet logs, and
            // no admission caps: the load generator opens thousands of sockets from a few loopback
            // addresses, and the reference has no such caps.
            process = ServerProcess.Start("dotnet",
                [
                    config.GatewayDll,
                    "--urls", $"http://127.0.0.1:{port}",
                    "--Logging:LogLevel:Default=Warning",
                    "--Logging:LogLevel:Relay=Warning",
                    "--Relay:KeepAliveInterval=00:00:00",
                    "--Relay:Introduction:IdleTimeout=00:00:00",
                    "--Relay:Admission:MaxConcurrentSocketsPerClient=0",
                    "--Relay:Admission:NewSocketsPerSecondPerClient=0",
                    .. config.GatewayArguments,
                    .. extraArguments ?? [],
                ],
                config.LogDirectory,
                GatewayEnvironment(config),
                log,
                awaitedLine);
            ready = new Uri($"http://127.0.0.1:{port}/healthz");
        }
        else
        {
            // @localfirst/relay's own dist/start.js, unmodified; the preload only forces its listen() onto loopback.
            process = ServerProcess.Start("node",
                ["--import", config.BindLoopbackScript, config.ReferenceScript],
                config.LogDirectory,
                new Dictionary<string, string?> { ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["DEBUG"] = null, ["NODE_ENV"] = "production" },
                log);
            ready = new Uri($"http://127.0.0.1:{port}/");
        }

        try
        {
            await process.WaitForHttpOkAsync(ready, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (awaitedLine is not null)
            {
                await process.AwaitedLine.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            }
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        Console.Error.WriteLine($"    [{label}] {name} pid {process.Pid} on {port}");
        return new WebSocketServer(name, process, port, config.LogDirectory);
    }

    public override async Task BeginMeasureAsync(string label)
    {
        if (Name == Relay)
        {
            _tracer = await Tracer.StartAsync(Pid, _logDirectory, label).ConfigureAwait(false);
        }
    }

    public override async Task EndMeasureAsync()
    {
        if (_tracer is not null)
        {
            await _tracer.StopAsync().ConfigureAwait(false);
            _tracer = null;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await EndMeasureAsync().ConfigureAwait(false);
        await _process.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// The TCP floor: one socat per pipe, relaying between the load generator's A side (which connects to
/// socat) and its B side (a listener socat connects to), with large buffers and no framing at all.
/// </summary>
internal sealed class TcpFloor : Target
{
    private readonly List<ServerProcess> _processes = [];

    public override string Name => Floor;

    public IReadOnlyList<ServerProcess> Processes => _processes;

    /// <summary>Starts a socat listening on a free port that relays to <paramref name="upstream"/>; returns its port.</summary>
    public int AddRelay(BenchConfig config, IPEndPoint upstream)
    {
        var port = ServerProcess.FreePort();
        var process = ServerProcess.Start(config.Socat,
            [
                "-b", "262144",
                $"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,nodelay",
                $"TCP:{upstream.Address}:{upstream.Port},nodelay",
            ],
            config.LogDirectory,
            new Dictionary<string, string?>(),
            Path.Combine(config.LogDirectory, "floor.log"));
        _processes.Add(process);
        return port;
    }

    public override double CpuSeconds()
    {
        var sum = 0.0;
        foreach (var process in _processes)
        {
            sum += ProcFs.CpuSeconds(process.Pid);
        }

        return sum;
    }

    public override long RssBytes()
    {
        long sum = 0;
        foreach (var process in _processes)
        {
            sum += ProcFs.RssBytes(process.Pid);
        }

        return sum;
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }

        _processes.Clear();
    }
}
