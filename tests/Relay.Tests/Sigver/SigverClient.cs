using System.Net.WebSockets;
using Google.Protobuf;
using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Sigver;

/// <summary>
/// A sigver peer as a test drives it: a real WebSocket, and frames encoded and decoded with the protobuf classes
/// protoc generates from the original schema. Server heartbeats are skipped unless a test asks for them.
/// </summary>
internal sealed class SigverClient : IAsyncDisposable
{
    public SigverClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    /// <summary>Opens <c>/sigver/{key}</c> (or any path given whole with a leading slash).</summary>
    public static async Task<SigverClient> ConnectAsync(TestGateway gateway, string key) =>
        new(await gateway.ConnectAsync(key.StartsWith('/') ? key : "/sigver/" + key));

    /// <summary>Opens the key and reads its first answer, which must be <c>isFirst</c>.</summary>
    public static async Task<(SigverClient Client, bool IsFirst)> JoinAsync(TestGateway gateway, string key)
    {
        var client = await ConnectAsync(gateway, key);
        var first = await client.ReceiveAsync();
        Assert.Equal(Message.TypeOneofCase.IsFirst, first.TypeCase);
        return (client, first.IsFirst);
    }

    /// <summary>
    /// Opens <paramref name="path"/> on a gateway at <paramref name="webSocketUri"/> (a node of a cluster) with the
    /// path sent verbatim (percent-escapes as written), and reads its first answer, which must be <c>isFirst</c>.
    /// </summary>
    public static async Task<(SigverClient Client, bool IsFirst)> JoinAsync(Uri webSocketUri, string path)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        var uri = new Uri(webSocketUri.GetLeftPart(UriPartial.Authority) + path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        await socket.ConnectAsync(uri, timeout.Token);
        var client = new SigverClient(socket);
        var first = await client.ReceiveAsync();
        Assert.Equal(Message.TypeOneofCase.IsFirst, first.TypeCase);
        return (client, first.IsFirst);
    }

    /// <summary>A member and a joiner bound to it on key "room", with the id the member knows the joiner by (learnt from <paramref name="hello"/>).</summary>
    public static async Task<(SigverClient Member, SigverClient Joiner, uint Id)> BoundPairAsync(TestGateway gateway, byte[] hello)
    {
        var (member, _) = await JoinAsync(gateway, "room");
        var (joiner, _) = await JoinAsync(gateway, "room");
        await joiner.SendDataAsync(0, hello);
        return (member, joiner, await member.ExpectDataAsync(hello));
    }

    public Task SendAsync(Message message) => Socket.SendBinaryAsync(message.ToByteArray());

    public Task SendDataAsync(uint id, byte[] data) => SendAsync(Data(id, data));

    public Task SendStableAsync() => SendAsync(new Message { Stable = true });

    /// <summary>Sends <c>stable</c> and waits until the key's group has <paramref name="members"/> members (stable has no answer).</summary>
    public async Task BecomeMemberAsync(TestGateway gateway, string key, int members)
    {
        await SendStableAsync();
        var groups = gateway.GetService<Relay.Sigver.ISigverGroups>();
        await Eventually.TrueAsync(() => groups.MemberCount(key) == members, $"'{key}' has {members} members");
    }

    public Task SendTryAnotherAsync() => SendAsync(new Message { TryAnother = true });

    public Task SendHeartbeatAsync() => SendAsync(new Message { Heartbeat = true });

    public static Message Data(uint id, byte[] data) => new() { Content = new Content { Id = id, Data = ByteString.CopyFrom(data) } };

    public static Message End(uint id) => new() { Content = new Content { Id = id, IsEnd = true } };

    public static Message Error(uint id) => new() { Content = new Content { Id = id, IsError = true } };

    /// <summary>The next frame's raw bytes (heartbeats included).</summary>
    public async Task<byte[]> ReceiveRawAsync()
    {
        var received = await Socket.ReceiveMessageAsync();
        Assert.True(received.Type == WebSocketMessageType.Binary, $"Expected a binary frame, got {received.Type} (close {Socket.CloseStatus}).");
        return received.Payload;
    }

    /// <summary>The next message that is not a server heartbeat.</summary>
    public async Task<Message> ReceiveAsync()
    {
        while (true)
        {
            var message = Message.Parser.ParseFrom(await ReceiveRawAsync());
            if (message.TypeCase != Message.TypeOneofCase.Heartbeat)
            {
                return message;
            }
        }
    }

    /// <summary>The next message, which must be content; returns it.</summary>
    public async Task<Content> ReceiveContentAsync()
    {
        var message = await ReceiveAsync();
        Assert.Equal(Message.TypeOneofCase.Content, message.TypeCase);
        return message.Content;
    }

    /// <summary>The next message must be data with this id and these bytes.</summary>
    public async Task ExpectDataAsync(uint id, byte[] data)
    {
        var content = await ReceiveContentAsync();
        Assert.Equal(Content.TypeOneofCase.Data, content.TypeCase);
        Assert.Equal(id, content.Id);
        Assert.Equal(data, content.Data.ToByteArray());
    }

    /// <summary>The next message must be data with these bytes; returns the id it carries.</summary>
    public async Task<uint> ExpectDataAsync(byte[] data)
    {
        var content = await ReceiveContentAsync();
        Assert.Equal(Content.TypeOneofCase.Data, content.TypeCase);
        Assert.Equal(data, content.Data.ToByteArray());
        return content.Id;
    }

    public async Task ExpectAsync(Content.TypeOneofCase type, uint id)
    {
        var content = await ReceiveContentAsync();
        Assert.Equal(type, content.TypeCase);
        Assert.Equal(id, content.Id);
    }

    public async Task ExpectIsFirstAsync(bool isFirst)
    {
        var message = await ReceiveAsync();
        Assert.Equal(Message.TypeOneofCase.IsFirst, message.TypeCase);
        Assert.Equal(isFirst, message.IsFirst);
    }

    /// <summary>Reads until the close frame (non-heartbeat messages before it fail the test) and returns its code.</summary>
    public async Task<int?> ExpectCloseAsync()
    {
        while (true)
        {
            var received = await Socket.ReceiveMessageAsync();
            if (received.Type == WebSocketMessageType.Close)
            {
                await Socket.CloseQuietlyAsync();
                return (int?)Socket.CloseStatus;
            }

            var message = Message.Parser.ParseFrom(received.Payload);
            Assert.True(message.TypeCase == Message.TypeOneofCase.Heartbeat, $"Expected the close, got {message}.");
        }
    }

    /// <summary>
    /// Proves nothing else was on its way to this peer: <paramref name="sendProbe"/> sends it data
    /// <paramref name="probe"/> (through the relay), which must be the very next message.
    /// </summary>
    public async Task ExpectNothingBeforeAsync(Func<Task> sendProbe, byte[] probe)
    {
        await sendProbe();
        Assert.Equal(probe, (await ReceiveContentAsync()).Data.ToByteArray());
    }

    public async ValueTask DisposeAsync()
    {
        await Socket.CloseQuietlyAsync();
        Socket.Dispose();
    }
}
