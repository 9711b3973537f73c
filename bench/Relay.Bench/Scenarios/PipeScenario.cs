using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Relay.Bench.Load;
using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 1, pipe throughput: P pairs piped together, each direction streaming fixed-size messages.
/// A warm-up first; then the measured phase, whose server CPU seconds per GB relayed is the cost.
/// Each direction keeps at most a window of bytes in flight (the receiver is in the same process as the
/// sender, so no acknowledgements cross the wire): the reference server does not push back on a fast
/// sender, and a bounded window keeps every target's buffering equal. The headline lines (1 KiB and 64 KiB)
/// are driven by Node ws clients (bench/pipe-driver.mjs), the load real clients make; the others by this program.
/// </summary>
internal sealed class PipeScenario(BenchContext context)
{
    public const string Name = BenchConfig.Pipe;

    private static readonly string[] AllTargets = [Target.Relay, Target.Reference, Target.Floor];

    /// <summary>The headline 1 KiB case: Node ws clients, each message its own ws.send(), as applications send.</summary>
    public const string RealClient1K = "16 pairs x 1 KiB, Node ws clients";

    /// <summary>This program's RFC 6455 client writing each 1 KiB message on its own: it sends faster than ws, so it costs the servers less per message.</summary>
    public const string CSharpPerMessage1K = "16 pairs x 1 KiB, C# generator, one write per message";

    /// <summary>The 1 KiB case with this program's sender packing every message its window allows into one write.</summary>
    public const string Packed1K = "16 pairs x 1 KiB, C# generator, packed writes";

    /// <summary>64 KiB messages from Node ws clients, each its own ws.send(): the real-client 64 KiB case.</summary>
    public const string RealClient64K = "4 pairs x 64 KiB, Node ws clients";

    /// <summary>64 KiB messages from this program: one per write either way (a write holds up to 64 KiB).</summary>
    public const string Bulk64K = "4 pairs x 64 KiB, C# generator";

    /// <summary>Who drives a case: Node ws clients, or this program with one write per message, or packed writes.</summary>
    public enum Driver
    {
        NodeWs,
        OneWritePerMessage,
        Packed,
    }

    public sealed record Case(string Label, int Pairs, int MessageSize, long BytesPerDirection, int WindowMessages, Driver Driver);

    public IReadOnlyList<Case> Cases =>
    [
        new(RealClient1K, 16, 1024, context.Config.PipeBytesPerDirection1K, 256, Driver.NodeWs),
        new(CSharpPerMessage1K, 16, 1024, context.Config.PipeBytesPerDirection1K, 256, Driver.OneWritePerMessage),
        new(Packed1K, 16, 1024, context.Config.PipeBytesPerDirection1K, 256, Driver.Packed),
        new(RealClient64K, 4, 64 * 1024, context.Config.PipeBytesPerDirection64K, 16, Driver.NodeWs),
        new(Bulk64K, 4, 64 * 1024, context.Config.PipeBytesPerDirection64K, 16, Driver.OneWritePerMessage),
    ];

    public async Task RunAsync()
    {
        context.Results.AddNote($"Pipe \"Node ws clients\" lines: bench/pipe-driver.mjs, one Node process of ws clients (plain net sockets through socat for the floor), each message its own send(), the same window. The C# generator's lines use this program's own RFC 6455 client, which sends faster than ws, so a server read often finds several frames: they are not what real clients cost.");
        foreach (var c in Cases.Where(c => context.Config.PipeCases.Count == 0
            || context.Config.PipeCases.Any(word => c.Label.Contains(word, StringComparison.OrdinalIgnoreCase))))
        {
            await context.RepeatAsync(AllTargets, (target, rep) =>
            {
                var label = $"{Name} {c.Label} {target} #{rep + 1}";
                return c.Driver == Driver.NodeWs
                    ? NodePipes.MeasureAsync(context, target, c, label, metrics => context.Results.Add(new Sample(Name, c.Label, target, rep, metrics)))
                    : Pipes.MeasureAsync(context, target, c.Pairs, c.MessageSize, label, async (server, ends) =>
                        context.Results.Add(new Sample(Name, c.Label, target, rep, await StreamAsync(c, server, ends, label).ConfigureAwait(false))));
            }).ConfigureAwait(false);
        }
    }

