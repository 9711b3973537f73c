using System.Net.WebSockets;
using System.Net;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>The 'relay' rate limiter policy, named by the default relay routes, caps sockets and their rate.</summary>
public sealed class AdmissionTests
{
    private static Dictionary<string, string?> Admission(int total = 0, int perClient = 0, int perSecond = 0, int burst = 0) => new()
    {
        ["Relay:Admission:MaxConcurrentSockets"] = $"{total}",
        ["Relay:Admission:MaxConcurrentSocketsPerClient"] = $"{perClient}",
        ["Relay:Admission:NewSocketsPerSecondPerClient"] = $"{perSecond}",
        ["Relay:Admission:NewSocketsBurstPerClient"] = $"{burst}",
    };

    [Fact]
    public async Task SocketsPerClient_OverCap_AreRefusedWith429_UntilOneCloses()
    {
        await using var gateway = await TestGateway.StartAsync(Admission(perClient: 3));
        using var recorder = new MetricRecorder(gateway.Services);
        var open = new List<TestPeer>();
        for (var i = 0; i < 3; i++)
        {
            open.Add(await TestPeer.ConnectAsync(gateway, $"peer-{i}"));
        }

        var (status, _) = await gateway.RefusedHandshakeAsync("/connection/a/b/doc");
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", "error.type", "over_limit"));

        await open[0].DisposeAsync();
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 2, "a socket closed");
        await using var admitted = await TestPeer.ConnectAsync(gateway, "peer-3");
        foreach (var peer in open.Skip(1))
        {
            await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task NewSocketsPerClient_OverRate_AreRefusedWith429AndRetryAfter()
    {
        await using var gateway = await TestGateway.StartAsync(Admission(perSecond: 1, burst: 2));

        // New sockets until one is refused. The bucket refills a token a second, so a slow machine may admit a
        // few more than the burst: at most one more per second that passed.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var admitted = new List<ClientWebSocket>();
        ClientWebSocket? refused = null;
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            try
            {
                await socket.ConnectAsync(gateway.WebSocketUrl($"/introduction/peer-{i}"), CancellationToken.None);
                admitted.Add(socket);
            }
            catch (WebSocketException)
            {
                refused = socket;
            }
        }

        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        Assert.NotNull(refused);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.HttpStatusCode);
        Assert.True(refused.HttpResponseHeaders!.TryGetValue("Retry-After", out var retryAfter)
            && int.Parse(retryAfter.Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        Assert.InRange(admitted.Count, 2, 2 + (int)Math.Ceiling(seconds));
        refused.Dispose();
        foreach (var socket in admitted)
        {
            await socket.CloseQuietlyAsync();
            socket.Dispose();
        }
    }

    [Fact]
    public async Task SocketsOverall_OverCap_AreRefusedWith429()
    {
        await using var gateway = await TestGateway.StartAsync(Admission(total: 2));
        using var a = await gateway.ConnectAsync("/connection/a/b/doc");
        using var b = await gateway.ConnectAsync("/connection/b/a/doc");

        var (status, _) = await gateway.RefusedHandshakeAsync("/introduction/c");

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        await WebSocketTestExtensions.ClosePairAsync(a, b);
    }
}
