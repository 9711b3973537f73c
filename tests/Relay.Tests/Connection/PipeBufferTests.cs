using System.Net.WebSockets;
using Relay.Connection;
using Relay.Lifetime;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Connection;

/// <summary>
/// A connection half reads into a pooled buffer only while data is there: an idle half, waiting or
/// paired, holds none, and a read still in flight when the partner arrives is handed to the pump, after
/// the held frames.
/// </summary>
public sealed class PipeBufferTests
{
    [Fact]
    public async Task IdleHalves_WaitingOrPaired_HoldNoPipeBuffer()
    {
        await using var gateway = await TestGateway.StartAsync();
        var buffers = gateway.GetService<PipeBuffers>();
        var status = gateway.GetService<IRelayStatus>();
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc");
        await Eventually.TrueAsync(() => status.GetSnapshot().PendingConnections == 1, "alice waits");
        Assert.Equal(0, buffers.Rented);

        // Between the frames of a message, too, the waiting half holds what it was sent and no buffer.
        await alice.SendTextAsync("held");
        await alice.SendTextAsync("frag", endOfMessage: false);
        await Eventually.TrueAsync(() => status.GetSnapshot().HeldBytes == 8, "the relay holds what alice sent");
        await Eventually.TrueAsync(() => buffers.Rented == 0, "the waiting half gave its buffer back");

        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => status.GetSnapshot().ActivePairings == 1, "alice and bob are paired");
        await alice.SendTextAsync("mented");
        Assert.Equal("held", (await bob.ReceiveMessageAsync()).Text);
        var fragmented = await bob.ReceiveMessageAsync();
        Assert.Equal((WebSocketMessageType.Text, "fragmented"), (fragmented.Type, fragmented.Text));

        // A message larger than the buffer streams through several reads; then both halves are idle.
        var large = new byte[100_000];
        new Random(5).NextBytes(large);
        await bob.SendBinaryAsync(large);
        Assert.Equal(large, (await alice.ReceiveMessageAsync()).Payload);
        await Eventually.TrueAsync(() => buffers.Rented == 0, "idle paired halves hold no buffer");

        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "the pairing is over");
        Assert.Equal(0, buffers.Rented);
    }

    [Fact]
    public async Task FrameLargerThanTheBuffer_IsRelayedInFragmentsOfAtMostTheBuffer()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Connection:BufferSize"] = "1024" });
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");
        using var bob = await RawWebSocketClient.ConnectAsync(gateway, "/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "alice and bob are paired");

        var payload = new byte[5000];
        new Random(3).NextBytes(payload);
        await alice.SendFrameAsync(2, payload);

        var received = new List<byte>();
        var opcodes = new List<byte>();
        bool fin;
        do
        {
            (fin, var opcode, var fragment) = await bob.ReadFrameWithFinAsync();
            Assert.InRange(fragment.Length, 0, 1024);
            opcodes.Add(opcode);
            received.AddRange(fragment);
        }
        while (!fin);

        Assert.True(opcodes.Count >= 5, $"{opcodes.Count} fragments");
        Assert.Equal([2, .. Enumerable.Repeat((byte)0, opcodes.Count - 1)], opcodes);
        Assert.Equal(payload, received);
    }

    [Fact]
    public async Task ReadInFlightWhenThePartnerArrives_IsDeliveredAfterTheHeldFrames()
    {
        await using var gateway = await TestGateway.StartAsync();
        var buffers = gateway.GetService<PipeBuffers>();
        var status = gateway.GetService<IRelayStatus>();
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");
        await alice.SendFrameAsync(1, "held"u8.ToArray());
        await Eventually.TrueAsync(() => status.GetSnapshot().HeldBytes == 4, "the relay holds alice's first frame");

        // Half of a frame: the relay reads its payload into a buffer and waits there for the rest.
        var payload = new byte[1000];
        new Random(9).NextBytes(payload);
        await alice.SendAsync([.. RawWebSocketClient.FrameHeader(2, payload.Length), .. payload.AsSpan(0, 400)]);
        await Eventually.TrueAsync(() => buffers.Rented == 1, "alice's half reads the frame into a buffer");

        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        Assert.Equal("held", (await bob.ReceiveMessageAsync()).Text);
        await alice.SendAsync(payload[400..]);
        var message = await bob.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Binary, message.Type);
        Assert.Equal(payload, message.Payload);
        await Eventually.TrueAsync(() => buffers.Rented == 0, "both halves are idle");

        // Alice closes; bob gets her close and answers, and the relay passes his answer back to her.
        await alice.SendFrameAsync(8, [0x03, 0xe8]);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, (await bob.ReceiveCloseAsync()).Status);
        await bob.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => gateway.GetService<RelaySessions>().Count == 0, "the pairing is over");
        Assert.Equal(default, status.GetSnapshot());
    }
}
