using System.Diagnostics;
using System.Globalization;
using System.Text;
using Relay.Tests.Infrastructure;
using Relay.Tests.Telemetry;

namespace Relay.Tests.Cluster;

/// <summary>
/// A real redis-server (the Debian package's binary) for one test: loopback, a free port, no persistence, so
/// killing and starting it again on the same port is "Redis restarted empty". Never the packaged service.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public string Log
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(LoopbackPort.Free());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts redis-server on <see cref="Port"/> and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo(Locate())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(e.Data);
            }

            if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var exited = process.WaitForExitAsync();
        if (await Task.WhenAny(ready.Task, exited).WaitAsync(TestTimeouts.Default) == exited)
        {
            Assert.Fail($"redis-server exited ({process.ExitCode}) before it was ready:\n{Log}");
        }
    }

    /// <summary>Kills redis-server with SIGKILL: nothing is saved, so the next start is empty.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    private static string Locate()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
        {
            var candidate = Path.Combine(directory, "redis-server");
            if (directory.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail("'redis-server' is not installed, so the cluster cannot be tested against a real Redis. Run .ci/run (as root) once: it installs the Debian package 'redis-server', which CI has.");
        return "";
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}
