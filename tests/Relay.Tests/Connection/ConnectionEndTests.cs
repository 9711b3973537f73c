using System.Net.WebSockets;
using Microsoft.Extensions.Hosting;
using Relay.Lifetime;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Connection;

/// <summary>How waits and pairings end: the close each socket gets, what is counted, and that nothing stays behind.</summary>
public sealed class ConnectionEndTests
{
    [Fact]
    public async Task WaitingHalf_SendingTooMuch_IsCountedAsAbandoned_WithTheHeldLimit()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:MaxHeldFrames"] = "1" });
        using var recorder = new MetricRecorder(gateway.Services);
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        await alice.SendBinaryAsync([1]);
        await alice.SendBinaryAsync([2]);

        Assert.Equal(RelayCloseCodes.MessageTooBig, (int?)(await alice.ReceiveCloseAsync()).Status);
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Abandoned.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.HeldTooMuch.ToTag()));
        await alice.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "the wait is over");
    }

    [Fact]
    public async Task LimitReachedFromBothSides_IsCountedOncePerPairing()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:MaxBytesPerPairing"] = "1000" });
        using var recorder = new MetricRecorder(gateway.Services);
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");

        await Task.WhenAll(alice.SendBinaryAsync(new byte[800]), bob.SendBinaryAsync(new byte[800]));

        var closes = await Task.WhenAll(alice.ReceiveCloseAsync(), bob.ReceiveCloseAsync());
        Assert.All(closes, close => Assert.Equal(RelayCloseCodes.OverLimit, (int?)close.Status));
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.PairingLimit.ToTag()));
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 0, "the pairing is over");
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.PairingLimit.ToTag()));
    }

    [Fact]
    public async Task Shutdown_CountsTheWaitingRequest_NotTheServedPairing()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        var waiting = await gateway.ConnectAsync("/connection/alice/carol/doc");
        var a = await gateway.ConnectAsync("/connection/alice/bob/doc");
        var b = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { PendingConnections: 1, ActivePairings: 1 }, "all sockets are up");
        var answered = new[] { waiting, a, b }.Select(async socket =>
        {
            var (status, _) = await socket.ReceiveCloseAsync();
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return status;
        }).ToArray();

        // The drain begins; the host and its meters stay up, so the counts can still be read.
        gateway.GetService<IHostApplicationLifetime>().StopApplication();

        Assert.All(await Task.WhenAll(answered), status => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status));
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "every session has ended");
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.ShuttingDown.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Abandoned.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Paired.ToTag()));
        foreach (var socket in new[] { waiting, a, b })
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task WaitingHalf_ThatNeverAnswersTheRelaysClose_IsAbortedAfterTheCloseTimeout()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Connection:PendingTimeout"] = "00:00:00.200",
            ["Relay:CloseTimeout"] = "00:00:00.300",
        });
        using var deaf = await gateway.ConnectAsync("/connection/deaf/absent/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().PendingConnections == 1, "the request waits");

        // The client never reads, so it never answers the 4408 close: only the close timeout ends the session.
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "the deaf half is aborted");
        Assert.Equal(default, gateway.GetService<IRelayStatus>().GetSnapshot());
    }

    [Fact]
    public async Task PartnerThatNeverAnswersAPassedOnClose_IsAborted_AndTheCloserGets1001()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:CloseTimeout"] = "00:00:00.300" });
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var deaf = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "the pairing is up");

        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, alice.CloseStatus);
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "the pairing is over");
        Assert.Equal(default, gateway.GetService<IRelayStatus>().GetSnapshot());
    }
}
