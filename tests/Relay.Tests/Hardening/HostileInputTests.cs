using System.Net.WebSockets;
using System.Text;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Garbage on a live introduction socket is ignored frame by frame; the session stays usable.</summary>
public sealed class HostileInputTests
{
    [Fact]
    public async Task HundredsOfHostileFrames_AreIgnored_AndTheSessionStillJoins()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var recorder = new MetricRecorder(gateway.Services);
        await using var attacker = await TestPeer.ConnectAsync(gateway, "attacker");
        await using var bystander = await TestPeer.ConnectAsync(gateway, "bystander");
        await bystander.JoinAsync("doc");

        var frames = HostileFrames().ToList();
        foreach (var (payload, type) in frames)
        {
            await attacker.Socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None);
        }

        await attacker.JoinAsync("doc");
        await attacker.ExpectIntroductionAsync("bystander", "doc");
        await bystander.ExpectIntroductionAsync("attacker", "doc");
        Assert.Equal(frames.Count, recorder.Sum("relay.protocol_errors"));
    }

    [Fact]
    public async Task TextFrameThatIsNotUtf8_FailsThatSocketOnly()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var offender = await TestPeer.ConnectAsync(gateway, "offender");
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob");

        await offender.Socket.SendAsync(new byte[] { 0x7b, 0xc3, 0x28, 0x7d }, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

        // The WebSocket layer fails the connection: a 1007 close frame, which the reset after it may overtake.
        Assert.True(await offender.Socket.ReceiveEndAsync() is null or WebSocketCloseStatus.InvalidPayloadData);
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 2, "the offender is gone");
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");
    }

    [Fact]
    public async Task AnAttack_OfRefusalsAndLimitCloses_LogsNothingAboveDebug()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Introduction:MaxMessageBytes"] = "1024",
            ["Relay:Connection:MaxHeldFrames"] = "1",
        });

        for (var i = 0; i < 20; i++)
        {
            using var notWebSocket = await gateway.Http.GetAsync("/introduction/alice");
            Assert.Equal(System.Net.HttpStatusCode.UpgradeRequired, notWebSocket.StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await gateway.RefusedHandshakeAsync("/introduction/%20bad%20")).Status);
        }

        for (var i = 0; i < 10; i++)
        {
            // A peer is registered just after its handshake: the second connects once the first is in, so it is the newer.
            var status = gateway.GetService<IRelayStatus>();
            await Eventually.TrueAsync(() => status.GetSnapshot().Peers == 0, "the last round's peers are gone");
            await using var replaced = await TestPeer.ConnectAsync(gateway, "mallory");
            await Eventually.TrueAsync(() => status.GetSnapshot().Peers == 1, "the first mallory is registered");
            await using var replacing = await TestPeer.ConnectAsync(gateway, "mallory");
            Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.Replaced, await replaced.Socket.ReceiveEndAsync());

            await replacing.Socket.SendAsync(new byte[2048], WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.MessageTooBig, await replacing.Socket.ReceiveEndAsync());

            using var waiting = await gateway.ConnectAsync("/connection/mallory/bob/doc");
            await waiting.SendTextAsync("one");
            await waiting.SendTextAsync("two");
            Assert.Equal((WebSocketCloseStatus)RelayCloseCodes.MessageTooBig, await waiting.ReceiveEndAsync());
        }

        Assert.DoesNotContain(gateway.Logs.Entries, e => e.Category.StartsWith("Relay", StringComparison.Ordinal) && e.Level > Microsoft.Extensions.Logging.LogLevel.Debug);
    }

    private static IEnumerable<(byte[] Payload, WebSocketMessageType Type)> HostileFrames()
    {
        var random = new Random(1234);
        var valid = MsgPack.Join("a", "b", "c");

        // Random bytes of every small length, and some large ones.
        for (var i = 0; i < 200; i++)
        {
            var frame = new byte[random.Next(1, i < 150 ? 64 : 60_000)];
            random.NextBytes(frame);
            frame[0] = (byte)(0x80 | random.Next(0x0f)); // usually a map, so parsing gets somewhere
            if (!frame.AsSpan().SequenceEqual(valid))
            {
                yield return (frame, WebSocketMessageType.Binary);
            }
        }

        // Every truncation of a valid Join.
        for (var length = 1; length < valid.Length; length++)
        {
            yield return (valid[..length], WebSocketMessageType.Binary);
        }

        // Length prefixes claiming far more than the frame holds.
        yield return ([0xdf, 0xff, 0xff, 0xff, 0xff], WebSocketMessageType.Binary);
        yield return ([0xde, 0x00, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x41], WebSocketMessageType.Binary);
        yield return ([0x82, 0xa4, (byte)'t', (byte)'y', (byte)'p', (byte)'e', 0xa4, (byte)'J', (byte)'o', (byte)'i', (byte)'n', 0xab, .. "documentIds"u8, 0xdd, 0x7f, 0xff, 0xff, 0xff], WebSocketMessageType.Binary);
        yield return ([0x81, 0xa1, (byte)'x', 0xc6, 0xff, 0xff, 0xff, 0xff], WebSocketMessageType.Binary);

        // Deep nesting: 60,000 nested one-element arrays under an unknown key.
        var deep = new List<byte> { 0x82, 0xa1, (byte)'x' };
        deep.AddRange(Enumerable.Repeat((byte)0x91, 60_000));
        deep.Add(0xc0);
        deep.AddRange(MsgPack.Encode("type"));
        deep.AddRange(MsgPack.Encode("Nonsense"));
        yield return ([.. deep], WebSocketMessageType.Binary);

        // Wrong types where strings and arrays belong; invalid UTF-8 inside a MessagePack string.
        yield return (MsgPack.Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = new object?[] { "ok", null } }), WebSocketMessageType.Binary);
        yield return (MsgPack.Encode(new Dictionary<string, object?> { ["type"] = true, ["documentIds"] = new[] { "x" } }), WebSocketMessageType.Binary);
        yield return ([0x82, 0xa4, (byte)'t', (byte)'y', (byte)'p', (byte)'e', 0xa4, (byte)'J', (byte)'o', (byte)'i', (byte)'n', 0xab, .. "documentIds"u8, 0x91, 0xa2, 0xc3, 0x28], WebSocketMessageType.Binary);

        // JSON that is not the dialect, or not JSON.
        foreach (var text in new[] { "{", "[]", "null", "\"Join\"", """{"join":"doc"}""", """{"join":[1,2]}""", """{"join":["a"]} trailing""", new string('[', 10_000) })
        {
            yield return (Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);
        }
    }
}
