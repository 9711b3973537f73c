using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Relay.Targeted;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Targeted;

/// <summary>Targeted signaling's limits: registrations, message size, a target that does not read, shutdown, the mount.</summary>
public sealed class TargetedLimitTests
{
    [Fact]
    public async Task Register_BeyondMaxRegistrations_Answers503Full_AndKeepsTheOthers()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Targeted:MaxRegistrations"] = "2" });
        await using var alice = await TargetedUser.RegisterAsync(gateway, "alice");
        await using var bob = await TargetedUser.RegisterAsync(gateway, "bob");
        await using var carol = new TargetedUser(gateway, "carol");

        using var response = await carol.Http.PostAsJsonAsync("/v1/register", new { username = "carol" });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("""{"status":"FULL","message":"registration limit reached"}""", await response.Content.ReadAsStringAsync());
        Assert.Empty(carol.Cookies.GetCookies(gateway.HttpUri));
        using var user = await alice.Http.GetAsync("/v1/user");
        Assert.Equal(HttpStatusCode.OK, user.StatusCode);
    }

    [Fact]
    public async Task MessageOverMaxMessageBytes_ClosesTheSenderWith4413_AndOthersGoOn()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Targeted:MaxMessageBytes"] = "1024" });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await TargetedUser.RegisterAndConnectAsync(gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(gateway, "bob");

        // Exactly the limit is delivered; one byte more is not.
        var fits = $$"""{"target":"bob","type":"t","payload":"{{new string('x', 1024 - 40)}}"}""";
        Assert.Equal(1024, fits.Length);
        await alice.Socket.SendTextAsync(fits);
        Assert.Equal(1024 + "\"originator\":\"alice\",".Length, (await bob.Socket.ReceiveMessageAsync()).Payload.Length);
        await alice.Socket.SendTextAsync(fits.Replace("\"}", "x\"}", StringComparison.Ordinal));

        var (status, _) = await alice.Socket.ReceiveCloseAsync();
        Assert.Equal(4413, (int?)status);
        alice.Socket.Dispose();
        await Eventually.TrueAsync(() => gateway.GetService<ITargetedRegistry>().ActiveCount == 1, "alice's session is gone");
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "message_too_big");
        await Eventually.TrueAsync(
            () => recorder.Sum("relay.targeted.closes", "relay.targeted.close_reason", "message_too_big") == 1, "alice's end is counted as message_too_big");
        await TargetedUser.SendAsync(bob.Socket, "bob", "still", "1");
        Assert.Equal("""{"originator":"bob","target":"bob","type":"still","payload":1}""", (await bob.Socket.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task TargetThatDoesNotRead_IsClosedWith4429_WhileItsSenderNeverStalls()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Targeted:MaxMessageBytes"] = "1048576",
            ["Relay:Targeted:MaxQueuedBytes"] = "1048576",
            // The slow target reads at the end to see its close code; give it time to get there.
            ["Relay:CloseTimeout"] = "00:01:00",
        });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var slow = await TargetedUser.RegisterAndConnectAsync(gateway, "slow");
        await using var sender = await TargetedUser.RegisterAndConnectAsync(gateway, "sender");
        await using var carol = await TargetedUser.RegisterAndConnectAsync(gateway, "carol");
        var payload = $"\"{new string('x', 512 * 1024)}\"";

        // Past the socket buffers, the relay queues for the slow target up to its cap, then closes it.
        for (var i = 0; recorder.Sum("relay.rejected_connections", "error.type", "queue_full") == 0; i++)
        {
            Assert.True(i < 400, "the relay never capped the slow target's queue");
            await TargetedUser.SendAsync(sender.Socket, "slow", "flood", payload);
        }

        // The sender was never held up: the slow target is forgotten at once (its close handshake still
        // waits for it to read), and carol hears from the sender.
        Assert.Equal(2, gateway.GetService<ITargetedRegistry>().ActiveCount);
        await TargetedUser.SendAsync(sender.Socket, "slow", "after", "1");
        Assert.Equal("""{"target":"","type":"TARGET_NOT_FOUND","payload":null}""", (await sender.Socket.ReceiveMessageAsync()).Text);
        await TargetedUser.SendAsync(sender.Socket, "carol", "hello", "1");
        Assert.Equal("""{"originator":"sender","target":"carol","type":"hello","payload":1}""", (await carol.Socket.ReceiveMessageAsync()).Text);

        // The slow target, reading at last, finds its queue was cut with 4429.
        Assert.Equal(4429, (int?)await slow.Socket.ReceiveEndAsync());
        slow.Socket.Dispose();
        await Eventually.TrueAsync(() => recorder.Sum("relay.targeted.closes", "relay.targeted.close_reason", "queue_full") == 1, "the slow target's close is counted");
    }

    [Fact]
    public async Task Shutdown_ClosesTargetedSocketsWith1001()
    {
        var gateway = await TestGateway.StartAsync();
        await using var alice = await TargetedUser.RegisterAndConnectAsync(gateway, "alice");
        var answered = Task.Run(async () =>
        {
            var (status, _) = await alice.Socket.ReceiveCloseAsync();
            await alice.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return status;
        });

        await gateway.DisposeAsync();

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await answered);
        alice.Socket.Dispose();
    }

    [Fact]
    public async Task Roles_MountedUnderAPrefix_ServeTheProtocolThere()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:targeted-register:Match:Path"] = "/signal/v1/register",
            ["ReverseProxy:Routes:targeted-connect:Match:Path"] = "/signal/v1/connect",
        });
        await using var alice = new TargetedUser(gateway, "alice");
        using var registered = await alice.Http.PostAsJsonAsync("/signal/v1/register", new { username = "alice" });
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        using var moved = await alice.Http.PostAsJsonAsync("/v1/register", new { username = "bob" });
        Assert.Equal(HttpStatusCode.NotFound, moved.StatusCode);

        using var socket = await gateway.ConnectAsync("/signal/v1/connect", o => o.Cookies = alice.Cookies);
        await TargetedUser.SendAsync(socket, "alice", "here", "1");
        Assert.Equal("""{"originator":"alice","target":"alice","type":"here","payload":1}""", (await socket.ReceiveMessageAsync()).Text);
        await socket.CloseQuietlyAsync();
    }
}
