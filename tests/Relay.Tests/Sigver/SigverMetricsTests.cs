using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;
using Relay.Tests.Telemetry;

namespace Relay.Tests.Sigver;

/// <summary>The sigver instruments on the Relay meter, read through a MeterListener and the gateway's /metrics.</summary>
public sealed class SigverMetricsTests
{
    [Fact]
    public async Task PeersGroupsContentAndCloses_AreCounted()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        var (other, _) = await SigverClient.JoinAsync(gateway, "other");
        await using var o = other;
        await recorder.SumReachesAsync(3, "relay.sigver.peers");
        await recorder.SumReachesAsync(2, "relay.sigver.groups");

        // Three content messages relayed (10 + 0 data bytes, and an isEnd); one to an unknown id is not counted.
        await joiner.SendDataAsync(0, new byte[10]);
        var id = await member.ExpectDataAsync(new byte[10]);
        await member.SendDataAsync(id + 1, new byte[50]);
        await member.SendDataAsync(id, []);
        await joiner.ExpectDataAsync(0, []);
        await joiner.SendAsync(SigverClient.End(0));
        await member.ExpectAsync(Content.TypeOneofCase.IsEnd, id);

        // Counted as each is handed on, which can be a moment after its receiver has it.
        await Eventually.TrueAsync(() => recorder.Sum("relay.sigver.content_messages") == 3, "three content messages are counted");
        await recorder.SumReachesAsync(10, "relay.sigver.content_bytes");

        // A close by the relay, counted by its code; a client's own close is not.
        await other.Socket.SendTextAsync("not protobuf");
        Assert.Equal(RelayCloseCodes.SigverBadMessage, await other.ExpectCloseAsync());
        await joiner.DisposeAsync();
        await Eventually.TrueAsync(() => recorder.Sum("relay.sigver.peers") == 1, "one peer is left");
        await recorder.SumReachesAsync(1, "relay.sigver.groups");
        await recorder.SumReachesAsync(1, "relay.sigver.closes", "relay.close.code", "4003");
        await recorder.SumReachesAsync(1, "relay.sigver.closes");
        await recorder.SumReachesAsync(1, "relay.rejected_connections", "error.type", "malformed");

        var scrape = await Scrape.FromAsync(gateway);
        Assert.Equal(1, scrape.Value("relay_sigver_peers"));
        Assert.Equal(1, scrape.Value("relay_sigver_groups"));
        Assert.Equal(3, scrape.Value("relay_sigver_content_messages_total"));
        Assert.Equal(10, scrape.Value("relay_sigver_content_bytes_total"));
        Assert.Equal(1, scrape.Value("relay_sigver_closes_total", ("relay_close_code", "4003")));
        Assert.Equal(0, scrape.Value("relay_sigver_closes_total", ("relay_close_code", "4002")));
    }
}
