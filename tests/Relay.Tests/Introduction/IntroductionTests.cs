using System.Net;
using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Introduction;

public sealed class IntroductionTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Join_WithSharedDocument_IntroducesBothPeers()
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");

        await alice.JoinAsync("doc-1", "alice-only");
        await bob.JoinAsync("doc-1", "bob-only");

        await alice.ExpectIntroductionAsync("bob", "doc-1");
        await bob.ExpectIntroductionAsync("alice", "doc-1");
    }

    [Fact]
    public async Task Join_FivePeersOnOneDocument_SendsTwentyIntroductions()
    {
        var peers = new List<TestPeer>();
        for (var i = 0; i < 5; i++)
        {
            var peer = await TestPeer.ConnectAsync(_gateway, $"peer-{i}");
            await peer.JoinAsync("shared");
            peers.Add(peer);
        }

        // Each peer learns of the four others exactly once: 5 × 4 = 20 introductions.
        foreach (var peer in peers)
        {
            var introduced = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                var (peerId, documentIds) = await peer.ReceiveIntroductionAsync();
                Assert.Equal(["shared"], documentIds);
                introduced.Add(peerId);
            }

            Assert.Equal(peers.Where(p => p != peer).Select(p => p.PeerId).Order(), introduced.Order());
        }

        // Nothing more: an introduction to a sentinel on a fresh document is the next thing each peer sees.
        await using var sentinel = await TestPeer.ConnectAsync(_gateway, "sentinel");
        await sentinel.JoinAsync(peers.Select(p => $"sentinel-{p.PeerId}").ToArray());
        foreach (var peer in peers)
        {
            await peer.JoinAsync($"sentinel-{peer.PeerId}");
            await peer.ExpectIntroductionAsync("sentinel", $"sentinel-{peer.PeerId}");
            await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Join_RepeatedAndDuplicated_IntroducesOncePerNewOverlapWithOnlyTheNewDocuments()
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");
        await alice.JoinAsync("a", "b", "c");

        await bob.JoinAsync("a", "a", "b");
        await bob.ExpectIntroductionAsync("alice", "a", "b");
        await alice.ExpectIntroductionAsync("bob", "a", "b");

        // Joining what is already shared says nothing; a new overlap names only the new document.
        await bob.JoinAsync("a", "b");
        await bob.JoinAsync("b", "c");
        await bob.ExpectIntroductionAsync("alice", "c");
        await alice.ExpectIntroductionAsync("bob", "c");
    }

    [Fact]
    public async Task Leave_RemovesDocument_AndRejoinIntroducesAgain()
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");
        await using var carol = await TestPeer.ConnectAsync(_gateway, "carol");
        await alice.JoinAsync("doc");
        await alice.LeaveAsync("doc");
        await alice.JoinAsync("probe");

        // Carol's introduction to alice shows alice's Leave has been processed.
        await carol.JoinAsync("probe");
        await alice.ExpectIntroductionAsync("carol", "probe");

        // Bob shares only the probe with alice now.
        await bob.JoinAsync("doc", "probe");
        var introductions = new[] { await bob.ReceiveIntroductionAsync(), await bob.ReceiveIntroductionAsync() };
        Assert.Equal(["alice", "carol"], introductions.Select(i => i.PeerId).Order());
        Assert.All(introductions, i => Assert.Equal(["probe"], i.DocumentIds));
        await alice.ExpectIntroductionAsync("bob", "probe");

        // Joining again is a new overlap: introduced again, with that document only.
        await alice.JoinAsync("doc");
        await bob.ExpectIntroductionAsync("alice", "doc");
        await alice.ExpectIntroductionAsync("bob", "doc");
    }

    [Fact]
    public async Task Close_RemovesPeerEverywhere()
    {
        var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await alice.JoinAsync("doc");
        await alice.DisposeAsync();
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 0, "alice is gone");

        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");
        await using var carol = await TestPeer.ConnectAsync(_gateway, "carol");
        await bob.JoinAsync("doc");
        await carol.JoinAsync("doc");

        await bob.ExpectIntroductionAsync("carol", "doc");
        Assert.Equal(1, _gateway.GetService<IRelayStatus>().GetSnapshot().Documents);
    }

    [Theory]
    [InlineData("Heartbeat")]
    [InlineData("❤️")]
    public async Task Heartbeat_EitherSpelling_IsAcceptedAndSessionStaysUsable(string heartbeat)
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");
        await alice.Socket.SendBinaryAsync(MsgPack.Heartbeat(heartbeat));
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");

        await alice.ExpectIntroductionAsync("bob", "doc");
    }

    public static TheoryData<byte[]> MalformedFrames => new()
    {
        Array.Empty<byte>(),
        new byte[] { 0xc1 },
        new byte[] { 0xdf, 0xff, 0xff, 0xff, 0xff },
        new byte[] { 0xde, 0x00, 0x02, 0xa4, (byte)'t', (byte)'y' },
        MsgPack.Encode(new object?[] { "Join", "doc" }),
        MsgPack.Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = "doc" }),
        MsgPack.Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = new object?[] { 1 } }),
        MsgPack.Encode(new Dictionary<string, object?> { ["type"] = 7 }),
        new byte[] { 0x81, 0xa4, (byte)'t', (byte)'y', (byte)'p', (byte)'e', 0xa2, 0xff, 0xfe },
        MsgPack.Join("doc").Concat(new byte[] { 0x00 }).ToArray(),
    };

    [Theory]
    [MemberData(nameof(MalformedFrames))]
    public async Task MalformedFrame_IsIgnored_AndSessionStaysUsable(byte[] frame)
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");

        await alice.Socket.SendBinaryAsync(frame);
        await alice.Socket.SendTextAsync("{not json");
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");

        await alice.ExpectIntroductionAsync("bob", "doc");
        Assert.Equal(WebSocketState.Open, alice.Socket.State);
    }

    [Fact]
    public async Task Join_WithUnknownKeysAndFixMap_IsUnderstood()
    {
        await using var alice = await TestPeer.ConnectAsync(_gateway, "alice");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");

        await alice.Socket.SendBinaryAsync(MsgPack.Encode(
            new Dictionary<string, object?>
            {
                ["documentIds"] = new[] { "doc" },
                ["extra"] = new Dictionary<string, object?> { ["nested"] = new object?[] { null, true, 5 } },
                ["type"] = "Join",
            },
            mapsAsMap16: false));
        await bob.JoinAsync("doc");

        await alice.ExpectIntroductionAsync("bob", "doc");
    }

    [Fact]
    public async Task JsonPeer_GetsJsonIntroductions_WhileMessagePackPeerGetsMessagePack()
    {
        await using var json = await TestPeer.ConnectAsync(_gateway, "cevitxe");
        await using var binary = await TestPeer.ConnectAsync(_gateway, "localfirst");

        await json.JoinJsonAsync("doc");
        await binary.JoinAsync("doc");

        await json.ExpectJsonIntroductionAsync("localfirst", "doc");
        await binary.ExpectIntroductionAsync("cevitxe", "doc");
    }

    [Fact]
    public async Task JsonPeer_LeaveArray_RemovesDocuments()
    {
        await using var json = await TestPeer.ConnectAsync(_gateway, "cevitxe");
        await using var other = await TestPeer.ConnectAsync(_gateway, "other");
        await json.JoinJsonAsync("gone", "kept");
        await json.Socket.SendTextAsync("""{"type":"Leave","leave":["gone"]}""");
        await json.Socket.SendTextAsync("""{"type":"Join","join":["probe"]}""");
        await other.JoinAsync("probe");
        await json.ExpectJsonIntroductionAsync("other", "probe");
        await other.ExpectIntroductionAsync("cevitxe", "probe");

        await other.JoinAsync("gone", "kept");

        await other.ExpectIntroductionAsync("cevitxe", "kept");
    }

    [Fact]
    public async Task EachPeer_IsAnsweredInTheShapeItsMessagesShow_V3CevitxeAndMessagePackOnOneDocument()
    {
        await using var v3 = await TestPeer.ConnectAsync(_gateway, "relay3");
        await using var cevitxe = await TestPeer.ConnectAsync(_gateway, "cevitxe");
        await using var binary = await TestPeer.ConnectAsync(_gateway, "localfirst");

        await v3.JoinV3Async("doc");
        await cevitxe.JoinJsonAsync("doc");
        await v3.ExpectV3IntroductionAsync("cevitxe", "doc");
        await cevitxe.ExpectJsonIntroductionAsync("relay3", "doc");

        await binary.JoinAsync("doc");
        await v3.ExpectV3IntroductionAsync("localfirst", "doc");
        await cevitxe.ExpectJsonIntroductionAsync("localfirst", "doc");
        var introducedToBinary = new[] { await binary.ReceiveIntroductionAsync(), await binary.ReceiveIntroductionAsync() };
        Assert.Equal(["cevitxe", "relay3"], introducedToBinary.Select(i => i.PeerId).Order());
    }

    [Fact]
    public async Task V3Peer_LeaveWithDocumentIds_RemovesDocuments()
    {
        await using var v3 = await TestPeer.ConnectAsync(_gateway, "relay3");
        await using var other = await TestPeer.ConnectAsync(_gateway, "other");
        await v3.JoinV3Async("gone", "kept");
        await v3.Socket.SendTextAsync("""{"type":"Leave","documentIds":["gone"]}""");
        await v3.JoinV3Async("probe");
        await other.JoinAsync("probe");
        await v3.ExpectV3IntroductionAsync("other", "probe");
        await other.ExpectIntroductionAsync("relay3", "probe");

        await other.JoinAsync("gone", "kept");

        await v3.ExpectV3IntroductionAsync("other", "kept");
        await other.ExpectIntroductionAsync("relay3", "kept");
    }

    [Fact]
    public async Task JsonHeartbeat_KeepsAJsonPeersShape_AndMovesABinaryPeerToThe3xShape()
    {
        await using var cevitxe = await TestPeer.ConnectAsync(_gateway, "cevitxe");
        await using var switcher = await TestPeer.ConnectAsync(_gateway, "switcher");
        await using var other = await TestPeer.ConnectAsync(_gateway, "other");
        await cevitxe.JoinJsonAsync("doc");
        await switcher.JoinAsync("doc");
        await cevitxe.ExpectJsonIntroductionAsync("switcher", "doc");
        await switcher.ExpectIntroductionAsync("cevitxe", "doc");

        // Only 3.x clients send JSON heartbeats: one from a peer of no JSON shape yet means 3.x.
        await cevitxe.Socket.SendTextAsync("""{"type":"Heartbeat"}""");
        await switcher.Socket.SendTextAsync("""{"type":"Heartbeat"}""");
        await other.JoinAsync("doc");

        await cevitxe.ExpectJsonIntroductionAsync("other", "doc");
        await switcher.ExpectV3IntroductionAsync("other", "doc");
    }

    [Fact]
    public async Task SecondSessionForSamePeerId_ReplacesFirstWith4409_AndFirstCloseLeavesSecondRegistered()
    {
        var first = await TestPeer.ConnectAsync(_gateway, "alice");
        await first.JoinAsync("old-doc");

        // A peer is registered just after its handshake: the second connects once the first is in, so it is the newer.
        await Eventually.TrueAsync(() => _gateway.GetService<IRelayStatus>().GetSnapshot().Peers == 1, "the first alice is registered");
        await using var second = await TestPeer.ConnectAsync(_gateway, "alice");

        var (status, _) = await first.Socket.ReceiveCloseAsync();
        Assert.Equal(4409, (int?)status);
        await first.DisposeAsync();

        // The replaced session's documents went with it; the new session is the one introduced.
        await second.JoinAsync("doc");
        await using var bob = await TestPeer.ConnectAsync(_gateway, "bob");
        await bob.JoinAsync("old-doc", "doc");
        await second.ExpectIntroductionAsync("bob", "doc");
        await bob.ExpectIntroductionAsync("alice", "doc");
        Assert.Equal(2, _gateway.GetService<IRelayStatus>().GetSnapshot().Peers);
    }

    [Theory]
    [InlineData("/introduction/a%20b")]
    [InlineData("/introduction/a%00b")]
    public async Task InvalidPeerId_IsRefusedWith400(string path)
    {
        using var socket = new ClientWebSocket();
        var error = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(_gateway.WebSocketUrl(path), CancellationToken.None));

        Assert.Contains("400", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpRequest_IsRefusedWith426()
    {
        using var response = await _gateway.Http.GetAsync("/introduction/alice");

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("websocket", response.Headers.Upgrade.Single().Name);
    }
}
