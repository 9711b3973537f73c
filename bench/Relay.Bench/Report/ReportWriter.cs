using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Relay.Bench.Report;

/// <summary>Writes results.md (the tables), results.json (every sample, medians and ratios) and the chart's data files.</summary>
internal sealed class ReportWriter(BenchConfig config, Results results, IReadOnlyDictionary<string, string> environment)
{
    private const string Relay = "relay";
    private const string Reference = "reference";
    private const string Floor = "floor";

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>The rows of the main table: which metric of which scenario, how it reads, and which way is better.</summary>
    private static readonly (string Scenario, string Metric, string Label, string Format)[] Rows =
    [
        (BenchConfig.Pipe, "server_cpu_s_per_gb", "server CPU s per GB", "0.00"),
        (BenchConfig.Pipe, "mb_per_s", "throughput MB/s", "0"),
        (BenchConfig.Pipe, "wall_s", "wall time s", "0.00"),
        (BenchConfig.Storm, "joins_per_s", "joins/s", "#,0"),
        (BenchConfig.Storm, "server_cpu_us_per_join", "server CPU µs per join", "0.0"),
        (BenchConfig.Storm, "storm_s", "wall time s", "0.000"),
        (BenchConfig.Storm, "joined_rss_per_peer_kib", "RSS per joined peer KiB", "0.0"),
        (BenchConfig.Idle, "rss_per_peer_kib", "RSS per idle peer KiB", "0.00"),
        (BenchConfig.Idle, "server_rss_mib", "server RSS MiB", "0"),
        (BenchConfig.Pairing, "pairings_per_s", "pairings/s", "#,0"),
        (BenchConfig.Pairing, "server_cpu_us_per_pairing", "server CPU µs per pairing", "0"),
        (BenchConfig.Pairing, "pairing_p50_ms", "pairing time p50 ms", "0.00"),
        (BenchConfig.Latency, "p50_ms", "latency p50 ms", "0.000"),
        (BenchConfig.Latency, "p99_ms", "latency p99 ms", "0.000"),
        (BenchConfig.Latency, "server_cpu_pct", "server CPU %", "0.0"),
        (BenchConfig.Cluster, "server_cpu_s_per_gb", "server CPU s per GB (every node and Redis)", "0.00"),
        (BenchConfig.Cluster, "redis_cpu_s_per_gb", "of which Redis", "0.000"),
        (BenchConfig.Cluster, "mb_per_s", "throughput MB/s", "0"),
    ];

    private static readonly Dictionary<string, string> ScenarioTitles = new()
    {
        [BenchConfig.Pipe] = "1. Pipe throughput",
        [BenchConfig.Storm] = "2. Introduction storm",
        [BenchConfig.Idle] = "3. Idle footprint",
        [BenchConfig.Pairing] = "4. Pairing rate",
        [BenchConfig.Latency] = "5. Relay latency",
        [BenchConfig.Cluster] = "6. Several nodes",
    };

    public void Write()
    {
        var summary = Summarize();
        var targets = EvaluateTargets();
        File.WriteAllText(Path.Combine(config.OutputDirectory, "results.md"), Markdown(summary, targets));
        WriteJson(summary, targets);
        WriteChartData();
    }

    private sealed record SummaryRow(string Scenario, string Case, string Metric, string Label, string Format,
        double Relay, double Reference, double Floor, int RelayRuns, int ReferenceRuns, int FloorRuns)
    {
        public double RelayOverReference => Relay / Reference;

        public double RelayOverFloor => Relay / Floor;
    }

    private sealed record TargetCheck(string Name, string Goal, string Measured, bool? Met);

    private List<SummaryRow> Summarize()
    {
        var rows = new List<SummaryRow>();
        foreach (var scenario in BenchConfig.AllScenarios)
        {
            foreach (var @case in results.Cases(scenario))
            {
                foreach (var (rowScenario, metric, label, format) in Rows)
                {
                    if (rowScenario != scenario)
                    {
                        continue;
                    }

                    var r = results.Values(scenario, @case, Relay, metric);
                    var x = results.Values(scenario, @case, Reference, metric);
                    var f = results.Values(scenario, @case, Floor, metric);
                    var anySkip = results.SkipOf(scenario, @case, Relay) ?? results.SkipOf(scenario, @case, Reference);
                    if (r.Count + x.Count + f.Count == 0 && anySkip is null)
                    {
                        continue;
                    }

                    rows.Add(new SummaryRow(scenario, @case, metric, label, format,
                        Statistics.Median(r), Statistics.Median(x), Statistics.Median(f), r.Count, x.Count, f.Count));
                }
            }
        }

        return rows;
    }

