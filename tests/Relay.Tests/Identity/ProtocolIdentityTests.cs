using System.Net;
using System.Net.Http.Json;
using Relay.Tests.Infrastructure;
using Relay.Tests.Rooms;
using Relay.Tests.Sigver;
using Relay.Tests.Targeted;

namespace Relay.Tests.Identity;

/// <summary>
/// Identity and document rules on the other protocols: a rooms user connects only as itself to rooms its
/// token allows (the room is the document), a targeted-signaling user registers and connects only as itself,
/// and a sigver peer opens only keys its token allows (the key is the document).
/// </summary>
public sealed class ProtocolIdentityTests
{
    private static readonly TestTokens Tokens = TestTokens.Hs256();

    private static Dictionary<string, string?> Settings()
    {
        var settings = Tokens.GatewaySettings();
        settings["Relay:Identity:DocumentsClaim"] = "docs";
        return settings;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rooms_ConnectAsTheTokensUserToAnAllowedRoom_Joins_AndAnythingElseCloses4403(bool sockJs)
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        var token = $"?access_token={Tokens.For("alice", ["room-1"])}";
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/echo/websocket")).Status);

        await using var alice = await RoomClient.ConnectAsync(gateway, sockJs, query: token);
        await alice.JoinAsync("alice", "room-1");

        await using var asBob = await RoomClient.ConnectAsync(gateway, sockJs, query: token);
        await asBob.SendPacketAsync("connect", "bob", "room-1");
        Assert.Equal(RelayCloseCodes.Forbidden, await asBob.ReceiveCloseCodeAsync());

        await using var elsewhere = await RoomClient.ConnectAsync(gateway, sockJs, query: token);
        await elsewhere.SendPacketAsync("connect", "alice", "room-2");
        Assert.Equal(RelayCloseCodes.Forbidden, await elsewhere.ReceiveCloseCodeAsync());

        // Neither refused connect reached the room: alice's next packet is her own ping's answer.
        await alice.SendPacketAsync("ping", "alice", "room-1");
        Assert.Equal("[\"alice\"]", (await alice.ReceivePacketAsync())["Payload"]!.GetValue<string>());
    }

    [Fact]
    public async Task Targeted_RegistersAndConnectsOnlyAsTheTokensUser()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());

        using (var anonymous = new HttpClient { BaseAddress = gateway.HttpUri })
        using (var response = await anonymous.PostAsJsonAsync("/v1/register", new { username = "alice" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        await using var mallory = new TargetedUser(gateway, "alice", Tokens.For("mallory"));
        using (var response = await mallory.Http.PostAsJsonAsync("/v1/register", new { username = "alice" }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        await using var alice = new TargetedUser(gateway, "alice", Tokens.For("alice"));
        using (var response = await alice.Http.PostAsJsonAsync("/v1/register", new { username = "alice" }))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Alice's session cookie with mallory's token is refused; with hers it connects.
        var stolen = new TargetedUser(gateway, "alice", Tokens.For("mallory"));
        await using (stolen)
        {
            stolen.Cookies.Add(alice.Cookies.GetAllCookies());
            var (status, _) = await gateway.RefusedHandshakeAsync("/v1/connect", options =>
            {
                options.Cookies = stolen.Cookies;
                options.SetRequestHeader("Authorization", "Bearer " + stolen.BearerToken);
            });
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }

        var socket = await alice.ConnectAsync();
        await TargetedUser.SendAsync(socket, "nobody", "offer", "{}");
        Assert.Contains("TARGET_NOT_FOUND", (await socket.ReceiveMessageAsync()).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigver_KeyTheTokenAllows_Joins_AnotherIs403_AndNoTokenIs401()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        var token = $"?access_token={Tokens.For("alice", ["room-1"])}";

        var (member, isFirst) = await SigverClient.JoinAsync(gateway, "/sigver/room-1" + token);
        await using var _ = member;
        Assert.True(isFirst);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/sigver/room-2" + token)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/sigver/room-1")).Status);
    }
}
