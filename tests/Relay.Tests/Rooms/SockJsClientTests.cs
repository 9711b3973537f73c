using System.Text.Json;
using Relay.Rooms;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Rooms;

/// <summary>
/// The real npm <c>sockjs-client</c> 1.6.1 (the transport <c>videre-client</c> opens with <c>new SockJS(url)</c>)
/// against the gateway's Rooms route, in Node: it reads <c>/echo/info</c>, picks the WebSocket transport,
/// and two clients and a raw WebSocket peer connect, ping, exchange an ICE offer and answer as object
/// Payloads, see a heartbeat, a replacement (4409) and a departure (tests/interop-rooms/interop.mjs).
/// </summary>
[Trait("Category", "Interop")]
public sealed class SockJsClientTests
{
    [Fact]
    public async Task SockJsClient_ConnectsPingsBroadcastsIsReplacedAndLeaves()
    {
        var interop = Path.Combine(RepositoryPaths.Root, "tests", "interop-rooms");
        Assert.True(
            File.Exists(Path.Combine(interop, "node_modules", "sockjs-client", "package.json")),
            "sockjs-client is not installed: run `npm install --prefix tests/interop-rooms` (bash .ci/run does).");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Rooms:HeartbeatInterval"] = "00:00:01" });

        var (exitCode, output, errors) = await NodeScript.RunAsync(interop, "interop.mjs", new Uri(gateway.HttpUri, "/echo").ToString());

        Assert.True(exitCode == 0, $"interop.mjs failed ({exitCode}):\n{output}\n{errors}");
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        JsonElement Event(string name) => events.Single(e => e.GetProperty("event").GetString() == name);
        Assert.All(events.Where(e => e.GetProperty("event").GetString() == "open"), open => Assert.Equal("websocket", open.GetProperty("transport").GetString()));
        Assert.Equal(["alice", "bob", "carol"], Event("ping").GetProperty("users").EnumerateArray().Select(user => user.GetString()));
        Assert.Equal("Ice Answer", Event("exchanged").GetProperty("answer").GetString());
        Assert.Equal(4409, Event("replaced").GetProperty("code").GetInt32());
        Assert.Equal("done", events[^1].GetProperty("event").GetString());
        await Eventually.TrueAsync(() => gateway.GetService<IRoomRegistry>() is { RoomCount: 0, UserCount: 0 }, "every client has gone");
    }
}