    private async Task<Dictionary<string, double>> StreamAsync(Case c, Target target, List<(IPipeEnd A, IPipeEnd B)> ends, string label)
    {
        var total = c.BytesPerDirection / c.MessageSize;
        var streams = new List<FlowStream>();
        using var dispose = new Disposer(streams);
        for (var p = 0; p < ends.Count; p++)
        {
            streams.Add(new FlowStream(2 * p, ends[p].A, ends[p].B, c.MessageSize, c.WindowMessages, c.Driver == Driver.OneWritePerMessage));
            streams.Add(new FlowStream(2 * p + 1, ends[p].B, ends[p].A, c.MessageSize, c.WindowMessages, c.Driver == Driver.OneWritePerMessage));
        }

        // Warm-up: every stream flowing for a while (JIT tiers settle, buffers grow), and at least a
        // tenth of the measured volume; then the measured phase, from the CPU snapshot to the last byte.
        using var deadline = BenchContext.Deadline(TimeSpan.FromMinutes(5));
        var warmupStart = Stopwatch.GetTimestamp();
        var running = streams.Select(s => s.RunAsync(Math.Max(1, total / 10), deadline.Token)).ToList();
        await WhenAllOrFirstFailure(streams.Select(s => s.WarmedUp), running).ConfigureAwait(false);
        var warmupLeft = context.Config.Warmup - Stopwatch.GetElapsedTime(warmupStart);
        if (warmupLeft > TimeSpan.Zero)
        {
            await WhenAllOrFirstFailure([Task.Delay(warmupLeft)], running).ConfigureAwait(false);
        }

        await target.BeginMeasureAsync(label).ConfigureAwait(false);
        var cpu0 = target.CpuSeconds();
        var self0 = ProcFs.SelfCpuSeconds();
        var bytes0 = streams.Sum(s => s.Verifier.Bytes);
        var start = Stopwatch.GetTimestamp();
        foreach (var s in streams)
        {
            s.Measure(total);
        }

        await WhenAllOrFirstFailure(running, running).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = target.CpuSeconds() - cpu0;
        var self = ProcFs.SelfCpuSeconds() - self0;
        var measuredBytes = streams.Sum(s => s.Verifier.Bytes) - bytes0;
        await target.EndMeasureAsync().ConfigureAwait(false);

        foreach (var s in streams)
        {
            if (s.Verifier.Error is { } error)
            {
                throw new BenchFailure(error);
            }

            if (s.Verifier.Messages != s.End)
            {
                throw new BenchFailure($"stream {s.Id}: received {s.Verifier.Messages} of {s.End} messages");
            }
        }

        var gigabytes = measuredBytes / 1e9;
        return new Dictionary<string, double>
        {
            ["server_cpu_s_per_gb"] = cpu / gigabytes,
            ["wall_s"] = elapsed,
            ["mb_per_s"] = measuredBytes / 1e6 / elapsed,
            ["measured_bytes"] = measuredBytes,
            ["received_bytes"] = streams.Sum(s => s.Verifier.Bytes),
            ["server_cpu_s"] = cpu,
            ["loadgen_cpu_s"] = self,
            ["server_rss_mib"] = target.RssBytes() / 1048576.0,
        };
    }

    private sealed class Disposer(List<FlowStream> streams) : IDisposable
    {
        public void Dispose() => streams.ForEach(s => s.Dispose());
    }

