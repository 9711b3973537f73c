using System.Net;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Rooms;

/// <summary>The Rooms route is an ordinary YARP route: its mount is configurable and its rate-limiter policy applies.</summary>
public sealed class RoomsRoutingTests
{
    [Fact]
    public async Task RoomsRoute_MountedElsewhere_ServesEveryEndpointThere_AndNothingAtTheOldMount()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:relay-rooms:Match:Path"] = "/signal/videre/{**rest}",
        });
        await using var raw = await RoomClient.ConnectAsync(gateway, sockJs: false, mount: "/signal/videre");
        await using var sockJs = await RoomClient.ConnectAsync(gateway, sockJs: true, mount: "/signal/videre");

        await raw.JoinAsync("raw", "room");
        await sockJs.JoinAsync("sockjs", "room", raw);

        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetAsync("/signal/videre/info")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.Http.GetAsync("/echo/info")).StatusCode);
    }

    [Fact]
    public async Task RoomsRoute_TakesTheRelayAdmissionPolicy()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "1",
        });
        await using var first = await RoomClient.ConnectAsync(gateway, sockJs: true);

        var (status, _) = await gateway.RefusedHandshakeAsync("/echo/websocket");

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
    }
}
