using System.Net;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

public sealed class GatewayHostTests
{
    [Fact]
    public async Task Healthz_WhenStarted_Answers200()
    {
        await using var gateway = await TestGateway.StartAsync();

        using var response = await gateway.Http.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task StatusPage_ShowsLiveCounts()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var peer = await gateway.ConnectAsync("/introduction/alice");
        await peer.SendBinaryAsync(MsgPack.Join("doc-1"));
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Documents == 1, "the join is registered");

        var html = await gateway.Http.GetStringAsync("/");

        Assert.Contains("<td class=\"n\" id=\"peers\">1</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"n\" id=\"documents\">1</td>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http", html.Replace("http-equiv", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        await peer.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Status_CountsRoomsTargetedAndSigverToo()
    {
        await using var gateway = await TestGateway.StartAsync();
        var status = gateway.GetService<IRelayStatus>();
        await using var ann = await Rooms.RoomClient.ConnectAsync(gateway, sockJs: false);
        await ann.JoinAsync("ann", "room");
        await using var alice = await Targeted.TargetedUser.RegisterAsync(gateway, "alice");
        await alice.ConnectAsync();
        using var netflux = await gateway.ConnectAsync("/sigver/key");

        await Eventually.TrueAsync(() => status.GetSnapshot() is { Rooms: 1, RoomUsers: 1, TargetedUsers: 1, TargetedSessions: 1, SigverPeers: 1, SigverGroups: 1 },
            "every protocol's session is counted");
        var html = await gateway.Http.GetStringAsync("/");
        Assert.Contains("<td class=\"n\" id=\"rooms\">1 (1)</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"n\" id=\"targeted\">1 (1)</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"n\" id=\"sigver\">1 (1)</td>", html, StringComparison.Ordinal);

        await netflux.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => status.GetSnapshot() is { SigverPeers: 0, SigverGroups: 0 }, "the Netflux peer is gone");
    }
}
