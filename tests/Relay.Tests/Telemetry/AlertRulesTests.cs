using System.Diagnostics;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>
/// The alerting rules shipped in <c>grafana/alerts.yml</c> (relay down, Redis unavailable, rejection surge, pairing
/// wait p99 high) against the real promtool: they parse, their unit tests in <c>grafana/alerts.test.yml</c> fire each
/// alert when it should and not before, and <c>grafana/prometheus.yml</c> loads them.
/// </summary>
[Trait("Category", "Prometheus")]
public sealed class AlertRulesTests
{
    private static readonly string Grafana = Path.Combine(RepositoryPaths.Root, "grafana");

    [Fact]
    public async Task Rules_PassPromtoolCheck() =>
        Assert.Contains("SUCCESS: 4 rules found", await PromtoolAsync("check", "rules", "alerts.yml"), StringComparison.Ordinal);

    [Fact]
    public async Task Rules_PassTheirUnitTests() =>
        Assert.Contains("SUCCESS", await PromtoolAsync("test", "rules", "alerts.test.yml"), StringComparison.Ordinal);

    [Theory]
    [InlineData("prometheus.yml")]
    [InlineData("prometheus.cluster.yml")]
    public async Task PrometheusConfig_LoadsTheRules(string config) =>
        Assert.Contains("SUCCESS: 1 rule files found", await PromtoolAsync("check", "config", config), StringComparison.Ordinal);

    [Fact]
    public void EveryRule_IsUnitTested()
    {
        var rules = File.ReadAllLines(Path.Combine(Grafana, "alerts.yml"))
            .Where(line => line.TrimStart().StartsWith("- alert: ", StringComparison.Ordinal))
            .Select(line => line.Trim()["- alert: ".Length..]).ToList();
        var tests = File.ReadAllText(Path.Combine(Grafana, "alerts.test.yml"));

        Assert.Equal(["RelayDown", "RelayRedisUnavailable", "RelayRejectionSurge", "RelayPairingWaitHigh"], rules);
        Assert.All(rules, rule => Assert.Contains($"alertname: {rule}", tests, StringComparison.Ordinal));
    }

    /// <summary>Runs promtool in <c>grafana/</c>; fails the test, with its output, unless it exits 0.</summary>
    private static async Task<string> PromtoolAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(PrometheusServer.Locate("promtool"), arguments)
        {
            WorkingDirectory = Grafana,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
        var report = await output + await errors;
        Assert.True(process.ExitCode == 0, $"promtool {string.Join(' ', arguments)} exited {process.ExitCode}:\n{report}");
        return report;
    }
}