    private List<TargetCheck> EvaluateTargets()
    {
        var checks = new List<TargetCheck>();
        var pipe1K = Scenarios.PipeScenario.RealClient1K;
        var pipe64K = Scenarios.PipeScenario.RealClient64K;
        var cpuRelay1K = results.Median(BenchConfig.Pipe, pipe1K, Relay, "server_cpu_s_per_gb");
        var cpuRef1K = results.Median(BenchConfig.Pipe, pipe1K, Reference, "server_cpu_s_per_gb");
        var cSharp1K = Scenarios.PipeScenario.CSharpPerMessage1K;
        checks.Add(Check("pipe, 1 KiB messages, Node ws clients (real-client sends): server CPU s per GB", "≤ 0.35 × reference (stretch 0.25 ×)",
            cpuRelay1K / cpuRef1K, 0.35,
            $"{cpuRelay1K:0.00} vs reference {cpuRef1K:0.00}; C# generator, one write per message: " +
            $"{results.Median(BenchConfig.Pipe, cSharp1K, Relay, "server_cpu_s_per_gb"):0.00} vs reference {results.Median(BenchConfig.Pipe, cSharp1K, Reference, "server_cpu_s_per_gb"):0.00}"));

        // 64 KiB against the floor, with real-client sends (the C# generator's line beside it: it costs Relay less).
        var cpuRelay64K = results.Median(BenchConfig.Pipe, pipe64K, Relay, "server_cpu_s_per_gb");
        var cpuFloor64K = results.Median(BenchConfig.Pipe, pipe64K, Floor, "server_cpu_s_per_gb");
        var cSharp64K = Scenarios.PipeScenario.Bulk64K;
        checks.Add(Check("pipe, 64 KiB messages, Node ws clients: server CPU s per GB", "≤ 1.5 × TCP floor",
            cpuRelay64K / cpuFloor64K, 1.5,
            $"{cpuRelay64K:0.00} vs floor {cpuFloor64K:0.00}, reference {results.Median(BenchConfig.Pipe, pipe64K, Reference, "server_cpu_s_per_gb"):0.00}; " +
            $"C# generator: {results.Median(BenchConfig.Pipe, cSharp64K, Relay, "server_cpu_s_per_gb"):0.00} vs floor {results.Median(BenchConfig.Pipe, cSharp64K, Floor, "server_cpu_s_per_gb"):0.00}"));

        // Storm: joins/s at 16,000 (or the largest N measured) and flatness from the smallest N to the largest.
        var storm = results.Cases(BenchConfig.Storm)
            .Select(c => (Case: c, Peers: int.Parse(c[2..].Replace(",", "", StringComparison.Ordinal), Invariant),
                JoinsPerSecond: results.Median(BenchConfig.Storm, c, Relay, "joins_per_s")))
            .Where(s => !double.IsNaN(s.JoinsPerSecond)).OrderBy(s => s.Peers).ToList();
        if (storm.Count > 0)
        {
            var at16K = storm.FirstOrDefault(s => s.Peers == 16_000);
            var headline = at16K.Case is null ? storm[^1] : at16K;
            checks.Add(new TargetCheck($"introduction storm: joins/s at {headline.Peers:N0} peers", "≥ 50,000",
                $"{headline.JoinsPerSecond:#,0} (reference {ReferenceJoins(headline.Case)})",
                headline.JoinsPerSecond >= 50_000));
            var flatness = storm[^1].JoinsPerSecond / storm[0].JoinsPerSecond;
            checks.Add(new TargetCheck($"introduction storm: flat from {storm[0].Peers:N0} to {storm[^1].Peers:N0} peers",
                "joins/s at the largest N ≥ 0.7 × at the smallest",
                $"{flatness:0.00} × ({storm[0].JoinsPerSecond:#,0} → {storm[^1].JoinsPerSecond:#,0})", flatness >= 0.7));
        }

        foreach (var @case in results.Cases(BenchConfig.Idle))
        {
            var perPeer = results.Median(BenchConfig.Idle, @case, Relay, "rss_per_peer_kib");
            checks.Add(new TargetCheck($"idle peer RSS ({@case})", "≤ 8 KiB per peer",
                $"{perPeer:0.00} KiB (reference {results.Median(BenchConfig.Idle, @case, Reference, "rss_per_peer_kib"):0.00})",
                double.IsNaN(perPeer) ? null : perPeer <= 8));
        }

        // Scaling out: no target, but the price of a message crossing two nodes, said next to the others.
        var oneNode = results.Median(BenchConfig.Cluster, Scenarios.ClusterScenario.OneNode, Relay, "server_cpu_s_per_gb");
        var threeNodes = results.Median(BenchConfig.Cluster, Scenarios.ClusterScenario.ThreeNodes, Relay, "server_cpu_s_per_gb");
        if (!double.IsNaN(oneNode) || !double.IsNaN(threeNodes))
        {
            checks.Add(new TargetCheck("several nodes: pipe CPU per GB, halves on different nodes of three, against one node", "reported (a message crosses two nodes)",
                double.IsNaN(threeNodes / oneNode) ? "not measured"
                    : $"{threeNodes / oneNode:0.00} × ({threeNodes:0.00} vs {oneNode:0.00}; Redis {results.Median(BenchConfig.Cluster, Scenarios.ClusterScenario.ThreeNodes, Relay, "redis_cpu_s_per_gb"):0.000})", null));
        }

        return checks;

        string ReferenceJoins(string @case)
        {
            var joins = results.Median(BenchConfig.Storm, @case, Reference, "joins_per_s");
            return !double.IsNaN(joins) ? joins.ToString("#,0", Invariant)
                : results.SkipOf(BenchConfig.Storm, @case, Reference) is { } skip ? $"skipped: {skip.Reason}" : "not measured";
        }

        static TargetCheck Check(string name, string goal, double ratio, double limit, string detail) =>
            new(name, goal, double.IsNaN(ratio) ? "not measured" : $"{ratio:0.00} × ({detail})", double.IsNaN(ratio) ? null : ratio <= limit);
    }

