using System.Text.Json;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Sigver;

/// <summary>
/// The real netflux 3.0.0 client (dist/netflux.cjs.js, with @roamhq/wrtc for WebRTC and ws for its WebSocket)
/// against the gateway's sigver endpoint: three peers form a group whose WebRTC offers, answers and candidates
/// travel as sigver content through the gateway, exchange messages over real data channels, and leave
/// (tests/interop-sigver/interop.mjs).
/// </summary>
[Trait("Category", "Interop")]
public sealed class NetfluxInteropTests
{
    [Fact]
    public async Task Netflux_ThreePeersFormAGroupThroughTheGateway_AndExchangeOverDataChannels()
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop-sigver");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "netflux", "dist", "netflux.cjs.js")),
            "netflux is not installed: run `npm install --prefix tests/interop-sigver` (bash .ci/run does).");
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);

        var (exitCode, output, errors) = await NodeScript.RunAsync(
            interop, "interop.mjs", new Uri(gateway.WebSocketUri, "/sigver").ToString(), "netflux-room");

        AssertGroupFormed(exitCode, output, errors);

        // The offers and answers went through the gateway as sigver content, and every socket is gone.
        Assert.True(recorder.Sum("relay.sigver.content_messages") >= 4, "SDP and candidates were relayed as content");
        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>() is { PeerCount: 0, GroupCount: 0 }, "the peers' sockets are all gone");
    }

    /// <summary>interop.mjs ended well: the messages went both ways over data channels, and the three peers were in one group.</summary>
    internal static void AssertGroupFormed(int exitCode, string output, string errors)
    {
        Assert.True(exitCode == 0, $"interop.mjs failed ({exitCode}):\n{output}\n{errors}");
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var messages = events.Single(e => e.GetProperty("event").GetString() == "messages");
        Assert.Equal("bob→alice", messages.GetProperty("alice").GetString());
        Assert.Equal("alice→bob", messages.GetProperty("bob").GetString());
        Assert.True(messages.GetProperty("fromAlice").GetBoolean());
        var group = events.Single(e => e.GetProperty("event").GetString() == "group");
        Assert.True(group.GetProperty("same").GetBoolean());
        Assert.Equal(3, group.GetProperty("members").GetInt32());
        Assert.Equal("done", events[^1].GetProperty("event").GetString());
    }
}
