using System.Net.Sockets;
using System.Net.WebSockets;

namespace Relay.Bench.Load;

/// <summary>One end of a relayed pipe, as the load generator sees it: whole messages in and out.</summary>
internal interface IPipeEnd : IDisposable
{
    ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>
    /// Receives one whole message into <paramref name="buffer"/> (one byte longer than the expected size,
    /// so an oversized message shows); returns its length, or -1 when the other side closed.
    /// </summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}

/// <summary>A relay connection socket: one binary WebSocket message per message, however the relay fragments it.</summary>
internal sealed class WebSocketPipeEnd(WebSocket socket) : IPipeEnd
{
    public WebSocket Socket => socket;

    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer[length..], cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return -1;
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                return length;
            }

            if (length == buffer.Length)
            {
                // Larger than expected; the verifier reports it.
                return length;
            }
        }
    }

    public void Dispose()
    {
        socket.Abort();
        socket.Dispose();
    }
}

/// <summary>
/// A plain TCP stream through the floor relay: the same bytes with no framing at all. Messages are cut
/// back out of the stream by their known size, through one large read buffer.
/// </summary>
internal sealed class TcpPipeEnd(Socket socket, int messageSize) : IPipeEnd
{
    private readonly byte[] _readBuffer = new byte[256 * 1024];
    private int _start;
    private int _end;

    public async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        while (!message.IsEmpty)
        {
            var sent = await socket.SendAsync(message, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            message = message[sent..];
        }
    }

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        while (length < messageSize)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await socket.ReceiveAsync(_readBuffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                {
                    return length == 0 ? -1 : length;
                }
            }

            var take = Math.Min(messageSize - length, _end - _start);
            _readBuffer.AsSpan(_start, take).CopyTo(buffer.Span[length..]);
            _start += take;
            length += take;
        }

        return length;
    }

    public void Dispose() => socket.Dispose();
}
