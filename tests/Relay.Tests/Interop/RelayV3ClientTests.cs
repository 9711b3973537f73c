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
    public Task RelayV3Client_JoinConnectExchangeLeaveJoinAgain() =>
        NodeScript.RunExchangeScenarioAsync("interop-v3", "interop-v3.mjs", Path.Combine("@localfirst", "relay-client", "dist", "src", "Client.js"), rounds: 2);
}
