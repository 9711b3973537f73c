using Relay.Tests.Infrastructure;

namespace Relay.Tests.Interop;

/// <summary>
/// The real @localfirst/relay-client 3.6.2 (JSON text introductions, <c>userName</c> in its Introductions),
/// bundled with esbuild and given ws as its WebSocket, against the gateway: two clients on one document
/// get <c>peer.connect</c>, exchange messages both ways through the connection route, leave and join
/// again (tests/interop-v3/interop-v3.mjs).
/// </summary>
[Trait("Category", "Interop")]
public sealed class RelayV3ClientTests
{
    [Fact]
    public async Task RelayV3Client_JoinConnectExchangeLeaveJoinAgain()
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop-v3");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "@localfirst", "relay-client", "dist", "src", "Client.js")),
            "The 3.x client is not installed: run `npm install --prefix tests/interop-v3` (bash .ci/run does).");
        await using var gateway = await TestGateway.StartAsync();

        var run = await NodeScript.RunAsync(interop, "interop-v3.mjs", gateway.WebSocketUri.ToString().TrimEnd('/'));

        NodeScript.AssertExchangedRounds("interop-v3.mjs", run, rounds: 2);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 0, ActivePairings: 0, PendingConnections: 0 },
            "the clients' sockets are all gone");
    }
}
