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
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.IdleTimeout.ToTag()));
        Assert.Equal(1, (await Scrape.FromAsync(gateway)).Value("relay_rejected_connections_total", ("error_type", "idle_timeout")));
    }

    [Fact]
    public async Task IntroductionLargerThanTheQueueCap_IsDelivered_AndCountsNoRejection()
    {
        // The cap is on a backlog, not on one message: a peer that reads is never closed for the size
        // of a single introduction. (A peer that stops reading is: IntroductionLimitTests.)
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Introduction:MaxQueuedBytes"] = "1024" });
        using var recorder = new MetricRecorder(gateway.Services);
        var documents = Enumerable.Range(0, 100).Select(i => $"document-number-{i:D4}").ToArray();
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await alice.JoinAsync(documents);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Documents == documents.Length, "alice's documents are tracked");

        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");
        await bob.JoinAsync(documents);

        await alice.ExpectIntroductionAsync("bob", documents);
        await bob.ExpectIntroductionAsync("alice", documents);
        Assert.Equal(0, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.QueueFull.ToTag()));
        Assert.Equal(2, recorder.Sum("relay.introductions"));
    }
}
