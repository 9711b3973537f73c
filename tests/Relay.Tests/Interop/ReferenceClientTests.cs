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
    public Task ReferenceClient_JoinConnectExchangeLeaveReconnect() =>
        NodeScript.RunExchangeScenarioAsync("interop", "interop.mjs", Path.Combine("@localfirst", "relay", "dist", "Client.js"), rounds: 3);

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

        var run = await NodeScript.RunAsync(Path.Combine(RepositoryPaths.Root, "tests", "interop"), "interop.mjs",
            $"{root}/t/{tokens.For("alice", ["interop-doc"])}", $"{root}/t/{tokens.For("bob", ["interop-doc"])}");

        NodeScript.AssertExchangedRounds("interop.mjs", run, rounds: 3);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await gateway.RefusedHandshakeAsync("/introduction/alice")).Status);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 0, ActivePairings: 0, PendingConnections: 0 },
            "the clients' sockets are all gone");
    }
}
