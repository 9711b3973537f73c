using System.Net.WebSockets;
using Relay.Rooms;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Rooms;

/// <summary>The rooms limits from <c>Relay:Rooms:*</c>, each a documented close, counted, that leaves everyone else alone.</summary>
public sealed class RoomsLimitTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PacketOverTheLimit_ClosesWith4413(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Rooms:MaxPacketBytes"] = "1024" });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var client = await RoomClient.ConnectAsync(gateway, sockJs);

        await client.SendPacketAsync("connect", "alice", "room", new string('x', 1100));

        Assert.Equal(4413, await client.ReceiveCloseCodeAsync());
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "message_too_big");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConnectToAFullRoom_ClosesWith4429_AndTheRoomIsUntouched(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Rooms:MaxUsersPerRoom"] = "2" });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var carol = await RoomClient.ConnectAsync(gateway, sockJs);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);

        await carol.SendPacketAsync("connect", "carol", "room");

        Assert.Equal(4429, await carol.ReceiveCloseCodeAsync());
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "room_full");

        // Bob can still rejoin the full room he is in, and replace himself from another socket.
        await bob.SendPacketAsync("connect", "bob", "room");
        AssertPacketEvent(await alice.ReceivePacketAsync(), "disconnect");
        AssertPacketEvent(await alice.ReceivePacketAsync(), "connect");
        await using var bobAgain = await RoomClient.ConnectAsync(gateway, sockJs);
        await bobAgain.SendPacketAsync("connect", "bob", "room");
        Assert.Equal("false", (string?)(await bobAgain.ReceivePacketAsync())["Payload"]);
        Assert.Equal(2, gateway.GetService<IRoomRegistry>().UserCount);
    }

    [Fact]
    public async Task ConnectBeyondTheRoomLimit_ClosesWith4429_ButMovingBetweenRoomsStillWorks()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Rooms:MaxRooms"] = "2" });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: false);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs: true);
        await using var carol = await RoomClient.ConnectAsync(gateway, sockJs: false);
        await alice.JoinAsync("alice", "one");
        await bob.JoinAsync("bob", "two");

        // Alice alone in "one" may move to a new room "three": "one" empties as she leaves it.
        await alice.SendPacketAsync("connect", "alice", "three");
        Assert.Equal("true", (string?)(await alice.ReceivePacketAsync())["Payload"]);

        await carol.SendPacketAsync("connect", "carol", "four");
        Assert.Equal(4429, await carol.ReceiveCloseCodeAsync());
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "too_many_rooms");
        Assert.Equal(2, gateway.GetService<IRoomRegistry>().RoomCount);
    }

    [Theory]
    [InlineData("", "room")]
    [InlineData("alice", "")]
    [InlineData("al ice", "room")]
    [InlineData("alice", "ro\u0000om")]
    public async Task ConnectWithAnInvalidId_ClosesWith4400(string userId, string roomId)
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var client = await RoomClient.ConnectAsync(gateway, sockJs: false);

        await client.SendPacketAsync("connect", userId, roomId);

        Assert.Equal(4400, await client.ReceiveCloseCodeAsync());
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "invalid_id");
        Assert.Equal(0, gateway.GetService<IRoomRegistry>().RoomCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASocketThatDoesNotRead_IsClosedWith4429_AndTheRoomGoesOn(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Rooms:MaxQueuedBytes"] = "65536",
            ["Relay:Rooms:MaxPacketBytes"] = "65536",
        });
        using var recorder = new MetricRecorder(gateway.Services);
        await using var stalled = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var sender = await RoomClient.ConnectAsync(gateway, sockJs: false);
        await stalled.JoinAsync("stalled", "room");
        await sender.JoinAsync("sender", "room");

        // Large broadcasts fill the stalled socket's TCP buffers, then its queue; the sender, who reads, is never held up.
        var payload = new string('x', 30_000);
        for (var i = 0; recorder.Sum("relay.rejected_connections", "error.type", "queue_full") == 0; i++)
        {
            Assert.True(i < 5000, "the relay never capped the stalled socket's queue");
            await sender.SendPacketAsync("broadcast", "sender", "room", payload);
            Assert.Equal("broadcast", (string?)(await sender.ReceivePacketAsync())["Header"]!["Event"]);
        }

        // Reading at last, the stalled socket finds its queue was cut with 4429; once it has closed, the room is told.
        Assert.Equal(4429, await stalled.ReceiveCloseCodeAsync());
        await stalled.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        AssertPacketEvent(await sender.ReceivePacketAsync(), "disconnect");
        Assert.Equal(1, gateway.GetService<IRoomRegistry>().UserCount);
    }

    private static void AssertPacketEvent(System.Text.Json.Nodes.JsonNode packet, string eventName) =>
        Assert.Equal(eventName, (string?)packet["Header"]!["Event"]);

    [Fact]
    public async Task Shutdown_ClosesRoomSocketsWith1001_SockJsWithACloseFrame()
    {
        var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:DrainTimeout"] = "00:00:20" });
        var raw = await RoomClient.ConnectAsync(gateway, sockJs: false);
        var sockJs = await RoomClient.ConnectAsync(gateway, sockJs: true);
        await raw.JoinAsync("raw", "room");

        var closes = new[] { raw, sockJs }.Select(async client =>
        {
            var code = await client.ReceiveCloseCodeAsync();
            await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return code;
        }).ToArray();
        await gateway.DisposeAsync();

        Assert.All(await Task.WhenAll(closes), code => Assert.Equal(1001, code));
    }
}
