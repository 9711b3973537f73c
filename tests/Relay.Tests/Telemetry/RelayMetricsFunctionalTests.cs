using System.Net;
using System.Net.WebSockets;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>
/// The relay's counts on the real gateway with real sockets, read two ways: the <c>Relay</c> meter's
/// measurements (a MeterListener) and the gateway's own <c>/metrics</c> (through the OpenTelemetry SDK).
/// </summary>
public sealed class RelayMetricsFunctionalTests
{
    [Fact]
    public async Task Pipe_AfterNBytes_CountsExactlyN()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);

        // Alice waits and sends while waiting (held frames, one message in two fragments), then Bob arrives.
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        await alice.SendBinaryAsync(new byte[100]);
        await alice.SendBinaryAsync(new byte[30], endOfMessage: false);
        await alice.SendBinaryAsync(new byte[20]);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().PendingConnections == 1, "alice waits");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        Assert.Equal(100, (await bob.ReceiveMessageAsync()).Payload.Length);
        Assert.Equal(50, (await bob.ReceiveMessageAsync()).Payload.Length);

        await bob.SendTextAsync(new string('x', 1000));
        Assert.Equal(1000, (await alice.ReceiveMessageAsync()).Payload.Length);
        await alice.SendBinaryAsync(new byte[7]);
        Assert.Equal(7, (await bob.ReceiveMessageAsync()).Payload.Length);

        const long bytes = 100 + 30 + 20 + 1000 + 7;
        await Eventually.TrueAsync(() => recorder.Sum("relay.relayed_bytes") == bytes, $"{bytes} bytes are counted");
        Assert.Equal(4, recorder.Sum("relay.relayed_messages"));
        var scrape = await Scrape.FromAsync(gateway);
        Assert.Equal(bytes, scrape.Value("relay_relayed_bytes_total"));
        Assert.Equal(4, scrape.Value("relay_relayed_messages_total"));
        Assert.Equal(1, scrape.Value("relay_active_pairings"));
        Assert.Equal(0, scrape.Value("relay_pending_connections"));

        await CloseBothAsync(alice, bob);
        await Eventually.TrueAsync(() => recorder.Sum("relay.active_pairings") == 0, "the pairing has ended");
        Assert.Equal(bytes, recorder.Sum("relay.relayed_bytes"));
    }

    [Fact]
    public async Task ConcurrentPipes_CountExactly_AndUpDownCountersReturnToZero()
    {
        const int pairs = 20;
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);

        var totals = await Task.WhenAll(Enumerable.Range(0, pairs).Select(i => RunPairAsync(gateway, i)));
        var bytes = totals.Sum(t => t.Bytes);
        var messages = totals.Sum(t => t.Messages);

        var status = gateway.GetService<IRelayStatus>();
        await Eventually.TrueAsync(() => status.GetSnapshot() == default, "every pairing and wait has ended");
        await Eventually.TrueAsync(() => recorder.Sum("relay.active_pairings") == 0, "the active pairings are back to 0");
        Assert.Equal(bytes, recorder.Sum("relay.relayed_bytes"));
        Assert.Equal(messages, recorder.Sum("relay.relayed_messages"));
        Assert.Equal(0, recorder.Sum("relay.pending_connections"));
        Assert.Equal(pairs, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Paired.ToTag()));
        Assert.Equal(pairs, recorder.Count("relay.pairing.wait"));

        var scrape = await Scrape.FromAsync(gateway);
        Assert.Equal(bytes, scrape.Value("relay_relayed_bytes_total"));
        Assert.Equal(messages, scrape.Value("relay_relayed_messages_total"));
        Assert.Equal(0, scrape.Value("relay_active_pairings"));
        Assert.Equal(0, scrape.Value("relay_pending_connections"));
        Assert.Equal(0, scrape.Value("relay_active_peers"));
        Assert.Equal(pairs, scrape.Value("relay_pairings_total", ("relay_pairing_result", "paired")));
        Assert.Equal(pairs, scrape.Value("relay_pairing_wait_seconds_count"));
        Assert.Equal(pairs, scrape.Value("relay_pairing_wait_seconds_bucket", ("le", "+Inf")));
    }

    [Fact]
    public async Task Introductions_AreCountedPerPeerIntroduced_AndGaugesReturnToZero()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        var peers = new List<ClientWebSocket>();
        foreach (var name in new[] { "alice", "bob", "carol" })
        {
            var peer = await gateway.ConnectAsync($"/introduction/{name}");
            await peer.SendBinaryAsync(MsgPack.Join("doc-1", $"{name}-only"));
            peers.Add(peer);
        }

        // Bob's Join introduces alice and bob to each other (2); carol's introduces her to both and both to her (4).
        foreach (var (peer, expected) in peers.Zip(new[] { 2, 2, 2 }))
        {
            for (var i = 0; i < expected; i++)
            {
                Assert.Equal("Introduction", MsgPack.DecodeIntroduction((await peer.ReceiveMessageAsync()).Payload).Type);
            }
        }

        Assert.Equal(6, recorder.Sum("relay.introductions"));
        var scrape = await Scrape.FromAsync(gateway);
        Assert.Equal(6, scrape.Value("relay_introductions_total"));
        Assert.Equal(3, scrape.Value("relay_active_peers"));
        Assert.Equal(4, scrape.Value("relay_documents"));

        foreach (var peer in peers)
        {
            await peer.CloseQuietlyAsync();
            peer.Dispose();
        }

        await Eventually.TrueAsync(() => recorder.Sum("relay.active_peers") == 0 && recorder.Sum("relay.documents") == 0, "every peer and document is gone");
        var after = await Scrape.FromAsync(gateway);
        Assert.Equal(0, after.Value("relay_active_peers"));
        Assert.Equal(0, after.Value("relay_documents"));
    }

    [Fact]
    public async Task WaitingHalf_EndingWithoutPartner_CountsItsResultAndNoWait()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:PendingTimeout"] = "00:00:00.300" });
        using var recorder = new MetricRecorder(gateway.Services);
        var status = gateway.GetService<IRelayStatus>();

        using var expires = await gateway.ConnectAsync("/connection/a/b/expires");
        Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.Timeout, (await expires.ReceiveCloseAsync()).Status);
        await expires.CloseQuietlyAsync();

        using var replaced = await gateway.ConnectAsync("/connection/a/b/replaced");

        // A request joins the broker just after its handshake: the second connects once the first waits, so it is the newer.
        await Eventually.TrueAsync(() => status.GetSnapshot().PendingConnections == 1, "the first request waits");
        using var replacement = await gateway.ConnectAsync("/connection/a/b/replaced");
        Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.Replaced, (await replaced.ReceiveCloseAsync()).Status);
        await replaced.CloseQuietlyAsync();
        await replacement.CloseQuietlyAsync();

        await Eventually.TrueAsync(() => status.GetSnapshot().PendingConnections == 0, "no half waits");
        await Eventually.TrueAsync(() => recorder.Sum("relay.pending_connections") == 0, "the pending count is back to 0");
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Expired.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Replaced.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.pairings", RelayMetrics.PairingResultTag, PairingResult.Abandoned.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.PendingTimeout.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.Replaced.ToTag()));
        Assert.Equal(0, recorder.Count("relay.pairing.wait"));
    }

    [Fact]
    public async Task Refusals_AreCountedByReason()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:MaxIdLength"] = "8" });
        using var recorder = new MetricRecorder(gateway.Services);

        using (var plain = await gateway.Http.GetAsync("/introduction/alice"))
        {
            Assert.Equal(HttpStatusCode.UpgradeRequired, plain.StatusCode);
        }

        await Assert.ThrowsAsync<WebSocketException>(() => gateway.ConnectAsync("/introduction/much-too-long-id"));

        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.NotWebSocket.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.rejected_connections", RelayMetrics.ErrorTypeTag, RejectionReason.InvalidId.ToTag()));
        var scrape = await Scrape.FromAsync(gateway);
        Assert.Equal(1, scrape.Value("relay_rejected_connections_total", ("error_type", "not_websocket")));
        Assert.Equal(1, scrape.Value("relay_rejected_connections_total", ("error_type", "invalid_id")));
        Assert.Equal(0, scrape.Value("relay_active_peers"));
    }

    [Fact]
    public async Task MalformedIntroductionMessage_CountsAProtocolError()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        using var peer = await gateway.ConnectAsync("/introduction/alice");

        await peer.SendBinaryAsync([0xc1, 0x00]);
        await peer.SendBinaryAsync(MsgPack.Heartbeat("Dance"));

        await Eventually.TrueAsync(() => recorder.Sum("relay.protocol_errors") == 2, "both messages are counted");
        Assert.Equal(1, recorder.Sum("relay.protocol_errors", RelayMetrics.ErrorTypeTag, ProtocolErrorReason.Malformed.ToTag()));
        Assert.Equal(1, recorder.Sum("relay.protocol_errors", RelayMetrics.ErrorTypeTag, ProtocolErrorReason.UnknownType.ToTag()));
        await peer.CloseQuietlyAsync();
    }

    /// <summary>
    /// One pairing: the first half connects and waits, the second arrives, each side sends a few messages
    /// of pair-specific sizes and reads everything the other sent, then the first closes. Returns the
    /// payload bytes and messages that went through the pipe.
    /// </summary>
    private static async Task<(long Bytes, long Messages)> RunPairAsync(TestGateway gateway, int index)
    {
        var first = $"p{index}a";
        var second = $"p{index}b";
        using var a = await gateway.ConnectAsync($"/connection/{first}/{second}/doc{index}");
        using var b = await gateway.ConnectAsync($"/connection/{second}/{first}/doc{index}");
        int[] fromA = [index + 1, 1000 + (index * 37), 20_000 + index];
        int[] fromB = [3 * index + 5, 4096];

        var sendA = SendAllAsync(a, fromA);
        var sendB = SendAllAsync(b, fromB);
        var receivedByB = await ReceiveAllAsync(b, fromA.Length);
        var receivedByA = await ReceiveAllAsync(a, fromB.Length);
        await Task.WhenAll(sendA, sendB);
        Assert.Equal(fromA, receivedByB);
        Assert.Equal(fromB, receivedByA);

        await CloseBothAsync(a, b);
        return (fromA.Sum() + fromB.Sum(), fromA.Length + fromB.Length);
    }

    /// <summary>The first side closes; the relay passes its close to the second, which answers it.</summary>
    private static async Task CloseBothAsync(WebSocket first, WebSocket second)
    {
        var closing = first.CloseQuietlyAsync();
        await second.ReceiveCloseAsync();
        await second.CloseQuietlyAsync();
        await closing;
    }

    private static async Task SendAllAsync(WebSocket socket, int[] sizes)
    {
        foreach (var size in sizes)
        {
            await socket.SendBinaryAsync(new byte[size]);
        }
    }

    private static async Task<int[]> ReceiveAllAsync(WebSocket socket, int count)
    {
        var sizes = new int[count];
        for (var i = 0; i < count; i++)
        {
            sizes[i] = (await socket.ReceiveMessageAsync()).Payload.Length;
        }

        return sizes;
    }
}
