using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

/// <summary>
/// Gateway:InlineScheduling: on by default, Kestrel runs continuations where the socket operation completed,
/// and the gateway's own process asks the runtime for inline socket completions too; off, neither.
/// </summary>
public sealed class InlineSchedulingTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public async Task Setting_ReachesKestrelsSocketTransport(string? configured, bool expected)
    {
        await using var gateway = await TestGateway.StartAsync(configured is null ? null : new Dictionary<string, string?> { ["Gateway:InlineScheduling"] = configured });

        Assert.Equal(expected, gateway.GetService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);
    }

    [Fact]
    public async Task GatewayProcess_RunsInline_AndPipesBothWays()
    {
        var workingDirectory = Directory.CreateTempSubdirectory("relay-gateway-").FullName;
        try
        {
            using var process = DotnetProcess.Start(workingDirectory, Path.Combine(AppContext.BaseDirectory, "Relay.Gateway.dll"), "--urls", "http://127.0.0.1:0");
            var baseUri = new UriBuilder(await process.ListeningAsync()) { Scheme = "ws" }.Uri;
            Assert.Contains("Inline scheduling is on (Gateway:InlineScheduling); runtime socket completions inline: True", process.Output, StringComparison.Ordinal);

            using var alice = new ClientWebSocket();
            using var bob = new ClientWebSocket();
            await alice.ConnectAsync(new Uri(baseUri, "/connection/alice/bob/doc"), CancellationToken.None);
            await bob.ConnectAsync(new Uri(baseUri, "/connection/bob/alice/doc"), CancellationToken.None);
            for (var i = 0; i < 100; i++)
            {
                await alice.SendAsync(Encoding.UTF8.GetBytes($"a{i}"), WebSocketMessageType.Text, true, CancellationToken.None);
                await bob.SendAsync(Encoding.UTF8.GetBytes($"b{i}"), WebSocketMessageType.Binary, true, CancellationToken.None);
            }

            for (var i = 0; i < 100; i++)
            {
                var fromAlice = await bob.ReceiveMessageAsync();
                var fromBob = await alice.ReceiveMessageAsync();
                Assert.Equal((WebSocketMessageType.Text, $"a{i}"), (fromAlice.Type, Encoding.UTF8.GetString(fromAlice.Payload)));
                Assert.Equal((WebSocketMessageType.Binary, $"b{i}"), (fromBob.Type, Encoding.UTF8.GetString(fromBob.Payload)));
            }

            await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            Assert.Equal((WebSocketCloseStatus.NormalClosure, "done"), await bob.ReceiveCloseAsync());
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
