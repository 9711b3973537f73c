using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

/// <summary>
/// The gateway as operators run it: its own process, from a directory without any appsettings.json, so
/// it runs on the embedded default configuration; stopped with SIGTERM, it drains relay sockets with 1001.
/// </summary>
public sealed partial class GatewayProcessTests
{
    [Fact]
    public async Task GatewayProcess_OnEmbeddedDefaults_ServesRelayAndStatus_AndDrainsOnSigterm()
    {
        var workingDirectory = Directory.CreateTempSubdirectory("relay-gateway-").FullName;
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "Relay.Gateway.dll"), "--urls", "http://127.0.0.1:0" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        try
        {
            var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            var output = new System.Text.StringBuilder();
            process.OutputDataReceived += (_, e) =>
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }

                if (e.Data is not null && ListeningOn().Match(e.Data) is { Success: true } match)
                {
                    listening.TrySetResult(new Uri(match.Groups[1].Value));
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var baseUri = await listening.Task.WaitAsync(TestTimeouts.Default);

            using var http = new HttpClient { BaseAddress = baseUri };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
            Assert.Contains("<h1>Relay</h1>", await http.GetStringAsync("/"), StringComparison.Ordinal);

            using var peer = new ClientWebSocket();
            await peer.ConnectAsync(new Uri(new UriBuilder(baseUri) { Scheme = "ws" }.Uri, "/introduction/alice"), CancellationToken.None);
            var closing = peer.ReceiveCloseAsync();

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
                Assert.Equal(0, kill.ExitCode);
            }

            var (status, _) = await closing;
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
            await peer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
            Assert.Equal(0, process.ExitCode);
            lock (output)
            {
                Assert.Contains("Draining 1 relay sockets", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();
}