    /// <summary>Waits for <paramref name="tasks"/>, but fails at once if any of <paramref name="watched"/> fails first.</summary>
    internal static async Task WhenAllOrFirstFailure(IEnumerable<Task> tasks, IReadOnlyList<Task> watched)
    {
        var all = Task.WhenAll(tasks);
        while (!all.IsCompleted)
        {
            var failed = watched.FirstOrDefault(t => t.IsFaulted || t.IsCanceled);
            if (failed is not null)
            {
                await failed.ConfigureAwait(false);
            }

            await Task.WhenAny(all, Task.WhenAny(watched), Task.Delay(200)).ConfigureAwait(false);
        }

        await all.ConfigureAwait(false);
    }

    /// <summary>
    /// One direction of one pipe: a sender and a verifying receiver, with a window between them. It
    /// streams until <see cref="Measure"/> says how many more messages to send; the receiver stops at
    /// the last one.
    /// </summary>
    private sealed class FlowStream(int id, IPipeEnd from, IPipeEnd to, int size, int window, bool oneWritePerMessage) : IDisposable
    {
        private const int BatchBytes = 64 * 1024;

        private readonly int _batchBytes = oneWritePerMessage ? 1 : BatchBytes;

        private readonly SemaphoreSlim _credits = new(window, window);
        private readonly TaskCompletionSource _warmedUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _measure;
        private long _end = long.MaxValue;

        public int Id => id;

        public StreamVerifier Verifier { get; } = new(id, size);

        public Task WarmedUp => _warmedUp.Task;

        /// <summary>The sequence number the stream ends before (unknown until the measured phase starts).</summary>
        public long End => Volatile.Read(ref _end);

        public void Measure(long messages) => Volatile.Write(ref _measure, messages);

        public void Dispose() => _credits.Dispose();

        public async Task RunAsync(long warmupMessages, CancellationToken cancellationToken)
        {
            try
            {
                await Task.WhenAll(SendAsync(cancellationToken), ReceiveAsync(warmupMessages, cancellationToken)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new BenchFailure($"stream {id}: timed out after {Verifier.Messages} messages");
            }
            catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or SocketException)
            {
                throw new BenchFailure($"stream {id}: socket failed after {Verifier.Messages} messages: {ex.Message}");
            }
            finally
            {
                _warmedUp.TrySetResult();
            }
        }

        private async Task SendAsync(CancellationToken cancellationToken)
        {
            await Task.Yield();
            var message = Payload.NewMessage(size);
            long sequence = 0;
            while (true)
            {
                if (Volatile.Read(ref _end) == long.MaxValue && Volatile.Read(ref _measure) is > 0 and var measure)
                {
                    Volatile.Write(ref _end, sequence + measure);
                }

                var end = Volatile.Read(ref _end);
                if (sequence >= end)
                {
                    return;
                }

                // Packed: everything the window allows goes out in one write (up to 64 KiB). One write per
                // message: each message is its own send, as a browser's or Node ws's send() is.
                await _credits.WaitAsync(cancellationToken).ConfigureAwait(false);
                do
                {
                    Payload.Stamp(message, sequence, id);
                    from.Append(message);
                    sequence++;
                }
                while (sequence < end && from.Pending < _batchBytes && _credits.Wait(0, CancellationToken.None));

                await from.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task ReceiveAsync(long warmupMessages, CancellationToken cancellationToken)
        {
            await Task.Yield();
            for (long sequence = 0; sequence < Volatile.Read(ref _end); sequence++)
            {
                var (open, message) = await to.ReceiveAsync(size, cancellationToken).ConfigureAwait(false);
                if (!open)
                {
                    throw new BenchFailure($"stream {id}: closed by the relay after {sequence} messages");
                }

                Verifier.Verify(message.Span, Stopwatch.GetTimestamp());
                if (Verifier.Error is { } error)
                {
                    throw new BenchFailure(error);
                }

                _credits.Release();
                if (sequence + 1 == warmupMessages)
                {
                    _warmedUp.TrySetResult();
                }
            }
        }
    }
}
