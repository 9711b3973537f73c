using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Relay.Tests.Telemetry;

/// <summary>
/// A real Prometheus (the Debian package's binary) started for one test: loopback only, a temporary
/// config scraping one target every second, temporary storage, stopped and deleted on dispose.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    public const string Job = "relay-gateway";

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output;

    private PrometheusServer(Process process, string directory, Uri address, StringBuilder output)
    {
        _process = process;
        _directory = directory;
        _output = output;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Http { get; }

    /// <summary>The prometheus binary: on PATH, else the Debian package's path; fails the test with what to do when absent.</summary>
    public static string Locate(string name = "prometheus")
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
        {
            var candidate = Path.Combine(directory, name);
            if (directory.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"'{name}' is not installed, so the dashboard cannot be checked against a real Prometheus. Run .ci/run (as root) once: it installs the Debian package 'prometheus', which CI has.");
        return "";
    }

    public static async Task<PrometheusServer> StartAsync(Uri target, string metricsPath = "/metrics")
    {
        var binary = Locate();
        var directory = Directory.CreateTempSubdirectory("relay-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: {Job}
                metrics_path: {metricsPath}
                static_configs:
                  - targets: ["{target.Authority}"]
            """);

        var port = LoopbackPort.Free();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            "--log.level=warn",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new PrometheusServer(process, directory, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/"), output);
        await server.UntilAsync(async () => (await server.GetStatusAsync("-/ready")) == HttpStatusCode.OK, "Prometheus is ready");
        return server;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing (with Prometheus's log) at the deadline or if Prometheus exits.</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (!await condition())
        {
            if (_process.HasExited)
            {
                Assert.Fail($"Prometheus exited ({_process.ExitCode}) before {because}:\n{Log}");
            }

            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {because}. Prometheus log:\n{Log}");
            }

            await tick.WaitForNextTickAsync(CancellationToken.None);
        }
    }

    /// <summary>An instant query; returns the result vector (empty when the expression has no data).</summary>
    public async Task<JsonElement> QueryAsync(string expression)
    {
        var json = await GetJsonAsync($"api/v1/query?query={Uri.EscapeDataString(expression)}");
        return json.GetProperty("data").GetProperty("result");
    }

    /// <summary>The values of <paramref name="label"/> on series matching <paramref name="selector"/> (Grafana's label_values).</summary>
    public async Task<string[]> LabelValuesAsync(string label, string selector)
    {
        var json = await GetJsonAsync($"api/v1/label/{Uri.EscapeDataString(label)}/values?match[]={Uri.EscapeDataString(selector)}");
        return [.. json.GetProperty("data").EnumerateArray().Select(v => v.GetString()!)];
    }

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

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path} answered {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        Assert.Equal("success", document.RootElement.GetProperty("status").GetString());
        return document.RootElement.Clone();
    }

    private async Task<HttpStatusCode?> GetStatusAsync(string path)
    {
        try
        {
            using var response = await Http.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }
}
