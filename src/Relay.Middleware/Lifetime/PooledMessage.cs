using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;

namespace Relay.Lifetime;

/// <summary>What <see cref="PooledMessage.ReceiveAsync"/> got.</summary>
internal enum ReceivedKind
{
    /// <summary>A complete message, in <see cref="PooledMessage.Memory"/>.</summary>
    Message,

    /// <summary>The peer's close frame.</summary>
    Close,

    /// <summary>A message larger than the limit; nothing of it is kept, and the rest of it is not read.</summary>
    TooBig,
}

/// <summary>
/// One complete WebSocket message in a buffer rented from the shared pool, received without holding a
/// buffer while the socket is idle: a zero-byte read waits for the next frame, then a small buffer grows
/// (by doubling) up to the limit. Dispose it to give the buffer back.
/// </summary>
internal readonly struct PooledMessage : IDisposable
{
    private const int InitialBufferSize = 1024;

    private readonly byte[]? _buffer;

    private PooledMessage(ReceivedKind kind, WebSocketMessageType type, byte[]? buffer, int length)
    {
        Kind = kind;
        Type = type;
        _buffer = buffer;
        Length = length;
    }

    public ReceivedKind Kind { get; }

    public WebSocketMessageType Type { get; }

    public int Length { get; }

    public ReadOnlyMemory<byte> Memory => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, Length);

    /// <summary>
    /// Receives the next message (at most <paramref name="maxBytes"/>). The state machine is pooled: a socket's
    /// every message awaits here, so this path allocates nothing per message.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<PooledMessage> ReceiveAsync(WebSocket socket, int maxBytes)
    {
        var first = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        if (first.MessageType == WebSocketMessageType.Close)
        {
            return new PooledMessage(ReceivedKind.Close, first.MessageType, null, 0);
        }

        if (first.EndOfMessage)
        {
            return new PooledMessage(ReceivedKind.Message, first.MessageType, null, 0);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(InitialBufferSize, maxBytes));
        var length = 0;
        try
        {
            while (true)
            {
                // Pooled arrays may be larger than asked for; never read past the limit.
                var limit = Math.Min(buffer.Length, maxBytes);
                if (length == limit)
                {
                    if (length == maxBytes)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return new PooledMessage(ReceivedKind.TooBig, first.MessageType, null, 0);
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxBytes));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                    limit = Math.Min(buffer.Length, maxBytes);
                }

                var result = await socket.ReceiveAsync(buffer.AsMemory(length, limit - length), CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return new PooledMessage(ReceivedKind.Close, result.MessageType, null, 0);
                }

                length += result.Count;
                if (result.EndOfMessage)
                {
                    return new PooledMessage(ReceivedKind.Message, first.MessageType, buffer, length);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>After refusing a message, reads and drops frames until the peer answers the relay's close.</summary>
    public static async Task DiscardUntilCloseAsync(WebSocket socket)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while ((await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}
