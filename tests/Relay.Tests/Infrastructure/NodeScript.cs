using System.Diagnostics;
using System.Text.Json;

namespace Relay.Tests.Infrastructure;

/// <summary>Runs a Node script of an interop folder (tests/interop*) that prints one JSON event per line.</summary>
internal static class NodeScript
{
    /// <summary>Runs <c>node</c> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>, killed after <see cref="TestTimeouts.Default"/>.</summary>
    public static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await errors);
    }

    /// <summary>The script's output, one JSON event per line.</summary>
    private static List<JsonElement> Events(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();

    /// <summary>
    /// Asserts the script passed: exit code 0, rounds 1 to <paramref name="rounds"/> each exchanged
    /// <c>alice→bob {round}</c> and <c>bob→alice {round}</c>, and <c>done</c> last.
    /// </summary>
    public static void AssertExchangedRounds(string script, (int ExitCode, string Output, string Errors) run, int rounds)
    {
        Assert.True(run.ExitCode == 0, $"{script} failed ({run.ExitCode}):\n{run.Output}\n{run.Errors}");
        var events = Events(run.Output);
        for (var round = 1; round <= rounds; round++)
        {
            var exchanged = events.Single(e => e.GetProperty("event").GetString() == "exchanged" && e.GetProperty("round").GetInt32() == round);
            Assert.Equal($"bob→alice {round}", exchanged.GetProperty("alice").GetString());
            Assert.Equal($"alice→bob {round}", exchanged.GetProperty("bob").GetString());
        }

        Assert.Equal("done", events[^1].GetProperty("event").GetString());
    }

    /// <summary>
    /// The two-client scenario of an interop folder against a fresh gateway: the npm client must be installed,
    /// the script must pass <paramref name="rounds"/> exchanges, and every socket must be gone afterwards.
    /// </summary>
    public static async Task RunExchangeScenarioAsync(string folder, string script, string installedFile, int rounds)
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", folder);
        Assert.True(File.Exists(Path.Combine(interop, "node_modules", installedFile)),
            $"The npm client is not installed: run `npm install --prefix tests/{folder}` (bash .ci/run does).");
        await using var gateway = await TestGateway.StartAsync();

        var run = await RunAsync(interop, script, gateway.WebSocketUri.ToString().TrimEnd('/'));

        AssertExchangedRounds(script, run, rounds);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 0, ActivePairings: 0, PendingConnections: 0 },
            "the clients' sockets are all gone");
    }
}
