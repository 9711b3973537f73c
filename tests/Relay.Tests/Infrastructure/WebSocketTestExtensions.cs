using System.Net.WebSockets;
using System.Text;

namespace Relay.Tests.Infrastructure;

/// <summary>One complete message as a client received it.</summary>
internal sealed record ReceivedMessage(WebSocketMessageType Type, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);
}

internal static class WebSocketTestExtensions
{
    /// <summary>Receives one complete message (or the close frame, as a Close message), within the test timeout.</summary>
    public static async Task<ReceivedMessage> ReceiveMessageAsync(this WebSocket socket, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestTimeouts.Default);
        var buffer = new byte[16 * 1024];
        using var payload = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new ReceivedMessage(WebSocketMessageType.Close, []);
            }

            payload.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return new ReceivedMessage(result.MessageType, payload.ToArray());
            }
        }
    }

    /// <summary>Reads until the server's close frame and returns its status (messages before it are skipped).</summary>
    public static async Task<(WebSocketCloseStatus? Status, string? Description)> ReceiveCloseAsync(this WebSocket socket)
    {
        while ((await socket.ReceiveMessageAsync()).Type != WebSocketMessageType.Close)
        {
        }

        return (socket.CloseStatus, socket.CloseStatusDescription);
    }

    /// <summary>
    /// Reads until the socket ends: the close status if a close frame arrived, or null if the
    /// connection was cut without one.
    /// </summary>
    public static async Task<WebSocketCloseStatus?> ReceiveEndAsync(this WebSocket socket)
    {
        try
        {
            return (await socket.ReceiveCloseAsync()).Status;
        }
        catch (WebSocketException)
        {
            return null;
        }
    }

    public static Task SendTextAsync(this WebSocket socket, string text, bool endOfMessage = true) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage, CancellationToken.None);

    public static Task SendBinaryAsync(this WebSocket socket, byte[] payload, bool endOfMessage = true) =>
        socket.SendAsync(payload, WebSocketMessageType.Binary, endOfMessage, CancellationToken.None);

    /// <summary>
    /// Closes both ends of a pipe at once. Closing them one after the other would leave the first
    /// waiting for its partner to answer the passed-on close frame, which a client that is not reading
    /// never does (the relay then aborts it after its close timeout).
    /// </summary>
    public static Task ClosePairAsync(WebSocket first, WebSocket second) =>
        Task.WhenAll(first.CloseQuietlyAsync(), second.CloseQuietlyAsync());

    /// <summary>Completes the close handshake from the client side, tolerating a server that already closed.</summary>
    public static async Task CloseQuietlyAsync(this WebSocket socket)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TestTimeouts.Default);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (WebSocketException)
        {
        }
    }
}
