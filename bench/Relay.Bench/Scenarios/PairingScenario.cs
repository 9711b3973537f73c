using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 4, pairing rate: W workers each complete pairings one after another. One pairing = half A
/// connects to <c>/connection/a/b/doc</c>, half B to <c>/connection/b/a/doc</c>, B sends one message and
/// A receives it, verified; then both sockets are dropped. Pairings per second over the measured ones.
/// </summary>
internal sealed class PairingScenario(BenchContext context)
{
    public const string Name = BenchConfig.Pairing;
    private const int MessageSize = 64;

    private static readonly string[] AllTargets = [Target.Relay, Target.Reference];

    public string Case => $"{context.Config.Pairings:N0} pairings, {context.Config.PairingConcurrency} at a time";

    public async Task RunAsync()
    {
        await context.RepeatAsync(AllTargets, (target, rep) => RunOnceAsync(target, rep), settleSeconds: 1).ConfigureAwait(false);
    }

    private async Task RunOnceAsync(string targetName, int rep)
    {
        var label = $"{Name} {targetName} #{rep + 1}";
        Console.Error.WriteLine($"  {label}");
        await using var server = await context.StartServerAsync(targetName, label).ConfigureAwait(false);
        try
        {
            using var deadline = BenchContext.Deadline(TimeSpan.FromSeconds(120));
            var warmupStart = Stopwatch.GetTimestamp();
            for (var round = 0; round == 0 || Stopwatch.GetElapsedTime(warmupStart) < context.Config.Warmup; round++)
            {
                await RunPairingsAsync(server, $"w{round}-", context.Config.Pairings / 10, null, deadline.Token).ConfigureAwait(false);
            }

            var latencies = new long[context.Config.Pairings];
            await server.BeginMeasureAsync(label).ConfigureAwait(false);
            var cpu0 = server.CpuSeconds();
            var self0 = ProcFs.SelfCpuSeconds();
            var start = Stopwatch.GetTimestamp();
            await RunPairingsAsync(server, "m", context.Config.Pairings, latencies, deadline.Token).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = server.CpuSeconds() - cpu0;
            var self = ProcFs.SelfCpuSeconds() - self0;
            await server.EndMeasureAsync().ConfigureAwait(false);
            Array.Sort(latencies);
            context.Results.Add(new Sample(Name, Case, targetName, rep, new Dictionary<string, double>
            {
                ["pairings_per_s"] = context.Config.Pairings / seconds,
                ["server_cpu_us_per_pairing"] = cpu * 1e6 / context.Config.Pairings,
                ["pairing_p50_ms"] = Statistics.Percentile(latencies, latencies.Length, 0.50) * 1000.0 / Stopwatch.Frequency,
                ["pairing_p99_ms"] = Statistics.Percentile(latencies, latencies.Length, 0.99) * 1000.0 / Stopwatch.Frequency,
                ["loadgen_cpu_s"] = self,
            }));
        }
        catch (OperationCanceledException)
        {
            context.Results.AddFailure($"{label}: timed out");
        }
        catch (BenchFailure ex)
        {
            context.Results.AddFailure($"{label}: {ex.Message}");
        }
    }

    private async Task RunPairingsAsync(WebSocketServer server, string prefix, int count, long[]? latencies, CancellationToken cancellationToken)
    {
        var next = -1;
        var workers = new List<Task>();
        for (var w = 0; w < context.Config.PairingConcurrency; w++)
        {
            workers.Add(Task.Run(async () =>
            {
                var message = Payload.NewMessage(MessageSize);
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    var elapsed = await PairOnceAsync(server, $"{prefix}{i}", message, cancellationToken).ConfigureAwait(false);
                    if (latencies is not null)
                    {
                        latencies[i] = elapsed;
                    }
                }
            }, cancellationToken));
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    /// <summary>One complete pairing; returns how long it took, from A's connect to the first message at A.</summary>
    private async Task<long> PairOnceAsync(WebSocketServer server, string id, byte[] message, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        WebSocketPipeEnd? a = null, b = null;
        try
        {
            a = await WebSocketPipeEnd.ConnectAsync(context.Dialer, new Uri(server.WebSocketBase, $"/connection/{id}a/{id}b/{id}d"), cancellationToken, 1024, 256).ConfigureAwait(false);
            b = await WebSocketPipeEnd.ConnectAsync(context.Dialer, new Uri(server.WebSocketBase, $"/connection/{id}b/{id}a/{id}d"), cancellationToken, 1024, 256).ConfigureAwait(false);
            Payload.Stamp(message, 0, 0);
            b.Append(message);
            await b.FlushAsync(cancellationToken).ConfigureAwait(false);
            var (open, received) = await a.ReceiveAsync(MessageSize, cancellationToken).ConfigureAwait(false);
            if (!open)
            {
                throw new BenchFailure($"pairing {id}: A was closed before the first message arrived");
            }

            var verifier = new StreamVerifier(0, MessageSize);
            verifier.Verify(received.Span, Stopwatch.GetTimestamp());
            if (verifier.Error is { } error)
            {
                throw new BenchFailure($"pairing {id}: {error}");
            }

            return Stopwatch.GetTimestamp() - start;
        }
        catch (Exception ex) when (ex is WebSocketException or SocketException or IOException)
        {
            throw new BenchFailure($"pairing {id}: {ex.Message}");
        }
        finally
        {
            a?.Dispose();
            b?.Dispose();
        }
    }
}