    private string Markdown(List<SummaryRow> summary, List<TargetCheck> targets)
    {
        var md = new StringBuilder();
        md.AppendLine(Invariant, $"# Relay benchmark, {environment["date"]}");
        md.AppendLine();
        md.AppendLine(Invariant, $"Relay (gateway {environment["commit"]}, .NET {environment["dotnet"]}) against `@localfirst/relay` 4.2.2 (Node {environment["node"]}) and a TCP floor (socat {environment["socat"]}), one run, on {environment["machine"]}. The real-client pipe lines are driven by Node `ws` {environment["ws"]} clients (bench/pipe-driver.mjs), the rest by the C# load generator.");
        md.AppendLine(Invariant, $"Medians of {config.Repetitions} repetition(s){(config.Quick ? " (--quick: small sizes)" : "")}; targets run in rotating order each repetition; every server freshly started for every measurement; costs read from the server's /proc/<pid>/stat and /proc/<pid>/status. Ratios are Relay's median over the other's median (below 1: Relay uses less, or for rates, does less).");
        md.AppendLine();
        md.AppendLine("## Targets");
        md.AppendLine();
        md.AppendLine("| target | goal | measured | met |");
        md.AppendLine("|---|---|---|---|");
        foreach (var t in targets)
        {
            md.AppendLine(Invariant, $"| {t.Name} | {t.Goal} | {t.Measured} | {(t.Met is null ? "n/a" : t.Met.Value ? "yes" : "**no**")} |");
        }

        md.AppendLine();
        md.AppendLine("## Results");
        md.AppendLine();
        md.AppendLine("| scenario | case | metric | Relay | reference | floor | Relay ÷ reference | Relay ÷ floor | runs R/ref/floor |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---|");
        var footnotes = new List<string>();
        foreach (var row in summary)
        {
            md.AppendLine(Invariant, $"| {ScenarioTitles[row.Scenario]} | {row.Case} | {row.Label} | {Cell(row.Relay, row.Format, row.Scenario, row.Case, Relay, footnotes)} | {Cell(row.Reference, row.Format, row.Scenario, row.Case, Reference, footnotes)} | {Cell(row.Floor, row.Format, row.Scenario, row.Case, Floor, footnotes)} | {Ratio(row.RelayOverReference)} | {Ratio(row.RelayOverFloor)} | {row.RelayRuns}/{row.ReferenceRuns}/{row.FloorRuns} |");
        }

        md.AppendLine();
        for (var i = 0; i < footnotes.Count; i++)
        {
            md.AppendLine(Invariant, $"[{i + 1}] {footnotes[i]}  ");
        }

        if (results.Notes.Count > 0)
        {
            md.AppendLine();
            foreach (var note in results.Notes)
            {
                md.AppendLine(Invariant, $"- {note}");
            }
        }

        md.AppendLine();
        md.AppendLine(results.Failures.Count == 0
            ? "No failures: every byte arrived, in order, and every expected introduction was received."
            : $"**{results.Failures.Count} failure(s):**");
        foreach (var failure in results.Failures)
        {
            md.AppendLine(Invariant, $"- {failure}");
        }

        return md.ToString();
    }

