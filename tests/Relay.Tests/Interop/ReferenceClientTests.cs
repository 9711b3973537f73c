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
}
