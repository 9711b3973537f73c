using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Hosting;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>On shutdown the relay stops admitting sockets, closes every one with 1001, and waits up to the drain timeout.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task Shutdown_ClosesEverySocketWith1001_AndFinishesWithoutWaitingOutTheDrainTimeout()
    {
        var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:DrainTimeout"] = "00:00:20" });
        var peer = await gateway.ConnectAsync("/introduction/alice");
        var waiting = await gateway.ConnectAsync("/connection/alice/carol/doc");
        var a = await gateway.ConnectAsync("/connection/alice/bob/doc");
        var b = await gateway.ConnectAsync("/connection/bob/alice/doc");
        var clients = new[] { peer, waiting, a, b };
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 1, PendingConnections: 1, ActivePairings: 1 }, "all sockets are up");

        // Each client answers the server's close, as a well-behaved client does.
        var answered = clients.Select(async socket =>
        {
            var (status, _) = await socket.ReceiveCloseAsync();
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return status;
        }).ToArray();

        var stopwatch = Stopwatch.StartNew();
        await gateway.DisposeAsync();

        Assert.All(await Task.WhenAll(answered), status => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"shutdown took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task Shutdown_AbortsSocketsThatNeverAnswer_AtTheDrainTimeout()
    {
        var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:DrainTimeout"] = "00:00:01",
            ["Relay:CloseTimeout"] = "00:01:00",
        });
        using var deaf = await gateway.ConnectAsync("/introduction/deaf");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 1, "the peer is up");

        var stopwatch = Stopwatch.StartNew();
        await gateway.DisposeAsync();

        // The close timeout (a minute) did not hold shutdown up: the drain timeout (a second) cut it short.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"shutdown took {stopwatch.Elapsed}");
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            while ((await deaf.ReceiveMessageAsync()).Type != WebSocketMessageType.Close)
            {
            }

            await deaf.ReceiveMessageAsync();
        });
    }

    [Fact]
    public async Task WhileStopping_NewRelaySocketsAreRefusedWith503()
    {
        await using var gateway = await TestGateway.StartAsync();

        // ApplicationStopping fires first; the server is still listening while the relay drains.
        gateway.GetService<IHostApplicationLifetime>().StopApplication();
        var (status, _) = await gateway.RefusedHandshakeAsync("/introduction/late");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
    }
}