    private string Cell(double value, string format, string scenario, string @case, string target, List<string> footnotes)
    {
        if (!double.IsNaN(value))
        {
            return value.ToString(format, Invariant);
        }

        if (results.SkipOf(scenario, @case, target) is { } skip)
        {
            var note = $"{target}, {@case}: {skip.Reason}";
            var index = footnotes.IndexOf(note);
            if (index < 0)
            {
                footnotes.Add(note);
                index = footnotes.Count - 1;
            }

            return $"skipped [{index + 1}]";
        }

        return "–";
    }

    private static string Ratio(double ratio) => double.IsNaN(ratio) || double.IsInfinity(ratio) ? "–" : ratio.ToString(ratio < 0.1 ? "0.000" : "0.00", Invariant);

    private void WriteJson(List<SummaryRow> summary, List<TargetCheck> targets)
    {
        static object? Number(double v) => double.IsNaN(v) || double.IsInfinity(v) ? null : Math.Round(v, 6);
        var document = new Dictionary<string, object?>
        {
            ["environment"] = environment,
            ["config"] = new Dictionary<string, object?>
            {
                ["quick"] = config.Quick,
                ["repetitions"] = config.Repetitions,
                ["scenarios"] = config.Scenarios,
                ["targets"] = config.Targets,
                ["storm_peers"] = config.StormPeers,
                ["idle_peers"] = config.IdlePeers,
                ["reference_limit_s"] = config.ReferenceLimit.TotalSeconds,
                ["pipe_bytes_per_direction_1k"] = config.PipeBytesPerDirection1K,
                ["pipe_bytes_per_direction_64k"] = config.PipeBytesPerDirection64K,
                ["pairings"] = config.Pairings,
                ["pairing_concurrency"] = config.PairingConcurrency,
                ["latency_duration_s"] = config.LatencyDuration.TotalSeconds,
                ["latency_rate_per_direction"] = config.LatencyRate,
                ["max_peers_per_process"] = config.MaxPeersPerProcess,
            },
            ["targets"] = targets.Select(t => new { name = t.Name, goal = t.Goal, measured = t.Measured, met = t.Met }),
            ["summary"] = summary.Select(r => new Dictionary<string, object?>
            {
                ["scenario"] = r.Scenario,
                ["case"] = r.Case,
                ["metric"] = r.Metric,
                ["relay"] = Number(r.Relay),
                ["reference"] = Number(r.Reference),
                ["floor"] = Number(r.Floor),
                ["relay_over_reference"] = Number(r.RelayOverReference),
                ["relay_over_floor"] = Number(r.RelayOverFloor),
                ["runs"] = new[] { r.RelayRuns, r.ReferenceRuns, r.FloorRuns },
            }),
            ["samples"] = results.Samples.Select(s => new Dictionary<string, object?>
            {
                ["scenario"] = s.Scenario,
                ["case"] = s.Case,
                ["target"] = s.Target,
                ["repetition"] = s.Repetition + 1,
                ["metrics"] = s.Metrics.ToDictionary(m => m.Key, m => Number(m.Value)),
            }),
            ["skips"] = results.Skips.Select(s => new { scenario = s.Scenario, @case = s.Case, target = s.Target, reason = s.Reason }),
            ["notes"] = results.Notes,
            ["failures"] = results.Failures,
        };
        File.WriteAllText(Path.Combine(config.OutputDirectory, "results.json"),
            JsonSerializer.Serialize(document, JsonOptions));
    }

