using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Connection;

public sealed class ConnectionTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private Task<ClientWebSocket> ConnectAsync(string local, string remote, string document = "doc") =>
        _gateway.ConnectAsync($"/connection/{local}/{remote}/{document}");

    /// <summary>A request joins its pairing just after its handshake: a test that sends more than the held-frame limits allow waits for it.</summary>
    private async Task WaitForPairingsAsync(int count) =>
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == count, $"{count} pairings are live");

    private async Task WaitForPendingAsync(int count) =>
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().PendingConnections == count, $"{count} connections wait");

    [Fact]
    public async Task Pairing_PipesMessagesBothWays()
    {
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");

        await alice.SendBinaryAsync([1, 2, 3]);
        await bob.SendTextAsync("hi alice");

        var atBob = await bob.ReceiveMessageAsync();
        var atAlice = await alice.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Binary, atBob.Type);
        Assert.Equal([1, 2, 3], atBob.Payload);
        Assert.Equal((WebSocketMessageType.Text, "hi alice"), (atAlice.Type, atAlice.Text));
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    [Fact]
    public async Task FirstArrival_HeldFrames_AreDeliveredVerbatimAndInOrder()
    {
        using var alice = await ConnectAsync("alice", "bob");
        await WaitForPendingAsync(1);
        await alice.SendTextAsync("text one");
        await alice.SendBinaryAsync([0xff, 0x00, 0xc1]);
        await alice.SendTextAsync("frag", endOfMessage: false);
        await alice.SendTextAsync("mented", endOfMessage: true);
        await alice.SendBinaryAsync([]);
        await alice.SendTextAsync("héllo ❤️");
        var sent = "text one".Length + 3 + "fragmented".Length + Encoding.UTF8.GetByteCount("héllo ❤️");
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().HeldBytes == sent, "the relay holds everything alice sent");

        using var bob = await ConnectAsync("bob", "alice");

        var expected = new (WebSocketMessageType, byte[])[]
        {
            (WebSocketMessageType.Text, "text one"u8.ToArray()),
            (WebSocketMessageType.Binary, [0xff, 0x00, 0xc1]),
            (WebSocketMessageType.Text, "fragmented"u8.ToArray()),
            (WebSocketMessageType.Binary, []),
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("héllo ❤️")),
        };
        foreach (var (type, payload) in expected)
        {
            var message = await bob.ReceiveMessageAsync();
            Assert.Equal(type, message.Type);
            Assert.Equal(payload, message.Payload);
        }

        // Delivered held frames are released, and the live pipe continues after them.
        Assert.Equal(0, _gateway.GetService<IRelayStatus>().GetSnapshot().HeldBytes);
        await alice.SendTextAsync("live");
        Assert.Equal("live", (await bob.ReceiveMessageAsync()).Text);
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    [Fact]
    public async Task Pipe_OneMebibyteMessage_ArrivesIntact()
    {
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");
        var payload = new byte[1024 * 1024];
        new Random(42).NextBytes(payload);

        var receive = bob.ReceiveMessageAsync();
        await alice.SendBinaryAsync(payload);

        Assert.Equal(payload, (await receive).Payload);
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    [Fact]
    public async Task Pipe_TenThousandMessagesEachWay_ArriveInOrder()
    {
        const int Count = 10_000;
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");
        await WaitForPairingsAsync(1);

        var results = await Task.WhenAll(
            Task.Run(() => ExchangeAsync(alice, "alice")),
            Task.Run(() => ExchangeAsync(bob, "bob")));

        Assert.All(results, received => Assert.Equal(Count, received));
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);

        static async Task<int> ExchangeAsync(ClientWebSocket socket, string name)
        {
            var send = Task.Run(async () =>
            {
                var buffer = new byte[8];
                for (var i = 0; i < Count; i++)
                {
                    BinaryPrimitives.WriteInt64BigEndian(buffer, i);
                    await socket.SendBinaryAsync(buffer);
                }
            });

            var received = 0;
            for (var i = 0; i < Count; i++)
            {
                var message = await socket.ReceiveMessageAsync();
                Assert.Equal(i, BinaryPrimitives.ReadInt64BigEndian(message.Payload));
                received++;
            }

            await send;
            return received;
        }
    }

    [Fact]
    public async Task Close_PassesCodeAndReasonToPartner()
    {
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");
        await alice.SendTextAsync("sync");
        Assert.Equal("sync", (await bob.ReceiveMessageAsync()).Text);

        await alice.CloseOutputAsync((WebSocketCloseStatus)4000, "done here", CancellationToken.None);

        var (status, description) = await bob.ReceiveCloseAsync();
        Assert.Equal(4000, (int?)status);
        Assert.Equal("done here", description);
        await bob.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        // Alice's close handshake completes with bob's answer passed back to her.
        var (aliceStatus, _) = await alice.ReceiveCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, aliceStatus);
        Assert.Equal(WebSocketState.Closed, alice.State);
    }

    [Fact]
    public async Task Close_DataSentBeforeCloseStillArrives()
    {
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");

        // Bob's handshake completes just before his request joins the pairing; a close from alice before
        // that would end her wait (abandoned), which is another test's case.
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 1, "alice and bob are paired");
        await alice.SendTextAsync("last words");
        await alice.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        Assert.Equal("last words", (await bob.ReceiveMessageAsync()).Text);
        var (status, _) = await bob.ReceiveCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, status);
        await bob.CloseQuietlyAsync();
    }

    [Fact]
    public async Task AbruptFailure_ClosesPartnerWith1001()
    {
        var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");
        await alice.SendTextAsync("sync");
        Assert.Equal("sync", (await bob.ReceiveMessageAsync()).Text);

        alice.Abort();
        alice.Dispose();

        var (status, _) = await bob.ReceiveCloseAsync();
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
        await bob.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings == 0, "the pairing is over");
    }

    [Fact]
    public async Task TextFrameThatIsNotUtf8_FailsTheSender_AndClosesPartnerWith1001()
    {
        using var alice = await ConnectAsync("alice", "bob");
        using var bob = await ConnectAsync("bob", "alice");

        // Paired first: sent while alice still waits, the bad frame would end her wait, and bob would wait alone.
        await WaitForPairingsAsync(1);
        await alice.SendAsync(new byte[] { 0xc3, 0x28 }, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

        // The WebSocket layer fails the sender's connection (a 1007 close frame the reset after it may
        // overtake); the invalid text never reaches the partner, who is told its partner went away.
        var (bobStatus, _) = await bob.ReceiveCloseAsync();
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, bobStatus);
        Assert.True(await alice.ReceiveEndAsync() is null or WebSocketCloseStatus.InvalidPayloadData);
        await bob.CloseQuietlyAsync();
    }

    [Fact]
    public async Task SecondPendingRequestForSamePairing_ReplacesFirstWith4409()
    {
        using var first = await ConnectAsync("alice", "bob");
        await WaitForPendingAsync(1);
        await first.SendTextAsync("from the first");
        using var second = await ConnectAsync("alice", "bob");

        var (status, _) = await first.ReceiveCloseAsync();
        Assert.Equal(4409, (int?)status);
        await first.CloseQuietlyAsync();

        await second.SendTextAsync("from the second");
        using var bob = await ConnectAsync("bob", "alice");
        Assert.Equal("from the second", (await bob.ReceiveMessageAsync()).Text);
        await WebSocketTestExtensions.ClosePairAsync(second, bob);
    }

    [Fact]
    public async Task WaitingHalf_ClosingBeforePartner_LeavesNothingBehind()
    {
        using var alice = await ConnectAsync("alice", "bob");
        await WaitForPendingAsync(1);
        await alice.SendTextAsync("never delivered");

        await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        Assert.Equal(WebSocketState.Closed, alice.State);
        await WaitForPendingAsync(0);

        // A later bob waits on his own instead of pairing with the departed alice.
        using var bob = await ConnectAsync("bob", "alice");
        await WaitForPendingAsync(1);
        await bob.CloseQuietlyAsync();
    }

    [Fact]
    public async Task DifferentDocuments_DoNotPair()
    {
        using var alice = await ConnectAsync("alice", "bob", "doc-1");
        using var bob = await ConnectAsync("bob", "alice", "doc-2");

        await WaitForPendingAsync(2);
        Assert.Equal(0, _gateway.GetService<IRelayStatus>().GetSnapshot().ActivePairings);
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    [Theory]
    [InlineData("/connection/alice/b%20ob/doc")]
    [InlineData("/connection/alice/bob/d%0Aoc")]
    public async Task InvalidIds_AreRefusedWith400(string path)
    {
        using var socket = new ClientWebSocket();
        var error = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(_gateway.WebSocketUrl(path), CancellationToken.None));

        Assert.Contains("400", error.Message, StringComparison.Ordinal);
    }
}
