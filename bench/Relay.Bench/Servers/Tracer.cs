using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Relay.Bench.Servers;

/// <summary>
/// Optional profiling of Relay's gateway during the measured phase of each scenario, for finding what
/// costs: set <c>BENCH_RELAY_TRACE</c> to dotnet-trace's arguments (e.g. <c>collect-linux --profile
/// cpu-sampling</c>, or <c>collect --profile gc-verbose</c>) and, if dotnet-trace is not on PATH,
/// <c>BENCH_DOTNET_TRACE</c> to it. Traces land in the run's logs folder, one per measurement.
/// </summary>
internal sealed partial class Tracer
{
    private const int SigInt = 2;

    private readonly Process _process;
    private readonly string _output;

    private Tracer(Process process, string output)
    {
        _process = process;
        _output = output;
    }

    public static string? Arguments => Environment.GetEnvironmentVariable("BENCH_RELAY_TRACE");

    public static async Task<Tracer?> StartAsync(int pid, string logDirectory, string label)
    {
        if (string.IsNullOrWhiteSpace(Arguments))
        {
            return null;
        }

        var output = Path.Combine(logDirectory, string.Concat(label.Split(Path.GetInvalidFileNameChars().Append(' ').ToArray())) + ".nettrace");
        var tool = Environment.GetEnvironmentVariable("BENCH_DOTNET_TRACE") ?? "dotnet-trace";
        var info = new ProcessStartInfo(tool, $"{Arguments} -p {pid} -o {output}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        var process = Process.Start(info)!;
        var recording = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            // `collect` prints "Recording trace ...", `collect-linux` only "Output File : ..." as it starts.
            if (e.Data is { } line && (line.Contains("Recording", StringComparison.OrdinalIgnoreCase) || line.StartsWith("Output File", StringComparison.Ordinal)))
            {
                recording.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                Console.Error.WriteLine($"    dotnet-trace: {line}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Task.WhenAny(recording.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        await Task.Delay(300).ConfigureAwait(false);
        return new Tracer(process, output);
    }

    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigInt);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }

        Console.Error.WriteLine($"    trace: {_output}");
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
