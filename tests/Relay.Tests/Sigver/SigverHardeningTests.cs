using System.Net;
using System.Net.WebSockets;
using Google.Protobuf;
using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Sigver;

/// <summary>
/// Bad input, limits, heartbeats and drain on the sigver endpoint: each closes the offending peer with its documented
/// code, counts it, and leaves the other peers of its group undisturbed.
/// </summary>
public sealed class SigverHardeningTests
{
    private static readonly byte[] Probe = [0xAB];

    public static TheoryData<string, byte[]> BadFrames => new()
    {
        { "empty binary frame", [] },
        { "not protobuf", [0xFF, 0xFF, 0xFF] },
        { "truncated content", [0x0A, 0x05, 0x08] },
        { "content of no type", new Message { Content = new Content { Id = 3 } }.ToByteArray() },
        { "no known field", [0x78, 0x01] },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task MalformedFrame_ClosesWith4003_AndTheGroupGoesOn(string what, byte[] frame)
    {
        await using var gateway = await TestGateway.StartAsync();
        var (pair, joiner, id) = await SigverClient.BoundPairAsync(gateway, Probe);
        await using var m = pair;
        await using var j = joiner;
        var (bad, _) = await SigverClient.JoinAsync(gateway, "room");

        await bad.Socket.SendBinaryAsync(frame);

        Assert.True(RelayCloseCodes.SigverBadMessage == await bad.ExpectCloseAsync(), what);
        await ExpectErrorFromAnotherJoinerAsync(pair, id);
        await StillBoundAsync(pair, joiner, id);
    }

    [Fact]
    public async Task TextFrame_ClosesWith4003()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (peer, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var p = peer;

        await peer.Socket.SendTextAsync("{\"stable\":true}");

        Assert.Equal(RelayCloseCodes.SigverBadMessage, await peer.ExpectCloseAsync());
        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>() is { PeerCount: 0, GroupCount: 0 }, "the peer and its group are gone");
    }

    [Fact]
    public async Task FrameOverTheLimit_ClosesWith4413()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:MaxMessageBytes"] = "1024" });
        var (pair, joiner, id) = await SigverClient.BoundPairAsync(gateway, Probe);
        await using var m = pair;
        await using var j = joiner;

        // Exactly the limit passes; one byte more closes.
        var fits = SigverClient.Data(0, new byte[1024 - 6]).ToByteArray();
        Assert.Equal(1024, fits.Length);
        await joiner.Socket.SendBinaryAsync(fits);
        await pair.ExpectDataAsync(id, new byte[1024 - 6]);
        await joiner.SendDataAsync(0, new byte[1024 - 5]);