    /// <summary>Whitespace-separated tables for bench/chart.gp; "?" marks a value not measured.</summary>
    private void WriteChartData()
    {
        var directory = Path.Combine(config.OutputDirectory, "chart");
        Directory.CreateDirectory(directory);
        string V(double v) => double.IsNaN(v) ? "?" : v.ToString("0.######", Invariant);

        var storm = new StringBuilder("# peers relay_joins_per_s reference_joins_per_s relay_cpu_us_per_join reference_cpu_us_per_join\n");
        foreach (var @case in results.Cases(BenchConfig.Storm)
            .OrderBy(c => int.Parse(c[2..].Replace(",", "", StringComparison.Ordinal), Invariant)))
        {
            var peers = @case[2..].Replace(",", "", StringComparison.Ordinal);
            storm.AppendLine(Invariant, $"{peers} {V(results.Median(BenchConfig.Storm, @case, Relay, "joins_per_s"))} {V(results.Median(BenchConfig.Storm, @case, Reference, "joins_per_s"))} {V(results.Median(BenchConfig.Storm, @case, Relay, "server_cpu_us_per_join"))} {V(results.Median(BenchConfig.Storm, @case, Reference, "server_cpu_us_per_join"))}");
        }

        File.WriteAllText(Path.Combine(directory, "storm.dat"), storm.ToString());

        var pipe = new StringBuilder("# case relay reference floor (server CPU s per GB)\n");
        foreach (var @case in results.Cases(BenchConfig.Pipe))
        {
            pipe.AppendLine(Invariant, $"\"{ChartLabel(@case)}\" {V(results.Median(BenchConfig.Pipe, @case, Relay, "server_cpu_s_per_gb"))} {V(results.Median(BenchConfig.Pipe, @case, Reference, "server_cpu_s_per_gb"))} {V(results.Median(BenchConfig.Pipe, @case, Floor, "server_cpu_s_per_gb"))}");
        }

        File.WriteAllText(Path.Combine(directory, "pipe.dat"), pipe.ToString());

        // Short axis labels for the pipe panel: the cases' full names overlap under their bars. "ws": Node ws
        // clients; "C#": the C# generator, one write per message; "packed": the C# generator's packed writes.
        static string ChartLabel(string @case) => @case switch
        {
            Scenarios.PipeScenario.RealClient1K => "1K ws",
            Scenarios.PipeScenario.CSharpPerMessage1K => "1K C#",
            Scenarios.PipeScenario.Packed1K => "1K packed",
            Scenarios.PipeScenario.RealClient64K => "64K ws",
            Scenarios.PipeScenario.Bulk64K => "64K C#",
            _ => @case,
        };

        var latency = new StringBuilder("# target p50_ms p99_ms\n");
        var others = new StringBuilder("# target idle_rss_per_peer_kib pairings_per_s\n");
        var latencyCase = results.Cases(BenchConfig.Latency).FirstOrDefault();
        var idleCase = results.Cases(BenchConfig.Idle).FirstOrDefault();
        var pairingCase = results.Cases(BenchConfig.Pairing).FirstOrDefault();
        foreach (var (target, title) in new[] { (Relay, "Relay"), (Reference, "reference"), (Floor, "TCP floor") })
        {
            if (latencyCase is not null)
            {
                latency.AppendLine(Invariant, $"\"{title}\" {V(results.Median(BenchConfig.Latency, latencyCase, target, "p50_ms"))} {V(results.Median(BenchConfig.Latency, latencyCase, target, "p99_ms"))}");
            }

            if (target != Floor)
            {
                others.AppendLine(Invariant, $"\"{title}\" {V(idleCase is null ? double.NaN : results.Median(BenchConfig.Idle, idleCase, target, "rss_per_peer_kib"))} {V(pairingCase is null ? double.NaN : results.Median(BenchConfig.Pairing, pairingCase, target, "pairings_per_s"))}");
            }
        }

        File.WriteAllText(Path.Combine(directory, "latency.dat"), latency.ToString());
        File.WriteAllText(Path.Combine(directory, "servers.dat"), others.ToString());
        File.WriteAllText(Path.Combine(directory, "title.txt"),
            $"Relay vs @localfirst/relay 4.2.2 vs TCP floor - {environment["machine"]}, {environment["date"]}, medians of {config.Repetitions}\n");
    }
}
