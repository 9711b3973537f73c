using System.Buffers.Binary;
using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Hardening;

/// <summary>Nothing is lost or reordered on healthy pipes under load.</summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Soak")]
public sealed class SoakTests
{
    private const int Pairs = 100;
    private const int MessageSize = 16 * 1024;
    private const long BytesPerDirection = 5L * 1024 * 1024 + 256 * 1024;
    private const int MessagesPerDirection = (int)(BytesPerDirection / MessageSize);

    [Fact]
    public async Task OneGigabyteThroughHundredPairs_ArrivesComplete_AndInOrder()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "0",
            ["Relay:Admission:NewSocketsPerSecondPerClient"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        using var recorder = new MetricRecorder(gateway.Services);
        var patterns = Patterns();
        var pairs = new List<(ClientWebSocket A, ClientWebSocket B)>();
        for (var i = 0; i < Pairs; i++)
        {
            pairs.Add((await gateway.ConnectAsync($"/connection/a{i}/b{i}/soak"), await gateway.ConnectAsync($"/connection/b{i}/a{i}/soak")));
        }

        var directions = pairs.SelectMany(p => new[] { (From: p.A, To: p.B), (From: p.B, To: p.A) }).ToList();
        var received = await Task.WhenAll(directions.Select(d => Task.Run(async () =>
        {
            var sending = SendAsync(d.From, patterns);
            var count = await ReceiveAndVerifyAsync(d.To, patterns);
            await sending;
            return count;
        })));

        long total = received.Sum();
        Assert.Equal((long)Pairs * 2 * MessagesPerDirection * MessageSize, total);
        Assert.True(total >= 1_000_000_000, $"only {total} bytes were relayed");

        // The relay counts a fragment once its send completes, which can be a moment after the receiver has it.
        await Eventually.TrueAsync(() => recorder.Sum("relay.relayed_bytes") == total, "the relay has counted every byte it relayed");
        await Task.WhenAll(pairs.Select(p => WebSocketTestExtensions.ClosePairAsync(p.A, p.B)));
    }

    /// <summary>256 message bodies; message n carries n in its first 8 bytes and body n % 256 after them.</summary>
    private static byte[][] Patterns()
    {
        var random = new Random(7);
        return Enumerable.Range(0, 256).Select(_ =>
        {
            var pattern = new byte[MessageSize];
            random.NextBytes(pattern);
            return pattern;
        }).ToArray();
    }

    private static async Task SendAsync(ClientWebSocket socket, byte[][] patterns)
    {
        var message = new byte[MessageSize];
        for (var n = 0; n < MessagesPerDirection; n++)
        {
            patterns[n % 256].CopyTo(message, 0);
            BinaryPrimitives.WriteInt64BigEndian(message, n);
            await socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        }
    }

    private static async Task<long> ReceiveAndVerifyAsync(ClientWebSocket socket, byte[][] patterns)
    {
        var message = new byte[MessageSize];
        long bytes = 0;
        for (var n = 0; n < MessagesPerDirection; n++)
        {
            var length = 0;
            while (true)
            {
                var result = await socket.ReceiveAsync(message.AsMemory(length), CancellationToken.None);
                Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
                length += result.Count;
                if (result.EndOfMessage)
                {
                    break;
                }
            }

            Assert.Equal(MessageSize, length);
            Assert.Equal(n, BinaryPrimitives.ReadInt64BigEndian(message));
            Assert.True(message.AsSpan(8).SequenceEqual(patterns[n % 256].AsSpan(8)), $"message {n} was corrupted");
            bytes += length;
        }

        return bytes;
    }
}
