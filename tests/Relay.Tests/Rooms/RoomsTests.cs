using System.Net;
using System.Text.Json.Nodes;
using Relay.Rooms;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Rooms;

/// <summary>The videre-server rooms protocol on real Kestrel, over the raw WebSocket and the SockJS WebSocket transport.</summary>
public sealed class RoomsTests
{
    private static void AssertPacket(JsonNode packet, string eventName, string userId, string roomId, string? payload = null)
    {
        Assert.Equal(eventName, (string?)packet["Header"]!["Event"]);
        Assert.Equal(userId, (string?)packet["Header"]!["UserId"]);
        Assert.Equal(roomId, (string?)packet["Header"]!["RoomId"]);
        if (payload is not null)
        {
            Assert.Equal(payload, (string?)packet["Payload"]);
        }
    }

    private static IRoomRegistry Rooms(TestGateway gateway) => gateway.GetService<IRoomRegistry>();

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task Connect_MakesTheFirstTheInitiator_AndTellsTheWholeRoom(bool firstSockJs, bool secondSockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, firstSockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, secondSockJs);

        await alice.SendPacketAsync("connect", "alice", "room");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "alice", "room", "true");

        await bob.SendPacketAsync("connect", "bob", "room");
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "bob", "room", "false");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "bob", "room", "false");
        Assert.Equal(1, Rooms(gateway).RoomCount);
        Assert.Equal(2, Rooms(gateway).UserCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Broadcast_GoesToEveryoneInTheRoom_SenderIncluded_WithThePacketWhole(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, !sockJs);
        await using var carol = await RoomClient.ConnectAsync(gateway, sockJs);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);
        await carol.JoinAsync("carol", "elsewhere");

        // An object Payload, an extra field in the Header and at the top, and text that needs escaping.
        const string Sent = """{"Header":{"Event":"broadcast","UserId":"alice","RoomId":"room","Extra":[1,2.5,null]},"Payload":{"Type":"Ice Offer","IcePacket":{"sdp":"v=0\r\n\"é☃😀"}},"Trace":true}""";
        await alice.SendAsync(Sent);

        foreach (var client in new[] { alice, bob })
        {
            var received = await client.ReceivePacketAsync();
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Sent), received), received.ToJsonString());
        }

        // Carol, in another room, got nothing: her next packet is her own ping answer.
        await carol.SendPacketAsync("ping", "carol", "elsewhere");
        AssertPacket(await carol.ReceivePacketAsync(), "ping", "carol", "elsewhere", """["carol"]""");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ping_AnswersTheSenderOnly_WithTheUserIdsInJoinOrder(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await bob.JoinAsync("bob", "room");
        await alice.JoinAsync("alice", "room", bob);

        await alice.SendAsync("""{"Header":{"Event":"ping","UserId":"alice","RoomId":"room"},"Payload":"{}","Extra":1}""");
        var answer = await alice.ReceivePacketAsync();
        AssertPacket(answer, "ping", "alice", "room", """["bob","alice"]""");
        Assert.Equal(1, (int?)answer["Extra"]);

        // Bob got no ping answer: his next packet is the broadcast that follows.
        await alice.SendPacketAsync("broadcast", "alice", "room", "after");
        AssertPacket(await bob.ReceivePacketAsync(), "broadcast", "alice", "room", "after");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Close_TellsTheRestOfTheRoom_AndAnEmptyRoomVanishes(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        var bob = await RoomClient.ConnectAsync(gateway, !sockJs);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);

        await bob.DisposeAsync();
        var told = await alice.ReceivePacketAsync();
        AssertPacket(told, "disconnect", "bob", "room", "");
        Assert.Equal("""{"Header":{"Event":"disconnect","UserId":"bob","RoomId":"room"},"Payload":""}""", told.ToJsonString());

        await alice.DisposeAsync();
        await Eventually.TrueAsync(() => Rooms(gateway) is { RoomCount: 0, UserCount: 0 }, "the empty room is gone");
    }

    [Fact]
    public async Task Drop_WithoutACloseFrame_TellsTheRestOfTheRoom()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: true);
        using var bob = await RawWebSocketClient.ConnectAsync(gateway, "/echo/websocket");
        await alice.JoinAsync("alice", "room");
        await bob.SendFrameAsync(0x1, System.Text.Encoding.UTF8.GetBytes(RoomClient.Packet("connect", "bob", "room")));
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "bob", "room", "false");

        bob.Dispose();

        AssertPacket(await alice.ReceivePacketAsync(), "disconnect", "bob", "room", "");
        await Eventually.TrueAsync(() => Rooms(gateway).UserCount == 1, "bob is gone");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connect_LeavesThePreviousRoom_WhoseUsersAreTold(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs);
        await alice.JoinAsync("alice", "first");
        await bob.JoinAsync("bob", "first", alice);

        await bob.SendPacketAsync("connect", "bob", "second");

        AssertPacket(await alice.ReceivePacketAsync(), "disconnect", "bob", "first", "");
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "bob", "second", "true");
        Assert.Equal(2, Rooms(gateway).RoomCount);

        // Connecting again to the room it is in: it leaves (the room empties) and opens it again.
        await bob.SendPacketAsync("connect", "bob", "second");
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "bob", "second", "true");
        Assert.Equal(2, Rooms(gateway).UserCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DisconnectPacket_TakesTheUserOutOfTheRoom_TheSocketStaysOpen(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);

        await bob.SendPacketAsync("disconnect", "bob", "room");

        AssertPacket(await alice.ReceivePacketAsync(), "disconnect", "bob", "room", "");
        Assert.Equal(1, Rooms(gateway).UserCount);

        // Out of the room, bob's broadcasts go nowhere; he may connect again on the same socket.
        await bob.SendPacketAsync("broadcast", "bob", "room", "ghost");
        await bob.SendPacketAsync("connect", "bob", "room");
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "bob", "room", "false");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "bob", "room", "false");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SameUserIdInTheRoom_ReplacesTheOlderSocket_With4409(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var old = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var fresh = await RoomClient.ConnectAsync(gateway, !sockJs);
        await alice.JoinAsync("alice", "room");
        await old.JoinAsync("bob", "room", alice);

        await fresh.SendPacketAsync("connect", "bob", "room");

        Assert.Equal(4409, await old.ReceiveCloseCodeAsync());
        AssertPacket(await alice.ReceivePacketAsync(), "disconnect", "bob", "room", "");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "bob", "room", "false");
        AssertPacket(await fresh.ReceivePacketAsync(), "connect", "bob", "room", "false");
        await fresh.SendPacketAsync("ping", "bob", "room");
        AssertPacket(await fresh.ReceivePacketAsync(), "ping", "bob", "room", """["alice","bob"]""");
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "replaced");
    }

    [Theory]
    [InlineData("__proto__")]
    [InlineData("toString")]
    [InlineData("constructor")]
    [InlineData("hasOwnProperty")]
    public async Task RoomIdsThatNameJavaScriptProperties_AreOrdinaryRooms(string roomId)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: false);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs: true);

        // Before anyone is in it, the room does not exist: a broadcast or ping into it is ignored.
        await alice.SendPacketAsync("broadcast", "alice", roomId);
        await alice.SendPacketAsync("ping", "alice", roomId);
        await alice.SendPacketAsync("connect", "alice", roomId);
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "alice", roomId, "true");
        await bob.SendPacketAsync("connect", "bob", roomId);
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "bob", roomId, "false");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "bob", roomId, "false");
        await bob.SendPacketAsync("ping", "bob", roomId);
        AssertPacket(await bob.ReceivePacketAsync(), "ping", "bob", roomId, """["alice","bob"]""");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BadInput_IsIgnoredAndCounted_AndTheServerGoesOn(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs);
        await using var bob = await RoomClient.ConnectAsync(gateway, !sockJs);
        await bob.JoinAsync("bob", "room");

        string[] invalidJson =
        [
            "not json", "{", "", """{"Header":{"Event":"connect","UserId":"a","RoomId":"r"},"Header":{}}""",
            """{"Header":{"Event":"connect","UserId":"\ud800","RoomId":"r"}}""",
            new string('[', 100) + new string(']', 100),
        ];
        string[] malformed =
        [
            "null", "[]", "42", "\"text\"", "{}", """{"Header":null}""", """{"Header":"connect"}""",
            """{"Header":{"Event":"connect","UserId":5,"RoomId":"r"}}""", """{"Header":{"Event":"connect","UserId":"a"}}""",
            """{"Header":{"Event":"broadcast","UserId":"bob","RoomId":{}}}""",
        ];
        string[] unknownEvent =
        [
            """{"Header":{"Event":"shout","UserId":"a","RoomId":"room"}}""", """{"Header":{"UserId":"a","RoomId":"room"}}""",
            """{"Header":{"Event":"Connect","UserId":"a","RoomId":"room"}}""",
        ];
        string[] notMember =
        [
            RoomClient.Packet("broadcast", "alice", "nowhere"), RoomClient.Packet("ping", "alice", "nowhere"),
            RoomClient.Packet("broadcast", "alice", "room"), RoomClient.Packet("disconnect", "bob", "room"),
        ];
        foreach (var message in invalidJson.Concat(malformed).Concat(unknownEvent).Concat(notMember))
        {
            await alice.SendAsync(message);
        }

        // Alice's socket still works, and only her own packets reached anyone.
        await alice.SendPacketAsync("connect", "alice", "room");
        AssertPacket(await alice.ReceivePacketAsync(), "connect", "alice", "room", "false");
        AssertPacket(await bob.ReceivePacketAsync(), "connect", "alice", "room", "false");
        await recorder.SumReachesAsync(invalidJson.Length, "relay.rooms.bad_packets", "error.type", "invalid_json");
        await recorder.SumReachesAsync(malformed.Length, "relay.rooms.bad_packets", "error.type", "malformed");
        await recorder.SumReachesAsync(unknownEvent.Length, "relay.rooms.bad_packets", "error.type", "unknown_event");
        await recorder.SumReachesAsync(notMember.Length, "relay.rooms.bad_packets", "error.type", "not_member");
        Assert.Equal(2, Rooms(gateway).UserCount);
    }

    [Fact]
    public async Task SockJsFrames_ThatAreNotArraysOfStrings_AreIgnoredAndCounted_AndAFrameMayCarrySeveralPackets()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: true);

        string[] badFrames = ["not json", "[1]", """["a",{}]""", "{}", """["a"] []""", "null", "[\"\\ud800\"]"];
        foreach (var frame in badFrames)
        {
            await alice.Socket.SendTextAsync(frame);
        }

        await alice.Socket.SendTextAsync("");
        await alice.Socket.SendTextAsync(System.Text.Json.JsonSerializer.Serialize(new[]
        {
            RoomClient.Packet("connect", "alice", "room"), RoomClient.Packet("broadcast", "alice", "room", new { n = 1 }),
        }));

        AssertPacket(await alice.ReceivePacketAsync(), "connect", "alice", "room", "true");
        var broadcast = await alice.ReceivePacketAsync();
        Assert.Equal(1, (int?)broadcast["Payload"]!["n"]);
        await recorder.SumReachesAsync(badFrames.Length, "relay.rooms.bad_packets", "error.type", "bad_framing");
    }

    [Fact]
    public async Task Metrics_CountRoomsUsersAndPacketsByEvent()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: false);
        await using var bob = await RoomClient.ConnectAsync(gateway, sockJs: true);
        await alice.JoinAsync("alice", "room");
        await bob.JoinAsync("bob", "room", alice);
        await alice.SendPacketAsync("broadcast", "alice", "room");
        await alice.ReceivePacketAsync();
        await bob.ReceivePacketAsync();
        await bob.SendPacketAsync("ping", "bob", "room");
        await bob.ReceivePacketAsync();

        await recorder.SumReachesAsync(1, "relay.rooms.rooms");
        await recorder.SumReachesAsync(2, "relay.rooms.users");
        await recorder.SumReachesAsync(3, "relay.rooms.packets", "relay.rooms.event", "connect");
        await recorder.SumReachesAsync(2, "relay.rooms.packets", "relay.rooms.event", "broadcast");
        await recorder.SumReachesAsync(1, "relay.rooms.packets", "relay.rooms.event", "ping");

        await bob.SendPacketAsync("disconnect", "bob", "room");
        await alice.ReceivePacketAsync();
        await recorder.SumReachesAsync(1, "relay.rooms.packets", "relay.rooms.event", "disconnect");
        await recorder.SumReachesAsync(1, "relay.rooms.users");
    }

    [Fact]
    public async Task Info_OffersWebSocket_WithoutACookie()
    {
        await using var gateway = await TestGateway.StartAsync();

        using var response = await gateway.Http.GetAsync("/echo/info");
        var info = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.True((bool?)info["websocket"]);
        Assert.False((bool?)info["cookie_needed"]);
        Assert.NotNull((long?)info["entropy"]);
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/echo/nothing-here", HttpStatusCode.NotFound)]
    [InlineData("/echo/a/b/xhr_streaming", HttpStatusCode.NotFound)]
    [InlineData("/echo/a.b/c/websocket", HttpStatusCode.NotFound)]
    [InlineData("/echo/websocket", HttpStatusCode.UpgradeRequired)]
    [InlineData("/echo/000/abc/websocket", HttpStatusCode.UpgradeRequired)]
    public async Task OtherPaths_AndPlainRequestsForSockets_AreRefused(string path, HttpStatusCode expected)
    {
        await using var gateway = await TestGateway.StartAsync();

        using var response = await gateway.Http.GetAsync(path);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task SockJsSessions_GetHeartbeats_AtTheConfiguredInterval()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Rooms:HeartbeatInterval"] = "00:00:01" });
        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs: true);
        await using var raw = await RoomClient.ConnectAsync(gateway, sockJs: false);

        // Two heartbeats arrive on their own; then a packet still gets through.
        var first = await alice.Socket.ReceiveMessageAsync();
        var second = await alice.Socket.ReceiveMessageAsync();
        Assert.Equal(["h", "h"], new[] { first.Text, second.Text });

        // The raw socket got none: its first message is its own connect.
        await raw.SendPacketAsync("connect", "raw", "room");
        AssertPacket(await raw.ReceivePacketAsync(), "connect", "raw", "room", "true");
    }
}
