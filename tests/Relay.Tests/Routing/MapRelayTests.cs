using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Routing;

/// <summary>The code-first path for apps without YARP configuration.</summary>
public sealed class MapRelayTests
{
    /// <summary>A slim app on Kestrel at 127.0.0.1:0 with no YARP, only <c>UseRelay</c> and <c>MapRelay(prefix)</c>; returns it started, with its ws:// base.</summary>
    internal static async Task<(WebApplication App, Uri WebSocketUri)> StartCodeFirstAsync(string prefix)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddRelay();
        var app = builder.Build();
        app.UseRelay();
        app.MapRelay(prefix);
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        return (app, new UriBuilder(address) { Scheme = "ws" }.Uri);
    }

    [Fact]
    public async Task MapRelay_ServesBothEndpointsUnderItsPrefix()
    {
        var (app, ws) = await StartCodeFirstAsync("/code");
        await using var _ = app;

        using var alice = new System.Net.WebSockets.ClientWebSocket();
        using var bob = new System.Net.WebSockets.ClientWebSocket();
        await alice.ConnectAsync(new Uri(ws, "/code/introduction/alice"), CancellationToken.None);
        await bob.ConnectAsync(new Uri(ws, "/code/introduction/bob"), CancellationToken.None);
        await alice.SendBinaryAsync(MsgPack.Join("doc"));
        await bob.SendBinaryAsync(MsgPack.Join("doc"));
        var (_, peerId, documentIds) = MsgPack.DecodeIntroduction((await alice.ReceiveMessageAsync()).Payload);
        Assert.Equal(("bob", ["doc"]), (peerId, documentIds.ToList()), new IntroductionComparer());

        using var a = new System.Net.WebSockets.ClientWebSocket();
        using var b = new System.Net.WebSockets.ClientWebSocket();
        await a.ConnectAsync(new Uri(ws, "/code/connection/alice/bob/doc"), CancellationToken.None);
        await b.ConnectAsync(new Uri(ws, "/code/connection/bob/alice/doc"), CancellationToken.None);
        await b.SendTextAsync("code first");
        Assert.Equal("code first", (await a.ReceiveMessageAsync()).Text);

        await WebSocketTestExtensions.ClosePairAsync(a, b);
        await alice.CloseQuietlyAsync();
        await bob.CloseQuietlyAsync();
        await app.StopAsync();
    }

    [Fact]
    public async Task MapRelay_ServesRoomsAndTargetedSignalingUnderItsPrefix()
    {
        var (app, ws) = await StartCodeFirstAsync("/code");
        await using var _ = app;

        // Rooms: two raw sockets meet in a room; a connect packet reaches both.
        using var ann = new System.Net.WebSockets.ClientWebSocket();
        using var ben = new System.Net.WebSockets.ClientWebSocket();
        await ann.ConnectAsync(new Uri(ws, "/code/echo/websocket"), CancellationToken.None);
        await ben.ConnectAsync(new Uri(ws, "/code/echo/websocket"), CancellationToken.None);
        await ann.SendTextAsync(Rooms.RoomClient.Packet("connect", "ann", "room"));
        Assert.Contains("\"UserId\":\"ann\"", (await ann.ReceiveMessageAsync()).Text, StringComparison.Ordinal);
        await ben.SendTextAsync(Rooms.RoomClient.Packet("connect", "ben", "room"));
        Assert.Contains("\"UserId\":\"ben\"", (await ann.ReceiveMessageAsync()).Text, StringComparison.Ordinal);

        // Targeted signaling: register, connect with the cookies it set, message oneself; and its health check.
        var http = new Uri(new UriBuilder(ws) { Scheme = "http" }.Uri, "/code/");
        var cookies = new System.Net.CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = http };
        Assert.Equal("success", await client.GetStringAsync("healthcheck"));
        using var registered = await client.PostAsJsonAsync("v1/register", new { username = "alice" });
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        using var alice = new System.Net.WebSockets.ClientWebSocket();
        alice.Options.Cookies = cookies;
        await alice.ConnectAsync(new Uri(ws, "/code/v1/connect"), CancellationToken.None);
        await Targeted.TargetedUser.SendAsync(alice, "alice", "here", "1");
        Assert.Equal("""{"originator":"alice","target":"alice","type":"here","payload":1}""", (await alice.ReceiveMessageAsync()).Text);

        // Nothing of it is mapped outside the prefix.
        using var outside = await client.GetAsync(new Uri(new UriBuilder(ws) { Scheme = "http" }.Uri, "/healthcheck"));
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);

        await alice.CloseQuietlyAsync();
        await ann.CloseQuietlyAsync();
        await ben.CloseQuietlyAsync();
        await app.StopAsync();
    }

    private sealed class IntroductionComparer : IEqualityComparer<(string, List<string>)>
    {
        public bool Equals((string, List<string>) x, (string, List<string>) y) => x.Item1 == y.Item1 && x.Item2.SequenceEqual(y.Item2);

        public int GetHashCode((string, List<string>) obj) => obj.Item1.GetHashCode(StringComparison.Ordinal);
    }
}
