using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Sigver;

/// <summary>Where the sigver role is mounted: the default route, the root of its own host, a path base, and MapRelay.</summary>
public sealed class SigverRoutingTests
{
    [Fact]
    public async Task MountedAtTheRootOfItsOwnHost_TheWholePathIsTheKey()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:relay-sigver:Match:Path"] = "/{**key}",
            ["ReverseProxy:Routes:relay-sigver:Match:Hosts:0"] = "signal.test",
        });
        var groups = gateway.GetService<Relay.Sigver.ISigverGroups>();

        using var first = await Relay.Tests.Routing.YarpRoutingTests.ConnectWithHostAsync(gateway, "signal.test", "/sigver/room");
        Assert.True(Message.Parser.ParseFrom((await first.ReceiveMessageAsync()).Payload).IsFirst);

        Assert.Equal(1, groups.MemberCount("sigver/room"));
        await first.CloseQuietlyAsync();

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => Relay.Tests.Routing.YarpRoutingTests.ConnectWithHostAsync(gateway, "other.test", "/sigver/room"));
        Assert.Contains("404", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnderAPathBase_TheKeyIsWhatFollowsTheMount_Raw()
    {
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpRequestFeature>(new HttpRequestFeature { RawTarget = "/base/x/sigver/a%2Fb/c%20?q=1" });
        context.Request.PathBase = "/base/x";
        context.Request.Path = "/sigver/a%2Fb/c ";
        context.SetEndpoint(new Microsoft.AspNetCore.Routing.RouteEndpoint(
            _ => Task.CompletedTask, Microsoft.AspNetCore.Routing.Patterns.RoutePatternFactory.Parse("/sigver/{**key}"), 0, null, null));

        Assert.Equal("a%2Fb/c%20", Relay.Sigver.SigverHandler.RawKey(context));
    }

    [Fact]
    public async Task MapRelay_ServesSigverUnderItsPrefix()
    {
        var (app, ws) = await Relay.Tests.Routing.MapRelayTests.StartCodeFirstAsync("/code");
        await using var _ = app;

        using var member = new ClientWebSocket();
        await member.ConnectAsync(new Uri(ws, "/code/sigver/room"), CancellationToken.None);
        Assert.True(Message.Parser.ParseFrom((await member.ReceiveMessageAsync()).Payload).IsFirst);
        using var joiner = new ClientWebSocket();
        await joiner.ConnectAsync(new Uri(ws, "/code/sigver/room"), CancellationToken.None);
        Assert.False(Message.Parser.ParseFrom((await joiner.ReceiveMessageAsync()).Payload).IsFirst);
        Assert.Equal(1, app.Services.GetRequiredService<Relay.Sigver.ISigverGroups>().MemberCount("room"));

        await member.CloseQuietlyAsync();
        await joiner.CloseQuietlyAsync();
        await app.StopAsync();
    }
}
