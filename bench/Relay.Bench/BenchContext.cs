using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench;

/// <summary>What every scenario shares: configuration, the dialer, the results, and fresh servers on demand.</summary>
internal sealed class BenchContext(BenchConfig config, Dialer dialer, Results results)
{
    public BenchConfig Config => config;

    public Dialer Dialer => dialer;

    public Results Results => results;

    /// <summary>
    /// The targets of a scenario in the order this repetition runs them: rotated each repetition, so
    /// that drift in the machine's load (other builds on the same two cores) spreads over all of them.
    /// </summary>
    public IReadOnlyList<string> Order(IReadOnlyList<string> targets, int repetition)
    {
        // The cluster is Relay too: wanted whenever Relay is.
        var wanted = targets.Where(t => config.Targets.Contains(t) || (t == Servers.Target.Cluster && config.Targets.Contains(Servers.Target.Relay))).ToList();
        return wanted.Count == 0 ? wanted : [.. wanted.Skip(repetition % wanted.Count), .. wanted.Take(repetition % wanted.Count)];
    }

    /// <summary>Runs <paramref name="once"/> for every repetition and target, in rotating order, with a pause after each.</summary>
    public async Task RepeatAsync(IReadOnlyList<string> targets, Func<string, int, Task> once, double settleSeconds = 0.5)
    {
        for (var rep = 0; rep < config.Repetitions; rep++)
        {
            foreach (var target in Order(targets, rep))
            {
                await once(target, rep).ConfigureAwait(false);
                await SettleAsync(settleSeconds).ConfigureAwait(false);
            }
        }
    }

    public Task<WebSocketServer> StartServerAsync(string target, string label) => WebSocketServer.StartAsync(target, config, label);

    /// <summary>A cancellation token that fires after <paramref name="limit"/>.</summary>
    public static CancellationTokenSource Deadline(TimeSpan limit) => new(limit);

    /// <summary>Peer counts above what one process may hold here are impossible for server and load generator alike.</summary>
    public string? PeerLimitReason(int peers) =>
        peers <= config.MaxPeersPerProcess
            ? null
            : $"needs {peers:N0} sockets in one server process; the open-files limit here is {config.MaxPeersPerProcess + 500:N0} (hard, not raisable without CAP_SYS_RESOURCE)";

    /// <summary>Gives the machine a moment between measurements (closing sockets, exiting servers).</summary>
    public static Task SettleAsync(double seconds = 0.5) => Task.Delay(TimeSpan.FromSeconds(seconds));
}
