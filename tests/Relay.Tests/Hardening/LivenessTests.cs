using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Server pings find half-open sockets; healthy peers that answer pings stay.</summary>
public sealed class LivenessTests
{
    [Fact]
    public async Task HalfOpenPeer_ThatNeverAnswersPings_IsDropped_WhileHealthyPeerStays()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:KeepAliveInterval"] = "00:00:00.100",
            ["Relay:KeepAliveTimeout"] = "00:00:00.200",
        });
        await using var healthy = await TestPeer.ConnectAsync(gateway, "healthy");
        var healthyReceive = healthy.Socket.ReceiveAsync(new byte[16], CancellationToken.None);

        // A peer that completes the handshake and then goes silent, as a vanished host behind NAT would.
        using var silent = new TcpClient();
        await silent.ConnectAsync(gateway.HttpUri.Host, gateway.HttpUri.Port);
        var stream = silent.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /introduction/silent HTTP/1.1\r\nHost: {gateway.HttpUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        var response = new byte[1024];
        var read = await stream.ReadAsync(response);
        Assert.StartsWith("HTTP/1.1 101", Encoding.ASCII.GetString(response, 0, read), StringComparison.Ordinal);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 2, "both peers are connected");

        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 1, "the silent peer is dropped");

        Assert.Equal(WebSocketState.Open, healthy.Socket.State);
        Assert.False(healthyReceive.IsCompleted);
    }
}
