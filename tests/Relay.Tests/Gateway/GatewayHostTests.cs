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
}
