using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

/// <summary>
/// The gateway as operators run it: its own process, from a directory without any appsettings.json, so
/// it runs on the embedded default configuration; stopped with SIGTERM, it drains relay sockets with 1001.
/// </summary>
public sealed class GatewayProcessTests
{
    [Fact]
    public async Task GatewayProcess_OnEmbeddedDefaults_ServesRelayAndStatus_AndDrainsOnSigterm()
    {
        var workingDirectory = Directory.CreateTempSubdirectory("relay-gateway-").FullName;
        try
        {
            using var process = DotnetProcess.Start(workingDirectory, Path.Combine(AppContext.BaseDirectory, "Relay.Gateway.dll"), "--urls", "http://127.0.0.1:0");
            var baseUri = await process.ListeningAsync();

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

            // The drain waits for our answer to its close, so the console logger (which writes on a thread
            // of its own and may not flush once the process is exiting) has shown the drain by then.
            await Eventually.TrueAsync(() => process.Output.Contains("Draining 1 relay sockets", StringComparison.Ordinal), "the drain is logged");
            await peer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            Assert.Equal(0, await process.WaitForExitAsync());
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
