using System.Text.Json;
using Relay.Tests.Identity;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Interop;

/// <summary>
/// The real npm client, @localfirst/relay 4.2.2 (dist/Client.js, with ws and msgpackr), against the
/// gateway: two clients join, are introduced, connect, exchange messages both ways, leave, join again,
/// and reconnect with the same peer id (tests/interop/interop.mjs).
/// </summary>
[Trait("Category", "Interop")]
public sealed class ReferenceClientTests
{
    [Fact]
    public async Task ReferenceClient_JoinConnectExchangeLeaveReconnect()
    {
        await using var gateway = await TestGateway.StartAsync();
        var url = gateway.WebSocketUri.ToString().TrimEnd('/');
        await RunScenarioAsync(gateway, url, url);
    }

    /// <summary>
    /// The client takes only a base URL; a route with an <c>access_token</c> value lets that URL carry each
    /// peer's token, so an unchanged client authenticates as the peer it is.
    /// </summary>
    [Fact]
    public async Task ReferenceClient_AuthenticatedByATokenInItsBaseUrl()
    {
        var tokens = TestTokens.Hs256();
        var settings = tokens.GatewaySettings();
        settings["Relay:Identity:DocumentsClaim"] = "docs";
        settings["ReverseProxy:Routes:relay-introduction:Match:Path"] = "/t/{access_token}/introduction/{peerId}";
        settings["ReverseProxy:Routes:relay-connection:Match:Path"] = "/t/{access_token}/connection/{localPeerId}/{remotePeerId}/{documentId}";
        await using var gateway = await TestGateway.StartAsync(settings);
        var root = gateway.WebSocketUri.ToString().TrimEnd('/');

        await RunScenarioAsync(gateway, $"{root}/t/{tokens.For("alice", ["interop-doc"])}", $"{root}/t/{tokens.For("bob", ["interop-doc"])}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await gateway.RefusedHandshakeAsync("/introduction/alice")).Status);
    }

    private static async Task RunScenarioAsync(TestGateway gateway, string aliceUrl, string bobUrl)
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "@localfirst", "relay", "dist", "Client.js")),
            "The reference client is not installed: run `npm install --prefix tests/interop` (bash .ci/run does).");

        var (exitCode, output, errors) = await NodeScript.RunAsync(interop, "interop.mjs", aliceUrl, bobUrl);

        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.True(exitCode == 0, $"interop.mjs failed ({exitCode}):\n{output}\n{errors}");
        for (var round = 1; round <= 3; round++)
        {
            var exchanged = events.Single(e => e.GetProperty("event").GetString() == "exchanged" && e.GetProperty("round").GetInt32() == round);
            Assert.Equal($"bob→alice {round}", exchanged.GetProperty("alice").GetString());
            Assert.Equal($"alice→bob {round}", exchanged.GetProperty("bob").GetString());
        }

        Assert.Equal("done", events[^1].GetProperty("event").GetString());
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 0, ActivePairings: 0, PendingConnections: 0 },
            "the clients' sockets are all gone");
    }
}
