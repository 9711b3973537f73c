using System.Globalization;
using System.Net;
using Relay.Bench.Load;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// One pipe measurement driven by Node ws clients (bench/pipe-driver.mjs) instead of this program: a fresh
/// target (for the cluster, pipe p's halves on nodes p and p + 1 mod 3), the driver opening and warming the pipes, then the server's CPU over exactly the driver's
/// measured phase (it pauses, drained, until told "measure", reports when the last message arrived, and
/// keeps its sockets open until told "close").
/// </summary>
internal static class NodePipes
{
    public static async Task MeasureAsync(BenchContext context, string targetName, PipeScenario.Case c, string label,
        Action<Dictionary<string, double>> record)
    {
        Console.Error.WriteLine($"  {label}");
        var config = context.Config;
        var messages = c.BytesPerDirection / c.MessageSize;
        var arguments = new List<string>
        {
            "--pairs", Invariant(c.Pairs),
            "--size", Invariant(c.MessageSize),
            "--messages", Invariant(messages),
            "--window", Invariant(c.WindowMessages),
            "--warmup-seconds", config.Warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            "--warmup-messages", Invariant(Math.Max(1, messages / 10)),
            "--timeout-seconds", "300",
        };

        Target? target = null;
        NodePipeDriver? driver = null;
        try
        {
            if (targetName == Target.Floor)
            {
                // One socat per pipe, relaying to a port the driver's B side listens on.
                var floor = new TcpFloor();
                target = floor;
                var relays = new List<string>();
                for (var p = 0; p < c.Pairs; p++)
                {
                    var upstream = ServerProcess.FreePort();
                    relays.Add($"{floor.AddRelay(config, new IPEndPoint(IPAddress.Loopback, upstream))}:{upstream}");
                }

                arguments.AddRange(["--floor", string.Join(',', relays)]);
            }
            else if (targetName == Target.Cluster)
            {
                var cluster = await ClusterTarget.StartAsync(config, label).ConfigureAwait(false);
                target = cluster;
                arguments.AddRange(["--url", string.Join(',', cluster.WebSocketBases)]);
            }
            else
            {
                var server = await context.StartServerAsync(targetName, label).ConfigureAwait(false);
                target = server;
                arguments.AddRange(["--url", server.WebSocketBase.ToString()]);
            }

            driver = NodePipeDriver.Start(config, arguments, label);
            using var deadline = BenchContext.Deadline(TimeSpan.FromMinutes(5));
            await driver.NextAsync("open", deadline.Token).ConfigureAwait(false);
            await driver.NextAsync("warmed", deadline.Token).ConfigureAwait(false);

            // Nothing is in flight now: the snapshot lines up with the first message of the measured phase.
            await target.BeginMeasureAsync(label).ConfigureAwait(false);
            var cpu0 = target.CpuSeconds();
            var redis0 = (target as ClusterTarget)?.RedisCpuSeconds() ?? 0;
            var driver0 = ProcFs.CpuSeconds(driver.Pid);
            await driver.SendAsync("measure").ConfigureAwait(false);
            var done = await driver.NextAsync("measured", deadline.Token).ConfigureAwait(false);
            var cpu = target.CpuSeconds() - cpu0;
            var redisCpu = ((target as ClusterTarget)?.RedisCpuSeconds() ?? 0) - redis0;
            var driverCpu = ProcFs.CpuSeconds(driver.Pid) - driver0;
            var rss = target.RssBytes();
            await target.EndMeasureAsync().ConfigureAwait(false);

            // Only now may the driver close its sockets (for the floor, socat exits when they close).
            await driver.SendAsync("close").ConfigureAwait(false);
            await driver.ExitedAsync(deadline.Token).ConfigureAwait(false);

            var bytes = done.GetProperty("bytes").GetDouble();
            var seconds = done.GetProperty("seconds").GetDouble();
            var metrics = new Dictionary<string, double>
            {
                ["server_cpu_s_per_gb"] = cpu / (bytes / 1e9),
                ["wall_s"] = seconds,
                ["mb_per_s"] = bytes / 1e6 / seconds,
                ["measured_bytes"] = bytes,
                ["server_cpu_s"] = cpu,
                ["loadgen_cpu_s"] = driverCpu,
                ["server_rss_mib"] = rss / 1048576.0,
            };
            if (target is ClusterTarget)
            {
                // Of the server CPU above, Redis's part.
                metrics["redis_cpu_s_per_gb"] = redisCpu / (bytes / 1e9);
            }

            record(metrics);
        }
        catch (BenchFailure ex)
        {
            context.Results.AddFailure($"{label}: {ex.Message}");
        }
        finally
        {
            if (driver is not null)
            {
                await driver.DisposeAsync().ConfigureAwait(false);
            }

            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
