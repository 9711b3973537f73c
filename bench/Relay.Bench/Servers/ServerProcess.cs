using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Relay.Bench.Servers;

/// <summary>A server process this benchmark started, its output going to a log file. Stopping kills it by its own id.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private readonly TaskCompletionSource _awaitedLine = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    /// <summary>Completes when the process prints a line containing the <c>awaitedLine</c> given to <see cref="Start"/>.</summary>
    public Task AwaitedLine => _awaitedLine.Task;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ServerProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string?> environment, string logPath, string? awaitedLine = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:O} {fileName} {string.Join(' ', info.ArgumentList)}");
        var process = new Process { StartInfo = info };
        var server = new ServerProcess(process, log);
        process.OutputDataReceived += (_, e) => server.Collect(e.Data, awaitedLine);
        process.ErrorDataReceived += (_, e) => server.Collect(e.Data, awaitedLine);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Collect(string? line, string? awaitedLine)
    {
        Write(_log, line);
        if (awaitedLine is not null && line is not null && line.Contains(awaitedLine, StringComparison.Ordinal))
        {
            _awaitedLine.TrySetResult();
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    /// <summary>Polls <paramref name="url"/> until it answers 200, or fails after <paramref name="timeout"/>.</summary>
    public async Task WaitForHttpOkAsync(Uri url, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new BenchFailure($"{_process.StartInfo.FileName} exited with {_process.ExitCode} before answering {url}");
            }

            try
            {
                using var response = await http.GetAsync(url).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (deadline.Elapsed > timeout)
            {
                throw new BenchFailure($"{url} did not answer 200 within {timeout.TotalSeconds} s");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(_process).ConfigureAwait(false);
        lock (_log)
        {
            _log.Dispose();
        }
    }

    /// <summary>Kills a process unless it has exited, waits (at most 10 s) for it to go, and disposes it.</summary>
    public static async Task StopAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
    }

    /// <summary>A loopback port free at the time of asking.</summary>
    public static int FreePort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }
}
