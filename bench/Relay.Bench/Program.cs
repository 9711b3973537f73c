using System.Diagnostics;
using System.Globalization;
using Relay.Bench;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Scenarios;

// Relay's benchmark: drives the same load at Relay, at @localfirst/relay 4.2.2 and at a TCP floor in one
// run, measures the servers from /proc, and writes results.md, results.json and chart data. Exits 1 if
// anything was lost, reordered or refused. bench/run.sh builds everything and starts this.
BenchConfig config;
try
{
    config = BenchConfig.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine("usage: Relay.Bench --gateway <Relay.Gateway.dll> --reference <dist/start.js> --bind-loopback <bind-loopback.mjs> --node-driver <pipe-driver.mjs> --out <dir>");
    Console.Error.WriteLine("         [--quick] [--reps N] [--scenarios pipe,storm,idle,pairing,latency,cluster] [--targets relay,reference,floor]");
    Console.Error.WriteLine("         [--storm-peers 2000,8000,16000,64000] [--idle-peers 20000] [--reference-limit 60] [--socat path] [--redis-server path] [--warmup seconds]");
    Console.Error.WriteLine("         [--gateway-args '--Relay:X=Y ...'] [--gateway-env NAME=VALUE,...]");
    return 2;
}

Directory.CreateDirectory(config.LogDirectory);
ThreadPool.SetMinThreads(Math.Max(Environment.ProcessorCount * 2, 8), Environment.ProcessorCount * 2);

var environment = new Dictionary<string, string>
{
    ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
    ["commit"] = Environment.GetEnvironmentVariable("BENCH_COMMIT") ?? "unknown",
    ["machine"] = $"{Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB, {Describe("uname", "-sr")}",
    ["dotnet"] = Environment.Version.ToString(),
    ["node"] = Describe("node", "--version"),
    ["ws"] = PackageVersion(Path.Combine(Path.GetDirectoryName(config.NodeDriverScript)!, "node_modules", "ws", "package.json")),
    ["socat"] = Describe(config.Socat, "-V", line => line.StartsWith("socat version", StringComparison.Ordinal)).Replace("socat version ", "", StringComparison.Ordinal),
    ["open_files_limit"] = config.MaxPeersPerProcess == long.MaxValue ? "unlimited" : (config.MaxPeersPerProcess + 500).ToString(CultureInfo.InvariantCulture),
};
Console.Error.WriteLine($"Relay benchmark: {environment["machine"]}; .NET {environment["dotnet"]}, Node {environment["node"]} (ws {environment["ws"]}), socat {environment["socat"]}; open files limit {environment["open_files_limit"]}");
Console.Error.WriteLine($"  scenarios {string.Join(",", config.Scenarios)}; {config.Repetitions} repetition(s){(config.Quick ? ", quick" : "")}; results in {config.OutputDirectory}");

var results = new Results();
var dialer = new Dialer(config.SourceAddresses);
var context = new BenchContext(config, dialer, results);
var clock = Stopwatch.StartNew();
foreach (var scenario in config.Scenarios)
{
    Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {scenario}");
    var run = scenario switch
    {
        BenchConfig.Pipe => new PipeScenario(context).RunAsync(),
        BenchConfig.Storm => new StormScenario(context).RunAsync(),
        BenchConfig.Idle => new IdleScenario(context).RunAsync(),
        BenchConfig.Pairing => new PairingScenario(context).RunAsync(),
        BenchConfig.Latency => new LatencyScenario(context).RunAsync(),
        BenchConfig.Cluster => new ClusterScenario(context).RunAsync(),
        _ => throw new InvalidOperationException(scenario),
    };
    await run;
}

Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] done");
new ReportWriter(config, results, environment).Write();
Console.Out.Write(File.ReadAllText(Path.Combine(config.OutputDirectory, "results.md")));
return results.Failures.Count == 0 ? 0 : 1;

static string PackageVersion(string packageJson)
{
    try
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(packageJson));
        return json.RootElement.GetProperty("version").GetString() ?? "unknown";
    }
    catch (IOException)
    {
        return "not found";
    }
}

static string Describe(string command, string arguments, Func<string, bool>? pick = null)
{
    try
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (pick is null ? lines.FirstOrDefault() : lines.FirstOrDefault(pick)) ?? "unknown";
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "not found";
    }
}
