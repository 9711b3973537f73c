using System.Diagnostics;
using System.Globalization;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 2, introduction storm: N peers connect, then all send their Join at once (peers 2k and 2k+1
/// on document k, so N/2 documents); the storm lasts from the first Join sent to the last of the N
/// Introductions received. Joins per second = N / that time. The reference is stopped at the limit
/// (60 s) and skipped for every larger N.
/// </summary>
internal sealed class StormScenario(BenchContext context)
{
    public const string Name = BenchConfig.Storm;

    private static readonly string[] AllTargets = [Target.Relay, Target.Reference];

    public static string CaseOf(int peers) => string.Create(CultureInfo.InvariantCulture, $"N={peers:N0}");

    public async Task RunAsync()
    {
        var exceeded = new Dictionary<string, int>();
        foreach (var peers in context.Config.StormPeers.Order())
        {
            var @case = CaseOf(peers);
            if (context.PeerLimitReason(peers) is { } reason)
            {
                foreach (var target in AllTargets)
                {
                    context.Results.AddSkip(new Skip(Name, @case, target, reason));
                }

                continue;
            }

            for (var rep = 0; rep < context.Config.Repetitions; rep++)
            {
                foreach (var target in context.Order(AllTargets, rep))
                {
                    if (exceeded.TryGetValue(target, out var at))
                    {
                        context.Results.AddSkip(new Skip(Name, @case, target, at == peers
                            ? $"took over {context.Config.ReferenceLimit.TotalSeconds:0} s in an earlier repetition at this N"
                            : $"took over {context.Config.ReferenceLimit.TotalSeconds:0} s at N={at:N0}; larger N skipped"));
                        continue;
                    }

                    if (!await RunOnceAsync(peers, target, rep).ConfigureAwait(false))
                    {
                        exceeded[target] = peers;
                    }

                    await BenchContext.SettleAsync(1).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>False if the storm outlasted the limit.</summary>
    private async Task<bool> RunOnceAsync(int peers, string targetName, int rep)
    {
        var @case = CaseOf(peers);
        var label = $"{Name} {@case} {targetName} #{rep + 1}";
        Console.Error.WriteLine($"  {label}");
        await using var server = await context.StartServerAsync(targetName, label).ConfigureAwait(false);
        try
        {
            // Warm-up: small storms of their own (closed before the measured one), for at least the warm-up time.
            var warmupStart = Stopwatch.GetTimestamp();
            for (var round = 0; round == 0 || Stopwatch.GetElapsedTime(warmupStart) < context.Config.Warmup; round++)
            {
                await using var warmup = new PeerCrowd(Math.Min(peers, 1_000), $"w{round}-");
                using var warmupDeadline = BenchContext.Deadline(TimeSpan.FromSeconds(60));
                await warmup.ConnectAsync(context.Dialer, server.WebSocketBase, 64, warmupDeadline.Token).ConfigureAwait(false);
                await warmup.SendJoinsAsync(warmupDeadline.Token).ConfigureAwait(false);
                await warmup.AllIntroduced.WaitAsync(warmupDeadline.Token).ConfigureAwait(false);
            }

            await BenchContext.SettleAsync(1).ConfigureAwait(false);
            var rssBefore = server.RssBytes();

            await using var crowd = new PeerCrowd(peers, "s");
            var connectStart = Stopwatch.GetTimestamp();
            using (var connectDeadline = BenchContext.Deadline(TimeSpan.FromSeconds(120)))
            {
                await crowd.ConnectAsync(context.Dialer, server.WebSocketBase, 64, connectDeadline.Token).ConfigureAwait(false);
            }

            var connectSeconds = Stopwatch.GetElapsedTime(connectStart).TotalSeconds;
            await BenchContext.SettleAsync(0.5).ConfigureAwait(false);

            await server.BeginMeasureAsync(label).ConfigureAwait(false);
            var cpu0 = server.CpuSeconds();
            var self0 = ProcFs.SelfCpuSeconds();
            var start = Stopwatch.GetTimestamp();
            using var deadline = BenchContext.Deadline(context.Config.ReferenceLimit);
            try
            {
                await crowd.SendJoinsAsync(deadline.Token).ConfigureAwait(false);
                await crowd.AllIntroduced.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                var message = $"took over {context.Config.ReferenceLimit.TotalSeconds:0} s ({crowd.Introduced:N0} of {peers:N0} introductions by then)";
                if (targetName == Target.Relay)
                {
                    context.Results.AddFailure($"{label}: {message}");
                }
                else
                {
                    context.Results.AddSkip(new Skip(Name, @case, targetName, message));
                }

                return false;
            }

            var seconds = Stopwatch.GetElapsedTime(start, crowd.LastIntroductionAt).TotalSeconds;
            var cpu = server.CpuSeconds() - cpu0;
            var self = ProcFs.SelfCpuSeconds() - self0;
            await server.EndMeasureAsync().ConfigureAwait(false);
            await BenchContext.SettleAsync(1).ConfigureAwait(false);
            var rssAfter = server.RssBytes();
            context.Results.Add(new Sample(Name, @case, targetName, rep, new Dictionary<string, double>
            {
                ["joins_per_s"] = peers / seconds,
                ["storm_s"] = seconds,
                ["server_cpu_us_per_join"] = cpu * 1e6 / peers,
                ["introductions"] = crowd.Introduced,
                ["connects_per_s"] = peers / connectSeconds,
                ["joined_rss_per_peer_kib"] = (rssAfter - rssBefore) / 1024.0 / peers,
                ["server_rss_mib"] = rssAfter / 1048576.0,
                ["loadgen_cpu_s"] = self,
            }));
            return true;
        }
        catch (BenchFailure ex)
        {
            context.Results.AddFailure($"{label}: {ex.Message}");
            return true;
        }
    }
}
