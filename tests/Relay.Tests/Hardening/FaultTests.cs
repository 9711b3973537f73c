using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Peers that vanish without a close frame, even mid-message, leave no state behind.</summary>
public sealed class FaultTests
{
    private static readonly Dictionary<string, string?> Unlimited = new()
    {
        ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "0",
        ["Relay:Admission:NewSocketsPerSecondPerClient"] = "0",
    };

    [Fact]
    public async Task ThousandPeersAndFiveHundredPairs_DroppedWithoutClose_LeaveEveryCounterAtZero()
    {
        await using var gateway = await TestGateway.StartAsync(Unlimited);
        using var recorder = new MetricRecorder(gateway.Services);
        var sockets = new List<ClientWebSocket>();

        for (var i = 0; i < 1000; i++)
        {
            var peer = await gateway.ConnectAsync($"/introduction/peer-{i}");
            await peer.SendBinaryAsync(MsgPack.Join($"doc-{i % 100}", $"other-{i % 37}"));
            if (i % 2 == 0)
            {
                // Vanish in the middle of a message.
                await peer.SendBinaryAsync([0xde, 0x00, 0x02], endOfMessage: false);
            }

            sockets.Add(peer);
        }

        for (var i = 0; i < 500; i++)
        {
            var a = await gateway.ConnectAsync($"/connection/a-{i}/b-{i}/doc");
            await a.SendBinaryAsync(new byte[100]);
            sockets.Add(a);
            if (i % 5 == 0)
            {
                // Left waiting, with held frames.
                continue;
            }

            var b = await gateway.ConnectAsync($"/connection/b-{i}/a-{i}/doc");
            await b.SendTextAsync("mid-messa", endOfMessage: false);
            sockets.Add(b);
        }

        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot() is { Peers: 1000, ActivePairings: 400, PendingConnections: 100 }, "everything is connected");

        foreach (var socket in sockets)
        {
            socket.Abort();
            socket.Dispose();
        }

        await Eventually.TrueAsync(
            () => gateway.GetService<IRelayStatus>().GetSnapshot() == default && gateway.GetService<Relay.Lifetime.RelaySessions>().Count == 0,
            "peers, documents, pending connections, pairings, held bytes and sessions are all gone",
            TimeSpan.FromSeconds(10));
        Assert.Equal(0, recorder.Sum("relay.active_peers"));
        Assert.Equal(0, recorder.Sum("relay.pending_connections"));
        Assert.Equal(0, recorder.Sum("relay.active_pairings"));
        Assert.Equal(0, recorder.Sum("relay.documents"));
    }
}
