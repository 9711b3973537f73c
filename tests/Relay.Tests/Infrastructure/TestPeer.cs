using System.Net.WebSockets;
using System.Text.Json;

namespace Relay.Tests.Infrastructure;

/// <summary>A client on the introduction channel, speaking MessagePack (as the reference client does) or JSON.</summary>
internal sealed class TestPeer : IAsyncDisposable
{
    private TestPeer(string peerId, ClientWebSocket socket)
    {
        PeerId = peerId;
        Socket = socket;
    }

    public string PeerId { get; }

    public ClientWebSocket Socket { get; }

    public static async Task<TestPeer> ConnectAsync(TestGateway gateway, string peerId, string prefix = "", Action<ClientWebSocketOptions>? options = null) =>
        new(peerId, await gateway.ConnectAsync($"{prefix}/introduction/{Uri.EscapeDataString(peerId)}", options));

    /// <summary>Connects to the introduction endpoint of a gateway at <paramref name="webSocketBase"/> (e.g. one in another process).</summary>
    public static async Task<TestPeer> ConnectAsync(Uri webSocketBase, string peerId)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(new Uri(webSocketBase, $"/introduction/{Uri.EscapeDataString(peerId)}"), timeout.Token);
        return new TestPeer(peerId, socket);
    }

    public Task JoinAsync(params string[] documentIds) => Socket.SendBinaryAsync(MsgPack.Join(documentIds));

    public Task LeaveAsync(params string[] documentIds) => Socket.SendBinaryAsync(MsgPack.Leave(documentIds));

    public Task JoinJsonAsync(params string[] documentIds) =>
        Socket.SendTextAsync(JsonSerializer.Serialize(new { type = "Join", join = documentIds }));

    /// <summary>Joins as a @localfirst/relay 3.x client does: <c>{"type":"Join","documentIds":[...]}</c> as text.</summary>
    public Task JoinV3Async(params string[] documentIds) =>
        Socket.SendTextAsync(JsonSerializer.Serialize(new { type = "Join", documentIds }));

    /// <summary>Receives the next message and decodes it as a MessagePack Introduction.</summary>
    public async Task<(string PeerId, string[] DocumentIds)> ReceiveIntroductionAsync()
    {
        var message = await Socket.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Binary, message.Type);
        var (type, peerId, documentIds) = MsgPack.DecodeIntroduction(message.Payload);
        Assert.Equal("Introduction", type);
        return (peerId, documentIds);
    }

    /// <summary>Receives the next message and decodes it as a JSON (cevitxe) Introduction: <c>id</c>, <c>keys</c>.</summary>
    public Task<(string PeerId, string[] DocumentIds)> ReceiveJsonIntroductionAsync() => ReceiveJsonIntroductionAsync("id", "keys");

    /// <summary>Receives the next message and decodes it as a 3.x JSON Introduction: <c>userName</c>, <c>documentIds</c>.</summary>
    public Task<(string PeerId, string[] DocumentIds)> ReceiveV3IntroductionAsync() => ReceiveJsonIntroductionAsync("userName", "documentIds");

    /// <summary>A JSON Introduction with exactly the properties <c>type</c>, <paramref name="peerKey"/> and <paramref name="documentsKey"/>.</summary>
    private async Task<(string PeerId, string[] DocumentIds)> ReceiveJsonIntroductionAsync(string peerKey, string documentsKey)
    {
        var message = await Socket.ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Text, message.Type);
        using var json = JsonDocument.Parse(message.Payload);
        Assert.Equal(["type", peerKey, documentsKey], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Introduction", json.RootElement.GetProperty("type").GetString());
        return (json.RootElement.GetProperty(peerKey).GetString()!,
            json.RootElement.GetProperty(documentsKey).EnumerateArray().Select(e => e.GetString()!).ToArray());
    }

    /// <summary>Asserts that the next message introduces <paramref name="peerId"/> with exactly these documents, in order.</summary>
    public async Task ExpectIntroductionAsync(string peerId, params string[] documentIds)
    {
        var introduction = await ReceiveIntroductionAsync();
        Assert.Equal(peerId, introduction.PeerId);
        Assert.Equal(documentIds, introduction.DocumentIds);
    }

    /// <summary>As <see cref="ExpectIntroductionAsync"/>, for the JSON dialect.</summary>
    public async Task ExpectJsonIntroductionAsync(string peerId, params string[] documentIds)
    {
        var introduction = await ReceiveJsonIntroductionAsync();
        Assert.Equal(peerId, introduction.PeerId);
        Assert.Equal(documentIds, introduction.DocumentIds);
    }

    /// <summary>As <see cref="ExpectIntroductionAsync"/>, for the 3.x JSON dialect.</summary>
    public async Task ExpectV3IntroductionAsync(string peerId, params string[] documentIds)
    {
        var introduction = await ReceiveV3IntroductionAsync();
        Assert.Equal(peerId, introduction.PeerId);
        Assert.Equal(documentIds, introduction.DocumentIds);
    }

    public async ValueTask DisposeAsync()
    {
        await Socket.CloseQuietlyAsync();
        Socket.Dispose();
    }
}
