using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Rooms;

/// <summary>
/// A rooms client over a real WebSocket, raw (<c>/echo/websocket</c>) or with SockJS framing
/// (<c>/echo/{server}/{session}/websocket</c>: <c>o</c> on open, <c>a[...]</c> messages, <c>h</c>
/// heartbeats, <c>c[code,"reason"]</c> on close; it sends JSON arrays of strings).
/// </summary>
internal sealed class RoomClient : IAsyncDisposable
{
    private readonly Queue<string> _pending = new();

    private RoomClient(ClientWebSocket socket, bool sockJs)
    {
        Socket = socket;
        SockJs = sockJs;
    }

    public ClientWebSocket Socket { get; }

    public bool SockJs { get; }

    /// <summary>Heartbeat frames received so far (SockJS).</summary>
    public int Heartbeats { get; private set; }

    /// <summary>The SockJS close frame, once received.</summary>
    public (int Code, string Reason)? SockJsClose { get; private set; }

    public static async Task<RoomClient> ConnectAsync(TestGateway gateway, bool sockJs, string mount = "/echo", string query = "")
    {
        var path = sockJs ? $"{mount}/{Random.Shared.Next(1000):D3}/{Guid.NewGuid():N}/websocket" : $"{mount}/websocket";
        var client = new RoomClient(await gateway.ConnectAsync(path + query), sockJs);
        if (sockJs)
        {
            var open = await client.Socket.ReceiveMessageAsync();
            Assert.Equal("o", open.Text);
        }

        return client;
    }

    /// <summary>Connects to a gateway by its WebSocket base address (another process, e.g. a cluster node).</summary>
    public static async Task<RoomClient> ConnectAsync(Uri webSocketUri, bool sockJs, string mount = "/echo")
    {
        var path = sockJs ? $"{mount}/{Random.Shared.Next(1000):D3}/{Guid.NewGuid():N}/websocket" : $"{mount}/websocket";
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(new Uri(webSocketUri, path), timeout.Token);
        var client = new RoomClient(socket, sockJs);
        if (sockJs)
        {
            var open = await client.Socket.ReceiveMessageAsync();
            Assert.Equal("o", open.Text);
        }

        return client;
    }

    public static string Packet(string eventName, string userId, string roomId, object? payload = null) =>
        JsonSerializer.Serialize(new { Header = new { Event = eventName, UserId = userId, RoomId = roomId }, Payload = payload ?? "{}" });

    public Task SendPacketAsync(string eventName, string userId, string roomId, object? payload = null) =>
        SendAsync(Packet(eventName, userId, roomId, payload));

    /// <summary>
    /// Connects to a room and waits for the connect packet to come back to this client and to reach each
    /// of <paramref name="othersInRoom"/>; returns this client's copy.
    /// </summary>
    public async Task<JsonNode> JoinAsync(string userId, string roomId, params RoomClient[] othersInRoom)
    {
        await SendPacketAsync("connect", userId, roomId);
        var own = await ReceivePacketAsync();
        foreach (var receiver in othersInRoom.Prepend(this))
        {
            var packet = receiver == this ? own : await receiver.ReceivePacketAsync();
            Assert.Equal("connect", (string?)packet["Header"]!["Event"]);
            Assert.Equal(userId, (string?)packet["Header"]!["UserId"]);
        }

        return own;
    }

    /// <summary>Sends one text message as the client would: raw, or as a SockJS frame of one string.</summary>
    public Task SendAsync(string message) =>
        Socket.SendTextAsync(SockJs ? JsonSerializer.Serialize(new[] { message }) : message);

    /// <summary>The next packet, parsed; heartbeats are counted and skipped. Fails on a close.</summary>
    public async Task<JsonNode> ReceivePacketAsync()
    {
        var text = await ReceiveTextAsync();
        Assert.True(text is not null, "the socket closed instead of delivering a packet");
        return JsonNode.Parse(text)!;
    }

    /// <summary>The next packet's text (null at a close).</summary>
    public async Task<string?> ReceiveTextAsync()
    {
        // One deadline for the whole wait: heartbeats must not keep extending it.
        using var deadline = new CancellationTokenSource(TestTimeouts.Default);
        while (_pending.Count == 0)
        {
            var message = await Socket.ReceiveMessageAsync(deadline.Token);
            if (message.Type == WebSocketMessageType.Close)
            {
                return null;
            }

            if (!SockJs)
            {
                return message.Text;
            }

            var frame = message.Text;
            switch (frame[0])
            {
                case 'h':
                    Heartbeats++;
                    break;
                case 'a':
                    foreach (var packet in JsonSerializer.Deserialize<string[]>(frame[1..])!)
                    {
                        _pending.Enqueue(packet);
                    }

                    break;
                case 'c':
                    var close = JsonNode.Parse(frame[1..])!.AsArray();
                    SockJsClose = ((int)close[0]!, (string)close[1]!);
                    break;
                default:
                    Assert.Fail($"unexpected SockJS frame {frame}");
                    break;
            }
        }

        return _pending.Dequeue();
    }

    /// <summary>Reads to the close and returns its code: for SockJS the <c>c[...]</c> frame's (which must match the WebSocket close's).</summary>
    public async Task<int?> ReceiveCloseCodeAsync()
    {
        while (await ReceiveTextAsync() is not null)
        {
        }

        if (SockJs)
        {
            Assert.NotNull(SockJsClose);
            Assert.Equal(SockJsClose!.Value.Code, (int?)Socket.CloseStatus);
            return SockJsClose.Value.Code;
        }

        return (int?)Socket.CloseStatus;
    }

    public async ValueTask DisposeAsync()
    {
        await Socket.CloseQuietlyAsync();
        Socket.Dispose();
    }
}
