using System.Buffers;
using System.Net.WebSockets;

namespace Relay.Protocol;

/// <summary>A complete message to send, in a buffer rented from the shared pool.</summary>
internal readonly struct OutboundMessage(byte[] buffer, int length, WebSocketMessageType type)
{
    public ReadOnlyMemory<byte> Payload => buffer.AsMemory(0, length);

    public int Length => length;

    public WebSocketMessageType Type => type;

    /// <summary>Returns the buffer to the pool; the message must not be used afterwards.</summary>
    public void Release() => ArrayPool<byte>.Shared.Return(buffer);
}
