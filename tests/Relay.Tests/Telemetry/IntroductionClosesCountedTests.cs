using System.Net.WebSockets;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>
/// Introduction sockets the relay closes on its own initiative (idle, too much queued) count as
/// rejections by reason, like every other close by a limit.
/// </summary>
public sealed class IntroductionClosesCountedTests
{
    [Fact]
    public async Task IdlePeer_ClosedByIdleTimeout_CountsOneIdleTimeoutRejection()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:IdleTimeout"] = "00:00:00.200" });
        using var recorder = new MetricRecorder(gateway.Services);
        using var peer = await gateway.ConnectAsync("/introduction/alice");

        Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.Timeout, (await peer.ReceiveCloseAsync()).Status);
        await peer.CloseQuietlyAsync();

        await Eventually.TrueAsync(() => recorder.Sum("relay.active_peers") == 0, "the peer is gone");
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReasons.IdleTimeout));
        Assert.Equal(1, (await Scrape.FromAsync(gateway)).Value("relay_rejected_connections_total", ("error_type", "idle_timeout")));
    }

    [Fact]
    public async Task Peers_WhoseIntroductionExceedsTheQueue_CountOneQueueFullRejectionEach()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxQueuedBytes"] = "1024" });
        using var recorder = new MetricRecorder(gateway.Services);
        var documents = Enumerable.Range(0, 100).Select(i => $"document-number-{i:D4}").ToArray();
        using var alice = await gateway.ConnectAsync("/introduction/alice");
        await alice.SendBinaryAsync(MsgPack.Join(documents));
        await Eventually.TrueAsync(() => gateway.GetService<RelayStatus>().Snapshot().Documents == documents.Length, "alice's documents are tracked");

        // Bob shares 100 documents with alice: each of them is owed an introduction larger than 1024 bytes.
        using var bob = await gateway.ConnectAsync("/introduction/bob");
        await bob.SendBinaryAsync(MsgPack.Join(documents));

        Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.OverLimit, (await alice.ReceiveCloseAsync()).Status);
        Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.OverLimit, (await bob.ReceiveCloseAsync()).Status);
        await alice.CloseQuietlyAsync();
        await bob.CloseQuietlyAsync();

        await Eventually.TrueAsync(() => recorder.Sum("relay.active_peers") == 0, "both peers are gone");
        Assert.Equal(2, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReasons.QueueFull));
        Assert.Equal(0, recorder.Sum("relay.introductions"));
    }
}
