using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Every connection-channel limit refuses clearly, on both halves where both are concerned.</summary>
public sealed class ConnectionLimitTests
{
    private static async Task WaitForPendingAsync(TestGateway gateway, int count) =>
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().PendingConnections == count, $"{count} connections wait");

    [Fact]
    public async Task WaitingHalf_WithoutPartner_IsClosedWith4408AfterPendingTimeout()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:PendingTimeout"] = "00:00:00.300" });
        using var recorder = new MetricRecorder(gateway.Services);
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        await alice.SendTextAsync("held, then dropped");

        var (status, _) = await alice.ReceiveCloseAsync();

        Assert.Equal(4408, (int?)status);
        await alice.CloseQuietlyAsync();
        await WaitForPendingAsync(gateway, 0);
        Assert.Equal(1, recorder.Sum("relay.pairings", "relay.pairing.result", "expired"));
        Assert.Equal(0, gateway.GetService<IRelayStatus>().GetSnapshot().HeldBytes);
    }

    [Theory]
    [InlineData("Relay:Connection:MaxHeldBytes", "1000", 10, 200)]
    [InlineData("Relay:Connection:MaxHeldFrames", "3", 4, 1)]
    public async Task WaitingHalf_SendingTooMuch_IsClosedWith4413(string setting, string value, int frames, int frameSize)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { [setting] = value });
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        await WaitForPendingAsync(gateway, 1);

        for (var i = 0; i < frames; i++)
        {
            await alice.SendBinaryAsync(new byte[frameSize]);
        }

        var (status, _) = await alice.ReceiveCloseAsync();
        Assert.Equal(4413, (int?)status);
        await alice.CloseQuietlyAsync();
        await WaitForPendingAsync(gateway, 0);
        Assert.Equal(0, gateway.GetService<IRelayStatus>().GetSnapshot().HeldBytes);
    }

    [Fact]
    public async Task Pipe_MessageOverLimit_ClosesBothWith4413()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:MaxMessageBytes"] = "4096" });
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await alice.SendBinaryAsync(new byte[4096]);
        Assert.Equal(4096, (await bob.ReceiveMessageAsync()).Payload.Length);

        await alice.SendBinaryAsync(new byte[3000], endOfMessage: false);
        await alice.SendBinaryAsync(new byte[3000], endOfMessage: true);

        await AssertBothClosedWithAsync(4413, alice, bob);
    }

    [Fact]
    public async Task Pipe_OverBytesPerPairing_ClosesBothWith4429()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:MaxBytesPerPairing"] = "10000" });
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");

        for (var i = 0; i < 3; i++)
        {
            await alice.SendBinaryAsync(new byte[3000]);
            await bob.SendBinaryAsync(new byte[1000]);
        }

        await AssertBothClosedWithAsync(4429, alice, bob);
    }

    [Fact]
    public async Task Pipe_OverMaxDuration_ClosesBothWith4408()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:MaxPairingDuration"] = "00:00:00.300" });
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");

        await AssertBothClosedWithAsync(4408, alice, bob);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 0, "the pairing is over");
    }

    [Fact]
    public async Task Pipe_ReaderThatStops_IsDisconnected_AndWriterIsClosedWith4408_WithoutUnboundedBuffering()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:StallTimeout"] = "00:00:01" });
        using var recorder = new MetricRecorder(gateway.Services);
        using var writer = await gateway.ConnectAsync("/connection/writer/reader/doc");
        using var reader = await gateway.ConnectAsync("/connection/reader/writer/doc");

        // The reader's request joins the pairing just after its handshake; a flood before that would be held (and refused with 4413).
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "writer and reader are paired");

        // The reader never reads; the writer pushes until the relay ends the pairing.
        var flood = new StalledPipeWriter(writer);
        var (status, description) = await flood.CompletionAsync();

        Assert.Equal(4408, (int?)status);
        Assert.Equal("Partner stopped reading", description);
        Assert.True(flood.Sent < 64L * 1024 * 1024, $"the writer pushed {flood.Sent} bytes into a stalled pipe");
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", "error.type", "stalled_reader"));
        await writer.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 0, "the pairing is over");
    }

    private static async Task AssertBothClosedWithAsync(int code, ClientWebSocket first, ClientWebSocket second)
    {
        var closes = await Task.WhenAll(first.ReceiveCloseAsync(), second.ReceiveCloseAsync());
        Assert.All(closes, close => Assert.Equal(code, (int?)close.Status));
        await WebSocketTestExtensions.ClosePairAsync(first, second);
    }
}