        Assert.Equal(RelayCloseCodes.MessageTooBig, await joiner.ExpectCloseAsync());
        await pair.ExpectAsync(Content.TypeOneofCase.IsError, id);
    }

    [Fact]
    public async Task FullMember_IsSkipped_AndAJoinerWithNoMemberWithRoom_IsClosedWith4429()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:MaxJoinersPerMember"] = "1" });
        var (first, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m1 = first;
        var (second, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m2 = second;
        await second.BecomeMemberAsync(gateway, "room", 2);

        // The first member has its one joiner (the second); the next joiner goes to the second member.
        var (joiner, isFirst) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;
        Assert.False(isFirst);
        await joiner.SendDataAsync(0, Probe);
        await second.ExpectDataAsync(Probe);

        await using var late = await SigverClient.ConnectAsync(gateway, "room");
        Assert.Equal(RelayCloseCodes.OverLimit, await late.ExpectCloseAsync());
    }

    [Fact]
    public async Task StableBeyondMaxMembers_ClosesWith4429()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:MaxMembersPerGroup"] = "1" });
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;

        await joiner.SendStableAsync();

        Assert.Equal(RelayCloseCodes.OverLimit, await joiner.ExpectCloseAsync());
        await ExpectErrorFromAnotherJoinerAsync(member, null);
    }

    [Fact]
    public async Task NewGroupBeyondMaxGroups_ClosesWith4429_AndAGroupThatEndedFreesItsPlace()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:MaxGroups"] = "1" });
        var (one, _) = await SigverClient.JoinAsync(gateway, "one");

        await using (var two = await SigverClient.ConnectAsync(gateway, "two"))
        {
            Assert.Equal(RelayCloseCodes.OverLimit, await two.ExpectCloseAsync());
        }

        // Joining an existing group is no new group.
        var (joiner, isFirst) = await SigverClient.JoinAsync(gateway, "one");
        await using var j = joiner;
        Assert.False(isFirst);

        await one.DisposeAsync();
        await joiner.ExpectAsync(Content.TypeOneofCase.IsError, 0);
        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>().GroupCount == 0, "the group is gone");
        var (again, againFirst) = await SigverClient.JoinAsync(gateway, "two");
        await using var a = again;
        Assert.True(againFirst);
    }

    [Fact]
    public async Task PeerThatDoesNotRead_IsClosedWith4429_OnceItsBacklogIsFull_AndTheSenderGoesOn()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Sigver:MaxQueuedBytes"] = "65536",
            ["Relay:Sigver:MaxMessageBytes"] = "65536",
        });
        using var recorder = new MetricRecorder(gateway.Services);
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Probe);
        await using var m = member;
        await using var j = joiner;

        // The joiner reads nothing while the member sends; the socket buffers fill, then the relay's bounded queue.
        var chunk = new byte[60 * 1024];
        for (var sent = 0; recorder.Sum("relay.rejected_connections", "error.type", "queue_full") == 0; sent++)
        {
            Assert.True(sent < 2_000, "the non-reading joiner was never closed");
            await member.SendDataAsync(id, chunk);
        }

        // Whatever had reached its socket buffers, then the close.
        var (status, _) = await joiner.Socket.ReceiveCloseAsync();
        Assert.Equal(RelayCloseCodes.OverLimit, (int?)status);
        await joiner.Socket.CloseQuietlyAsync();
        await member.ExpectAsync(Content.TypeOneofCase.IsError, id);
        var (next, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var n = next;
        await next.SendDataAsync(0, Probe);
        await member.ExpectDataAsync(Probe);
    }

    [Fact]
    public async Task ServerSendsHeartbeats_AndAPeerSilentForThreeTicks_IsClosedWith4002()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:HeartbeatInterval"] = "00:00:01" });
        await using var silent = await SigverClient.ConnectAsync(gateway, "room");
        Assert.Equal(new byte[] { 0x10, 0x01 }, await silent.ReceiveRawAsync());

        // Two heartbeats (20 01), then at the third silent tick the close.
        Assert.Equal(new byte[] { 0x20, 0x01 }, await silent.ReceiveRawAsync());
        Assert.Equal(new byte[] { 0x20, 0x01 }, await silent.ReceiveRawAsync());
        var end = await silent.Socket.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Close, end.Type);
        Assert.Equal(RelayCloseCodes.SigverHeartbeatTimeout, (int?)silent.Socket.CloseStatus);
    }

    [Fact]
    public async Task PeerAnsweringHeartbeats_StaysOpen()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:HeartbeatInterval"] = "00:00:01" });
        var (peer, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var p = peer;

        // Five heartbeats in a row, each answered: more than three ticks, and still open.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(new byte[] { 0x20, 0x01 }, await peer.ReceiveRawAsync());
            await peer.SendHeartbeatAsync();
        }

        Assert.Equal(WebSocketState.Open, peer.Socket.State);
    }

    [Fact]
    public async Task ClientHeartbeat_IsNeverEchoed()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:HeartbeatInterval"] = "01:00:00" });
        var (peer, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var p = peer;

        await peer.SendHeartbeatAsync();
        await peer.SendAsync(new Message { Heartbeat = false });
        await peer.SendTryAnotherAsync();

        // The next frame is the answer to tryAnother, not a heartbeat.
        Assert.Equal(new byte[] { 0x10, 0x01 }, await peer.ReceiveRawAsync());
    }

    [Fact]
    public async Task IsFirstFromAPeer_IsIgnored()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Sigver:HeartbeatInterval"] = "01:00:00" });
        var (peer, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var p = peer;

        await peer.SendAsync(new Message { IsFirst = true });
        await peer.SendTryAnotherAsync();

        Assert.Equal(new byte[] { 0x10, 0x01 }, await peer.ReceiveRawAsync());
    }

    [Fact]
    public async Task Shutdown_ClosesSigverPeersWith1001()
    {
        var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        var closes = new[] { member, joiner }.Select(async peer =>
        {
            var end = await peer.Socket.ReceiveMessageAsync();
            while (end.Type != WebSocketMessageType.Close)
            {
                end = await peer.Socket.ReceiveMessageAsync();
            }

            await peer.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return peer.Socket.CloseStatus;
        }).ToArray();

        await gateway.DisposeAsync();

        Assert.All(await Task.WhenAll(closes), status => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status));
    }

    [Fact]
    public async Task NotAWebSocket_Is426()
    {
        await using var gateway = await TestGateway.StartAsync();

        using var response = await gateway.Http.GetAsync("/sigver/room");

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
    }

    [Fact]
    public async Task AdmissionCaps_ApplyToTheSigverRoute()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "1" });
        var (peer, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var p = peer;

        var (status, _) = await gateway.RefusedHandshakeAsync("/sigver/room");

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
    }

    /// <summary>
    /// The member's next message is the isError of a joiner that was closed before it sent anything: its id is not 0
    /// and not <paramref name="not"/> (the joiner that stays).
    /// </summary>
    private static async Task ExpectErrorFromAnotherJoinerAsync(SigverClient member, uint? not)
    {
        var content = await member.ReceiveContentAsync();
        Assert.Equal(Content.TypeOneofCase.IsError, content.TypeCase);
        Assert.NotEqual(0u, content.Id);
        if (not is { } other)
        {
            Assert.NotEqual(other, content.Id);
        }
    }

    private static async Task StillBoundAsync(SigverClient member, SigverClient joiner, uint id)
    {
        await joiner.SendDataAsync(0, [1]);
        await member.ExpectDataAsync(id, [1]);
        await member.SendDataAsync(id, [2]);
        await joiner.ExpectDataAsync(0, [2]);
    }
}
