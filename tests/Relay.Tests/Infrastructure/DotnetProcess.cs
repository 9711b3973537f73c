using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// A <c>dotnet</c> command in a process of its own, its output collected: to run a built app (and wait for
/// Kestrel's "Now listening on") or an SDK command to completion. Disposing kills what is still running.
/// </summary>
internal sealed partial class DotnetProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DotnetProcess(string workingDirectory, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Collect(e.Data, watchForListening: true);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data, watchForListening: false);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static DotnetProcess Start(string workingDirectory, params string[] arguments) => new(workingDirectory, arguments);

    /// <summary>Runs an SDK command to its end and fails the test, with its output, if it does not succeed.</summary>
    public static async Task RunAsync(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        using var command = new DotnetProcess(workingDirectory, arguments);
        var exitCode = await command.WaitForExitAsync(timeout);
        Assert.True(exitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {exitCode}:\n{command.Output}");
    }

    /// <summary>The address Kestrel reports it listens on.</summary>
    public Task<Uri> ListeningAsync() => _listening.Task.WaitAsync(TestTimeouts.Default);

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout ?? TestTimeouts.Default);
        return _process.ExitCode;
    }

    private void Collect(string? line, bool watchForListening)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (watchForListening && ListeningOn().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();
}
