using System.Diagnostics;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 5, relay latency: 16 pipes, each direction sending 1 KiB messages (each its own send) at a fixed
/// rate: a moderate one, and, when the pipe scenario ran in the same run, half of Relay's saturated
/// real-client throughput (its Node ws line; latency under load; every target gets the same rate). The
/// senders here are this program's, at a set rate, so each message is its own write. One-hop latency = receive
/// time - the send timestamp in the message (one clock: both ends are in this process). The first seconds
/// (the warm-up) are left out; p50 and p99 over every later message of every direction.
/// </summary>
internal sealed class LatencyScenario(BenchContext context)
{
    public const string Name = BenchConfig.Latency;
    private const int Pairs = 16;
    private const int MessageSize = 1024;

    private static readonly string[] AllTargets = [Target.Relay, Target.Reference, Target.Floor];

    public async Task RunAsync()
    {
        await RunAtAsync($"{Pairs} pairs x 1 KiB, {context.Config.LatencyRate} msg/s each way", context.Config.LatencyRate, AllTargets).ConfigureAwait(false);

        // Half of what Relay moved per second with Node ws clients in this run's pipe scenario (saturated
        // real-client throughput). A target that saturated below that offered load with the same clients
        // cannot carry it (its queues would only grow), so it is skipped.
        var saturated = Saturated(Target.Relay);
        if (double.IsNaN(saturated))
        {
            return;
        }

        var offered = saturated / 2;
        var rate = (int)(offered * 1e6 / MessageSize / (2 * Pairs));
        var @case = $"{Pairs} pairs x 1 KiB, {rate} msg/s each way (50% of Relay's saturated real-client throughput)";
        var targets = new List<string>();
        foreach (var target in AllTargets)
        {
            if (Saturated(target) < offered)
            {
                context.Results.AddSkip(new Skip(Name, @case, target, $"saturates at {Saturated(target):0} MB/s, below the {offered:0} MB/s offered"));
            }
            else
            {
                targets.Add(target);
            }
        }

        await RunAtAsync(@case, rate, targets).ConfigureAwait(false);
    }

    private double Saturated(string target) => context.Results.Median(BenchConfig.Pipe, PipeScenario.RealClient1K, target, "mb_per_s");

    private Task RunAtAsync(string @case, int rate, IReadOnlyList<string> targets) =>
        context.RepeatAsync(targets, (target, rep) =>
            Pipes.MeasureAsync(context, target, Pairs, MessageSize, $"{Name} {rate}/s {target} #{rep + 1}", (server, ends) => MeasureAsync(server, ends, @case, rate, target, rep)));

    private async Task MeasureAsync(Target target, List<(IPipeEnd A, IPipeEnd B)> ends, string @case, int rate, string targetName, int rep)
    {
        var label = $"{Name} {rate}/s {targetName} #{rep + 1}";
        var warmup = (long)(rate * context.Config.Warmup.TotalSeconds);
        var total = warmup + (long)(rate * context.Config.LatencyDuration.TotalSeconds);
        var streams = new List<RateStream>();
        for (var p = 0; p < ends.Count; p++)
        {
            streams.Add(new RateStream(2 * p, ends[p].A, ends[p].B, rate, warmup, total));
            streams.Add(new RateStream(2 * p + 1, ends[p].B, ends[p].A, rate, warmup, total));
        }

        using var deadline = BenchContext.Deadline(context.Config.LatencyDuration + TimeSpan.FromSeconds(60));
        var start = Stopwatch.GetTimestamp();
        var running = streams.Select(s => s.RunAsync(start, deadline.Token)).ToList();
        await PipeScenario.WhenAllOrFirstFailure([Task.Delay(context.Config.Warmup)], running).ConfigureAwait(false);
        await target.BeginMeasureAsync(label).ConfigureAwait(false);
        var cpu0 = target.CpuSeconds();
        var measureStart = Stopwatch.GetTimestamp();
        await PipeScenario.WhenAllOrFirstFailure(running, running).ConfigureAwait(false);
        var cpu = target.CpuSeconds() - cpu0;
        var seconds = Stopwatch.GetElapsedTime(measureStart).TotalSeconds;
        await target.EndMeasureAsync().ConfigureAwait(false);

        var all = streams.SelectMany(s => s.Latencies).ToArray();
        Array.Sort(all);
        double Ms(double ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        context.Results.Add(new Sample(Name, @case, targetName, rep, new Dictionary<string, double>
        {
            ["p50_ms"] = Ms(Statistics.Percentile(all, all.Length, 0.50)),
            ["p99_ms"] = Ms(Statistics.Percentile(all, all.Length, 0.99)),
            ["max_ms"] = Ms(all.Length == 0 ? double.NaN : all[^1]),
            ["messages"] = all.Length,
            ["server_cpu_pct"] = cpu / seconds * 100,
        }));
    }

    /// <summary>One direction at a fixed rate, each message stamped just before it is sent.</summary>
    private sealed class RateStream(int id, IPipeEnd from, IPipeEnd to, int rate, long warmup, long total)
    {
        private readonly StreamVerifier _verifier = new(id, MessageSize);

        public List<long> Latencies { get; } = new((int)(total - warmup));

        public async Task RunAsync(long start, CancellationToken cancellationToken)
        {
            try
            {
                await Task.WhenAll(SendAsync(start, cancellationToken), ReceiveAsync(cancellationToken)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new BenchFailure($"stream {id}: timed out after {_verifier.Messages} of {total} messages");
            }
            catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or System.Net.Sockets.SocketException)
            {
                throw new BenchFailure($"stream {id}: socket failed after {_verifier.Messages} of {total} messages: {ex.Message}");
            }
        }

        private async Task SendAsync(long start, CancellationToken cancellationToken)
        {
            var message = Payload.NewMessage(MessageSize);
            // Streams start spread over one interval, so the 32 senders do not all fire on the same tick.
            var interval = Stopwatch.Frequency / (double)rate;
            var offset = interval * id / 32.0;
            for (long sequence = 0; sequence < total; sequence++)
            {
                var due = start + (long)(offset + sequence * interval);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }

                Payload.Stamp(message, sequence, id);
                from.Append(message);
                await from.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task ReceiveAsync(CancellationToken cancellationToken)
        {
            for (long sequence = 0; sequence < total; sequence++)
            {
                var (open, message) = await to.ReceiveAsync(MessageSize, cancellationToken).ConfigureAwait(false);
                if (!open)
                {
                    throw new BenchFailure($"stream {id}: closed by the relay after {sequence} of {total} messages");
                }

                var latency = _verifier.Verify(message.Span, Stopwatch.GetTimestamp());
                if (_verifier.Error is { } error)
                {
                    throw new BenchFailure(error);
                }

                if (sequence >= warmup)
                {
                    Latencies.Add(latency);
                }
            }
        }
    }
}
