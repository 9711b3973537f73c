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
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "@localfirst", "relay", "dist", "Client.js")),
            "The reference client is not installed: run `npm install --prefix tests/interop` (bash .ci/run does).");
        await using var gateway = await TestGateway.StartAsync();

        var run = await NodeScript.RunAsync(interop, "interop.mjs", gateway.WebSocketUri.ToString().TrimEnd('/'));

        NodeScript.AssertExchangedRounds("interop.mjs", run, rounds: 3);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 0, ActivePairings: 0, PendingConnections: 0 },
            "the clients' sockets are all gone");
    }
}
