using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Relay.Admission;
using Relay.Connection;
using Relay.Lifetime;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Connection;

/// <summary>
/// Connection halves answer the handshake themselves and write through a <see cref="BatchedOutputStream"/>:
/// the frames one read brings leave in one write, while pongs, keep-alive pings and close frames are never
/// held back.
/// </summary>
public sealed class BatchedOutputTests
{
    [Fact]
    public void AcceptKey_IsRfc6455sExample() =>
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", RelaySocketAcceptor.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="));

    [Fact]
    public async Task Handshake_AnswersWithTheAcceptKey_AndNoSubprotocolOrExtension()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");

        Assert.Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", alice.HandshakeResponse, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Upgrade: websocket\r\n", alice.HandshakeResponse, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Sec-WebSocket-Protocol", alice.HandshakeResponse, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Sec-WebSocket-Extensions", alice.HandshakeResponse, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task FramesOfOneRead_LeaveInFewWrites_AllInOrder()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var metrics = new MetricRecorder(gateway.Services);
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "alice and bob are paired");
        var before = metrics.Sum("relay.connection.writes");

        // 200 frames of 100 bytes in one TCP write, as a busy client's sends arrive together.
        const int Frames = 200;
        var burst = new List<byte>();
        for (var i = 0; i < Frames; i++)
        {
            var payload = new byte[100];
            BitConverter.TryWriteBytes(payload, i);
            burst.AddRange(RawWebSocketClient.FrameHeader(2, payload.Length));
            burst.AddRange(payload);
        }

        await alice.SendAsync([.. burst]);
        for (var i = 0; i < Frames; i++)
        {
            var message = await bob.ReceiveMessageAsync();
            Assert.Equal((WebSocketMessageType.Binary, i), (message.Type, BitConverter.ToInt32(message.Payload)));
        }

        // One write per message without batching; with it, about one per read the relay made.
        var writes = metrics.Sum("relay.connection.writes") - before;
        Assert.InRange(writes, 1, Frames / 10);
    }

    [Fact]
    public async Task PingWhilePartnerIsIdle_IsAnsweredAtOnce()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");
        using var bob = await RawWebSocketClient.ConnectAsync(gateway, "/connection/bob/alice/doc");
        await Eventually.TrueAsync(() => gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "alice and bob are paired");

        await bob.SendFrameAsync(2, [1, 2, 3]);
        var relayed = await alice.ReadFrameAsync();
        Assert.Equal(2, (int)relayed.Opcode);
        Assert.Equal([1, 2, 3], relayed.Payload);

        // The pong goes out on its own, not kept for a batch that no relayed frame would ever flush.
        await alice.SendFrameAsync(9, "are you there"u8.ToArray());
        var (opcode, payload) = await alice.ReadFrameAsync();
        Assert.Equal(10, (int)opcode);
        Assert.Equal("are you there", System.Text.Encoding.UTF8.GetString(payload));
    }

    [Fact]
    public async Task KeepAlivePing_ReachesAnIdleHalf()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:KeepAliveInterval"] = "00:00:00.200",
            ["Relay:KeepAliveTimeout"] = "00:00:10",
        });
        using var alice = await RawWebSocketClient.ConnectAsync(gateway, "/connection/alice/bob/doc");

        var (opcode, _) = await alice.ReadFrameAsync();
        Assert.Equal(9, (int)opcode);
    }

    [Fact]
    public async Task Stream_KeepsDeferredWrites_AndWritesThemOnceInOrder()
    {
        await using var gateway = await TestGateway.StartAsync();
        var inner = new RecordingStream();
        using var output = new BatchedOutputStream(inner, new DefaultHttpContext(), 64, gateway.GetService<RelayMetrics>());

        output.Deferring = true;
        await output.WriteAsync(new byte[] { 1, 2 });
        await output.WriteAsync(new byte[] { 3 });
        Assert.Empty(inner.Writes);
        Assert.Equal(3, output.PendingBytes);

        // A flush from the WebSocket while deferring waits for the batch.
        await output.FlushAsync();
        Assert.Empty(inner.Writes);

        await output.WritePendingAsync();
        Assert.Equal([[1, 2, 3]], inner.Writes);
        Assert.Equal(0, output.PendingBytes);
    }

    [Fact]
    public async Task Stream_WriteNotDeferred_TakesWhatIsKeptAlong_AndALargeOneGoesAfterIt()
    {
        await using var gateway = await TestGateway.StartAsync();
        var inner = new RecordingStream();
        using var output = new BatchedOutputStream(inner, new DefaultHttpContext(), 8, gateway.GetService<RelayMetrics>());

        output.Deferring = true;
        await output.WriteAsync(new byte[] { 1, 2 });
        output.Deferring = false;
        await output.WriteAsync(new byte[] { 3 });
        Assert.Equal([[1, 2, 3]], inner.Writes);

        output.Deferring = true;
        await output.WriteAsync(new byte[] { 4 });
        await output.WriteAsync(new byte[] { 5, 6, 7, 8, 9, 10, 11, 12, 13 });
        Assert.Equal([[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13]], inner.Writes);
        Assert.Equal(0, output.PendingBytes);
    }

    [Fact]
    public async Task Stream_DisposedByAnAbortedSocket_AbortsTheConnection()
    {
        await using var gateway = await TestGateway.StartAsync();
        var context = new DefaultHttpContext();
        var lifetime = new AbortRecorder();
        context.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        var output = new BatchedOutputStream(new RecordingStream(), context, 64, gateway.GetService<RelayMetrics>());
        var socket = WebSocket.CreateFromStream(output, new WebSocketCreationOptions { IsServer = true });
        output.Socket = socket;

        socket.Abort();

        Assert.True(lifetime.Aborted);
    }

    [Fact]
    public async Task Stream_AfterDispose_AWriteFailsAtOnce_InsteadOfWaitingForever()
    {
        await using var gateway = await TestGateway.StartAsync();
        var output = new BatchedOutputStream(new RecordingStream(), new DefaultHttpContext(), 64, gateway.GetService<RelayMetrics>());
        output.Deferring = true;
        await output.WriteAsync(new byte[] { 1 });

        output.Dispose();

        Assert.Equal(0, output.PendingBytes);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => output.WriteAsync(new byte[] { 2 }).AsTask().WaitAsync(TestTimeouts.Default));
    }

    private sealed class AbortRecorder : IHttpRequestLifetimeFeature
    {
        public bool Aborted { get; private set; }

        public CancellationToken RequestAborted { get; set; }

        public void Abort() => Aborted = true;
    }

    /// <summary>Records each write as it was made, and reads nothing.</summary>
    private sealed class RecordingStream : Stream
    {
        public List<byte[]> Writes { get; } = [];

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => 0;

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Writes.Add(buffer.AsSpan(offset, count).ToArray());

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(buffer.ToArray());
            return ValueTask.CompletedTask;
        }
    }
}
