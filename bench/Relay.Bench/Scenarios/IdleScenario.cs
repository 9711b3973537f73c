using System.Diagnostics;
using System.Globalization;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 3, idle footprint: N introduction peers connect and stay idle. RSS per peer is the server's
/// resident memory with them connected, less its resident memory just before (after a warm-up), over N.
/// </summary>
internal sealed class IdleScenario(BenchContext context)
{
    public const string Name = BenchConfig.Idle;

    private static readonly string[] AllTargets = [Target.Relay, Target.Reference];

    public async Task RunAsync()
    {
        var requested = context.Config.IdlePeers;
        var peers = requested;
        if (context.PeerLimitReason(requested) is { } reason)
        {
            peers = (int)(context.Config.MaxPeersPerProcess / 1000 * 1000);
            context.Results.AddNote($"Idle footprint: {requested:N0} peers requested, {peers:N0} measured: {requested:N0} {reason}.");
        }

        var @case = string.Create(CultureInfo.InvariantCulture, $"N={peers:N0}");
        await context.RepeatAsync(AllTargets, (target, rep) => RunOnceAsync(peers, @case, target, rep), settleSeconds: 1).ConfigureAwait(false);
    }

    private async Task RunOnceAsync(int peers, string @case, string targetName, int rep)
    {
        var label = $"{Name} {@case} {targetName} #{rep + 1}";
        Console.Error.WriteLine($"  {label}");
        await using var server = await context.StartServerAsync(targetName, label).ConfigureAwait(false);
        try
        {
            await using (var warmup = new PeerCrowd(500, "w"))
            {
                using var warmupDeadline = BenchContext.Deadline(TimeSpan.FromSeconds(60));
                await warmup.ConnectAsync(context.Dialer, server.WebSocketBase, 64, warmupDeadline.Token).ConfigureAwait(false);
                await warmup.SendJoinsAsync(warmupDeadline.Token).ConfigureAwait(false);
                await warmup.AllIntroduced.WaitAsync(warmupDeadline.Token).ConfigureAwait(false);
            }

            await BenchContext.SettleAsync(2).ConfigureAwait(false);
            var rssBefore = await SteadyRssAsync(server).ConfigureAwait(false);

            await using var crowd = new PeerCrowd(peers, "i");
            var start = Stopwatch.GetTimestamp();
            using (var deadline = BenchContext.Deadline(TimeSpan.FromSeconds(180)))
            {
                await crowd.ConnectAsync(context.Dialer, server.WebSocketBase, 64, deadline.Token).ConfigureAwait(false);
            }

            var connectSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            await BenchContext.SettleAsync(3).ConfigureAwait(false);
            var rssAfter = await SteadyRssAsync(server).ConfigureAwait(false);
            if (Tracer.Arguments is not null)
            {
                // Profiling (e.g. a GC heap snapshot) of the server with every idle peer connected.
                await server.BeginMeasureAsync(label).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                await server.EndMeasureAsync().ConfigureAwait(false);
            }

            if (crowd.Error is { } error)
            {
                throw new BenchFailure(error);
            }

            context.Results.Add(new Sample(Name, @case, targetName, rep, new Dictionary<string, double>
            {
                ["rss_per_peer_kib"] = (rssAfter - rssBefore) / 1024.0 / peers,
                ["server_rss_mib"] = rssAfter / 1048576.0,
                ["baseline_rss_mib"] = rssBefore / 1048576.0,
                ["connects_per_s"] = peers / connectSeconds,
                ["server_open_files"] = ProcFs.OpenFiles(server.Pid),
            }));
        }
        catch (BenchFailure ex)
        {
            context.Results.AddFailure($"{label}: {ex.Message}");
        }
    }

    /// <summary>The median of five RSS readings half a second apart.</summary>
    private static async Task<long> SteadyRssAsync(Target server)
    {
        var readings = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            readings.Add(server.RssBytes());
            await Task.Delay(500).ConfigureAwait(false);
        }

        return (long)Statistics.Median(readings);
    }
}
