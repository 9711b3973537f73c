using System.Globalization;

namespace Relay.Bench;

/// <summary>Paths and sizes of one benchmark run (bench/run.sh fills the paths; --quick shrinks the sizes).</summary>
internal sealed class BenchConfig
{
    public const string Pipe = "pipe";
    public const string Storm = "storm";
    public const string Idle = "idle";
    public const string Pairing = "pairing";
    public const string Latency = "latency";
    public const string Cluster = "cluster";

    public static readonly string[] AllScenarios = [Pipe, Storm, Idle, Pairing, Latency, Cluster];

    public required string GatewayDll { get; init; }

    public required string ReferenceScript { get; init; }

    public required string BindLoopbackScript { get; init; }

    /// <summary>bench/pipe-driver.mjs: the pipe scenario's Node ws clients (its bench/node_modules holds ws).</summary>
    public required string NodeDriverScript { get; init; }

    public string Socat { get; init; } = "socat";

    /// <summary>The redis-server the cluster scenario starts (Debian's, 7.0 or newer).</summary>
    public string RedisServer { get; init; } = "redis-server";

    public required string OutputDirectory { get; init; }

    public string LogDirectory => Path.Combine(OutputDirectory, "logs");

    public bool Quick { get; init; }

    public int Repetitions { get; init; } = 3;

    public IReadOnlyList<string> Scenarios { get; init; } = AllScenarios;

    public IReadOnlyList<string> Targets { get; init; } = ["relay", "reference", "floor"];

    /// <summary>Peers in each introduction storm.</summary>
    public IReadOnlyList<int> StormPeers { get; init; } = [2_000, 8_000, 16_000, 64_000];

    public int IdlePeers { get; init; } = 20_000;

    /// <summary>A reference measurement that takes longer is stopped, and larger ones skipped.</summary>
    public TimeSpan ReferenceLimit { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Bytes each pipe direction carries in the measured phase (after a warm-up of a tenth of that).</summary>
    public long PipeBytesPerDirection1K { get; init; } = 16L << 20;

    public long PipeBytesPerDirection64K { get; init; } = 64L << 20;

    public int Pairings { get; init; } = 4_000;

    public int PairingConcurrency { get; init; } = 16;

    public TimeSpan LatencyDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Messages per second each direction of each latency pipe sends.</summary>
    public int LatencyRate { get; init; } = 100;

    public int SourceAddresses { get; init; } = 16;

    /// <summary>
    /// How long every measurement warms its server up first. Measured here: after 2 s Relay's JIT tiers
    /// (tiered PGO) are still compiling, costing up to 2x CPU per pairing or per GB; after 10 s they have settled.
    /// </summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(10);

    public IReadOnlyList<string> GatewayArguments { get; init; } = [];

    /// <summary>Pipe cases to run, by part of their label, several separated by "|" (e.g. "1 KiB, Node|packed"); empty: every case.</summary>
    public IReadOnlyList<string> PipeCases { get; init; } = [];

    /// <summary>Extra environment for the gateway only (NAME=VALUE), for trying runtime settings.</summary>
    public IReadOnlyDictionary<string, string> GatewayEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Most sockets one process can hold here: the open-files limit less a reserve for the runtime's own
    /// files. The server holds one per peer, and so does this load generator.
    /// </summary>
    public long MaxPeersPerProcess { get; init; }

    public static BenchConfig Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Unexpected argument '{arg}'.");
            }

            if (arg == "--quick")
            {
                flags.Add(arg);
            }
            else if (i + 1 < args.Length)
            {
                values[arg] = args[++i];
            }
            else
            {
                throw new ArgumentException($"{arg} needs a value.");
            }
        }

        string Required(string name) => values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"{name} is required.");
        string? Optional(string name) => values.GetValueOrDefault(name);
        static List<string> List(string s) => [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        static int Int(string s) => int.Parse(s.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);

        var quick = flags.Contains("--quick");
        var (_, hard) = Servers.ProcFs.OpenFileLimits();
        var config = new BenchConfig
        {
            GatewayDll = Path.GetFullPath(Required("--gateway")),
            ReferenceScript = Path.GetFullPath(Required("--reference")),
            BindLoopbackScript = Path.GetFullPath(Required("--bind-loopback")),
            NodeDriverScript = Path.GetFullPath(Required("--node-driver")),
            Socat = Optional("--socat") ?? "socat",
            RedisServer = Optional("--redis-server") ?? "redis-server",
            OutputDirectory = Path.GetFullPath(Required("--out")),
            Quick = quick,
            Repetitions = Optional("--reps") is { } reps ? Int(reps) : quick ? 1 : 3,
            Scenarios = Optional("--scenarios") is { } s ? List(s) : AllScenarios,
            Targets = Optional("--targets") is { } t ? List(t) : ["relay", "reference", "floor"],
            StormPeers = Optional("--storm-peers") is { } n ? List(n).Select(Int).ToList() : quick ? [1_000, 4_000] : [2_000, 8_000, 16_000, 64_000],
            IdlePeers = Optional("--idle-peers") is { } idle ? Int(idle) : quick ? 2_000 : 20_000,
            ReferenceLimit = TimeSpan.FromSeconds(Optional("--reference-limit") is { } limit ? Int(limit) : 60),
            PipeBytesPerDirection1K = quick ? 2L << 20 : 16L << 20,
            PipeBytesPerDirection64K = quick ? 8L << 20 : 64L << 20,
            Pairings = quick ? 500 : 4_000,
            LatencyDuration = TimeSpan.FromSeconds(quick ? 3 : 10),
            Warmup = TimeSpan.FromSeconds(Optional("--warmup") is { } w ? double.Parse(w, CultureInfo.InvariantCulture) : quick ? 0.5 : 10),
            PipeCases = Optional("--pipe-cases") is { } cases ? [.. cases.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)] : [],
            GatewayArguments = Optional("--gateway-args") is { } g ? g.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [],
            GatewayEnvironment = Optional("--gateway-env") is { } e
                ? List(e).Select(pair => pair.Split('=', 2)).ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "")
                : new Dictionary<string, string>(),
            MaxPeersPerProcess = hard == long.MaxValue ? long.MaxValue : hard - 500,
        };

        foreach (var scenario in config.Scenarios)
        {
            if (!AllScenarios.Contains(scenario))
            {
                throw new ArgumentException($"Unknown scenario '{scenario}' (known: {string.Join(", ", AllScenarios)}).");
            }
        }

        return config;
    }
}
