using System.Diagnostics;
using System.Text.Json;

namespace Relay.Bench.Load;

/// <summary>
/// bench/pipe-driver.mjs, one process per measurement: Node <c>ws</c> clients (or plain <c>net</c> sockets
/// for the floor) streaming through a target. It reports its phases as JSON lines on stdout and waits
/// for "measure" on stdin between warm-up and the measured phase, so the caller reads the server's CPU
/// with nothing in flight. Its stderr goes to the run's logs.
/// </summary>
internal sealed class NodePipeDriver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Queue<string> _lastErrors = new();

    private NodePipeDriver(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Pid => _process.Id;

    public static NodePipeDriver Start(BenchConfig config, IEnumerable<string> arguments, string label)
    {
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.GetDirectoryName(config.NodeDriverScript)!,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(config.NodeDriverScript);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var log = new StreamWriter(Path.Combine(config.LogDirectory, "node-driver.log"), append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:O} {label}: node {string.Join(' ', info.ArgumentList)}");
        var process = new Process { StartInfo = info };
        var driver = new NodePipeDriver(process, log);
        process.ErrorDataReceived += (_, e) => driver.Stderr(e.Data);
        process.Start();
        process.BeginErrorReadLine();
        return driver;
    }

    private void Stderr(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastErrors)
        {
            _log.WriteLine(line);
            _lastErrors.Enqueue(line);
            if (_lastErrors.Count > 5)
            {
                _lastErrors.Dequeue();
            }
        }
    }

    /// <summary>
    /// The next event line, which must be <paramref name="expected"/>: an "error" event, another event, or
    /// the driver's exit throws a <see cref="BenchFailure"/> saying what the driver saw.
    /// </summary>
    public async Task<JsonElement> NextAsync(string expected, CancellationToken cancellationToken)
    {
        while (true)
        {
            string? line;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new BenchFailure($"Node driver: no \"{expected}\" before the deadline");
            }

            if (line is null)
            {
                await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                throw new BenchFailure($"Node driver exited with {_process.ExitCode} before \"{expected}\"{StderrTail()}");
            }

            JsonElement message;
            try
            {
                message = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException)
            {
                _log.WriteLine($"(stdout) {line}");
                continue;
            }

            var name = message.GetProperty("event").GetString();
            if (name == expected)
            {
                return message;
            }

            throw new BenchFailure(name == "error"
                ? $"Node driver: {message.GetProperty("message").GetString()}"
                : $"Node driver: \"{name}\" where \"{expected}\" was expected");
        }
    }

    public async Task SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Waits for the driver to close its sockets and exit; anything but 0 is a failure.</summary>
    public async Task ExitedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new BenchFailure("Node driver did not exit after the measured phase");
        }

        if (_process.ExitCode != 0)
        {
            throw new BenchFailure($"Node driver exited with {_process.ExitCode}{StderrTail()}");
        }
    }

    private string StderrTail()
    {
        lock (_lastErrors)
        {
            return _lastErrors.Count == 0 ? "" : $": {string.Join(" | ", _lastErrors)}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Servers.ServerProcess.StopAsync(_process).ConfigureAwait(false);
        lock (_lastErrors)
        {
            _log.Dispose();
        }
    }
}
