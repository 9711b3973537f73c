using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using Relay.Targeted;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Targeted;

/// <summary>The signaling WebSocket, <c>/v1/connect</c>: identity, delivery, and the original's holes fixed.</summary>
public sealed class TargetedConnectTests : IAsyncLifetime
{
    private const string AdminKey = "an-admin-key-of-some-length";
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Targeted:AdminKey"] = AdminKey });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private ITargetedRegistry Registry => _gateway.GetService<ITargetedRegistry>();

    [Fact]
    public async Task Message_IsDeliveredWithItsOriginator_AndThePayloadBytesUntouched()
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(_gateway, "bob");
        const string Payload = """{ "sdp" : "v=0\r\no=- 1 2 IN IP4 127.0.0.1", "n": 1.50e+2, "big": 123456789012345678901234567890, "u": "\u00e9\ud83d\ude00", "list" : [ null , true ] }""";

        await TargetedUser.SendAsync(alice.Socket, "bob", "offer", Payload);

        var delivered = await bob.Socket.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Text, delivered.Type);
        Assert.Equal($$"""{"originator":"alice","target":"bob","type":"offer","payload":{{Payload}}}""", delivered.Text);
    }

    [Theory]
    [InlineData("""{"target":"bob","type":"candidate"}""", """{"originator":"alice","target":"bob","type":"candidate","payload":null}""")]
    [InlineData("""{"TARGET":"bob","Type":"t","PayLoad":"text","other":{"x":1}}""", """{"originator":"alice","target":"bob","type":"t","payload":"text"}""")]
    [InlineData("""{"target":"bob","type":null,"payload":[1,2]}""", """{"originator":"alice","target":"bob","type":"","payload":[1,2]}""")]
    [InlineData("""{"target":"b\u006fb","type":"\"q\"","payload":false}""", """{"originator":"alice","target":"bob","type":"\u0022q\u0022","payload":false}""")]
    public async Task Message_ReadAsGoReadsIt(string sent, string expected)
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(_gateway, "bob");

        await alice.Socket.SendTextAsync(sent);

        Assert.Equal(expected, (await bob.Socket.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task Message_AsBinaryJson_IsDeliveredAsText_AndAUserMayTargetItself()
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");

        await alice.Socket.SendBinaryAsync(Encoding.UTF8.GetBytes("""{"target":"alice","type":"note","payload":{}}"""));

        var delivered = await alice.Socket.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Text, delivered.Type);
        Assert.Equal("""{"originator":"alice","target":"alice","type":"note","payload":{}}""", delivered.Text);
    }

    [Theory]
    [InlineData("nobody")]
    [InlineData("")]
    [InlineData("carol")] // registered but not connected
    public async Task Message_ToNoConnectedTarget_AnswersTargetNotFound(string target)
    {
        await using var carol = await TargetedUser.RegisterAsync(_gateway, "carol");
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        using var recorder = new MetricRecorder(_gateway.Services);

        await TargetedUser.SendAsync(alice.Socket, target, "offer", "{}");

        Assert.Equal("""{"target":"","type":"TARGET_NOT_FOUND","payload":null}""", (await alice.Socket.ReceiveMessageAsync()).Text);
        await recorder.SumReachesAsync(1, "relay.targeted.messages", "relay.targeted.result", "target_not_found");
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("""{"target":5,"type":"x"}""")]
    [InlineData("""{"target":"bob","type":{}}""")]
    [InlineData("""{"target":"bob","payload":}""")]
    [InlineData("""{"target":"bob"} trailing""")]
    [InlineData("")]
    public async Task MalformedMessage_IsIgnoredAndCounted_AndTheSessionGoesOn(string sent)
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(_gateway, "bob");
        using var recorder = new MetricRecorder(_gateway.Services);

        await alice.Socket.SendTextAsync(sent);
        await TargetedUser.SendAsync(alice.Socket, "bob", "after", "1");

        Assert.Equal("""{"originator":"alice","target":"bob","type":"after","payload":1}""", (await bob.Socket.ReceiveMessageAsync()).Text);
        await recorder.SumReachesAsync(1, "relay.targeted.messages", "relay.targeted.result", "malformed");
    }

    [Fact]
    public async Task BinaryMessageThatIsNotUtf8_IsIgnored()
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(_gateway, "bob");

        await alice.Socket.SendBinaryAsync([.. """{"target":"bob","type":"x","payload":" """u8, 0xC3, 0x28, .. "\"}"u8]);
        await TargetedUser.SendAsync(alice.Socket, "bob", "after", "2");

        Assert.Equal("""{"originator":"alice","target":"bob","type":"after","payload":2}""", (await bob.Socket.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task Connect_WithOnlyAForgedBareCookie_IsClosedWith4000Unauthenticated()
    {
        await using var alice = await TargetedUser.RegisterAsync(_gateway, "alice");
        using var socket = await _gateway.ConnectAsync("/v1/connect", o => o.SetRequestHeader("Cookie", "user_username=alice"));

        var (status, description) = await socket.ReceiveCloseAsync();

        Assert.Equal(4000, (int?)status);
        Assert.Equal("UNAUTHENTICATED", description);
        Assert.Equal(0, Registry.ActiveCount);
    }

    [Fact]
    public async Task Connect_WithNoCookie_IsClosedWith4000Unauthenticated()
    {
        using var recorder = new MetricRecorder(_gateway.Services);
        using var socket = await _gateway.ConnectAsync("/v1/connect");

        var (status, description) = await socket.ReceiveCloseAsync();

        Assert.Equal(4000, (int?)status);
        Assert.Equal("UNAUTHENTICATED", description);
        await socket.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => ClosesFor(recorder, "unauthenticated") == 1, "the refused session's end is counted as unauthenticated");
    }

    [Fact]
    public async Task Connect_NotAWebSocket_Answers426()
    {
        using var response = await _gateway.Http.GetAsync("/v1/connect");

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
    }

    [Fact]
    public async Task SecondSession_IsClosedWith4000AlreadyExists_AndTheFirstStays()
    {
        using var recorder = new MetricRecorder(_gateway.Services);
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        var first = alice.Socket;

        var second = await alice.ConnectAsync();
        var (status, description) = await second.ReceiveCloseAsync();

        Assert.Equal(4000, (int?)status);
        Assert.Equal("ALREADY_EXISTS", description);
        await TargetedUser.SendAsync(first, "alice", "still", "true");
        Assert.Equal("""{"originator":"alice","target":"alice","type":"still","payload":true}""", (await first.ReceiveMessageAsync()).Text);
        await second.CloseQuietlyAsync();
        await Eventually.TrueAsync(() => ClosesFor(recorder, "already_exists") == 1, "the refused session's end is counted as already_exists");
        second.Dispose();
    }

    [Fact]
    public async Task ClientClose_IsAnswered_AndTheUserIsForgottenAtOnce_SoAReconnectWorks()
    {
        using var recorder = new MetricRecorder(_gateway.Services);
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");

        // CloseAsync completes only when the relay answers the close frame (the original never did).
        using (var timeout = new CancellationTokenSource(TestTimeouts.Default))
        {
            await alice.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }

        Assert.Equal(WebSocketState.Closed, alice.Socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, alice.Socket.CloseStatus);
        alice.Socket.Dispose();
        Assert.Equal(0, Registry.ActiveCount);
        await Eventually.TrueAsync(() => ClosesFor(recorder, "client_closed") == 1, "the end is counted as client_closed");

        var again = await alice.ConnectAsync();
        await TargetedUser.SendAsync(again, "alice", "back", "1");
        Assert.Equal("""{"originator":"alice","target":"alice","type":"back","payload":1}""", (await again.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task DroppedSocket_IsForgotten_SoAReconnectWorks()
    {
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        using var recorder = new MetricRecorder(_gateway.Services);

        alice.Socket.Abort();
        alice.Socket.Dispose();
        await Eventually.TrueAsync(() => Registry.ActiveCount == 0, "the dropped session is forgotten");

        var again = await alice.ConnectAsync();
        await TargetedUser.SendAsync(again, "alice", "back", "1");
        Assert.Equal("""{"originator":"alice","target":"alice","type":"back","payload":1}""", (await again.ReceiveMessageAsync()).Text);
        await recorder.SumReachesAsync(1, "relay.targeted.closes", "relay.targeted.close_reason", "dropped");
    }

    [Fact]
    public async Task Kick_ClosesEveryActiveSocketWith4000Kicked_AndTheirUsersReconnect()
    {
        using var recorder = new MetricRecorder(_gateway.Services);
        await using var alice = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(_gateway, "bob");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kick-active-users");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);

        using var response = await _gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        foreach (var kicked in new[] { alice.Socket, bob.Socket })
        {
            var (status, description) = await kicked.ReceiveCloseAsync();
            Assert.Equal(4000, (int?)status);
            Assert.Equal("KICKED", description);
            await kicked.CloseQuietlyAsync();
            kicked.Dispose();
        }

        // Counted as kicks, not refusals: the kicked clients did nothing wrong.
        await Eventually.TrueAsync(() => ClosesFor(recorder, "kicked") == 2, "both kicked sessions' ends are counted as kicked");
        Assert.Equal(0, recorder.Sum("relay.rejected_connections"));

        // New sessions are not undone by the old ones ending (the original's later close deleted them).
        var aliceAgain = await alice.ConnectAsync();
        var bobAgain = await bob.ConnectAsync();

        // A session is filed just after its handshake: a message sent before bob's is filed would not find him.
        await Eventually.TrueAsync(() => Registry.ActiveCount == 2, "both new sessions are filed");
        await TargetedUser.SendAsync(aliceAgain, "bob", "back", "1");
        Assert.Equal("""{"originator":"alice","target":"bob","type":"back","payload":1}""", (await bobAgain.ReceiveMessageAsync()).Text);
        Assert.Equal(2, Registry.ActiveCount);
    }

    private static double ClosesFor(MetricRecorder recorder, string reason) =>
        recorder.Sum("relay.targeted.closes", "relay.targeted.close_reason", reason);
}
