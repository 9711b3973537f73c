using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Relay.Bench.Load;

/// <summary>
/// One end of a relayed pipe, as the load generator sees it. Senders append whole messages and flush
/// them with one socket write (so a fast sender costs the load generator little); receivers take whole
/// messages back out of one large read buffer.
/// </summary>
internal interface IPipeEnd : IDisposable
{
    /// <summary>Bytes appended and not yet flushed.</summary>
    int Pending { get; }

    void Append(ReadOnlySpan<byte> message);

    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The next whole message, valid until the next call; <c>false</c> when the other side closed.
    /// A message larger than <paramref name="maxSize"/> is returned cut at <paramref name="maxSize"/> + 1 bytes.
    /// </summary>
    ValueTask<(bool Open, ReadOnlyMemory<byte> Message)> ReceiveAsync(int maxSize, CancellationToken cancellationToken);
}

/// <summary>Buffered socket I/O shared by the WebSocket and plain TCP ends.</summary>
internal abstract class SocketPipeEnd(Socket socket, int readBufferSize, int sendBufferSize) : IPipeEnd
{
    /// <summary>Buffer sizes for bulk pipes; introduction peers and pairings use small ones.</summary>
    public const int BulkReadBuffer = 256 * 1024;
    public const int BulkSendBuffer = 128 * 1024;

    private byte[] _sendBuffer = new byte[sendBufferSize];
    private int _sendLength;

    protected Socket Socket => socket;

    protected byte[] ReadBuffer { get; } = new byte[readBufferSize];

    protected int ReadStart { get; set; }

    protected int ReadEnd { get; set; }

    /// <summary>A message assembled from several reads or fragments.</summary>
    protected byte[] Assembly { get; set; } = [];

    public int Pending => _sendLength;

    public abstract void Append(ReadOnlySpan<byte> message);

    public abstract ValueTask<(bool Open, ReadOnlyMemory<byte> Message)> ReceiveAsync(int maxSize, CancellationToken cancellationToken);

    protected Span<byte> Reserve(int length)
    {
        if (_sendLength + length > _sendBuffer.Length)
        {
            Array.Resize(ref _sendBuffer, Math.Max(_sendBuffer.Length * 2, _sendLength + length));
        }

        var span = _sendBuffer.AsSpan(_sendLength, length);
        _sendLength += length;
        return span;
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var offset = 0;
        while (offset < _sendLength)
        {
            offset += await socket.SendAsync(_sendBuffer.AsMemory(offset, _sendLength - offset), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }

        _sendLength = 0;
    }

    /// <summary>Makes at least <paramref name="count"/> unread bytes available; false at end of stream.</summary>
    protected async ValueTask<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        while (ReadEnd - ReadStart < count)
        {
            if (ReadStart > 0 && (ReadEnd == ReadStart || ReadBuffer.Length - ReadStart < count))
            {
                ReadBuffer.AsSpan(ReadStart, ReadEnd - ReadStart).CopyTo(ReadBuffer);
                ReadEnd -= ReadStart;
                ReadStart = 0;
            }

            var read = await socket.ReceiveAsync(ReadBuffer.AsMemory(ReadEnd), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            ReadEnd += read;
        }

        return true;
    }

    /// <summary>Copies buffered (or freshly read) bytes into <paramref name="destination"/>, at most its length; 0 at end of stream.</summary>
    protected async ValueTask<int> ReadSomeAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (ReadEnd == ReadStart && !await FillAsync(1, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var take = Math.Min(destination.Length, ReadEnd - ReadStart);
        ReadBuffer.AsSpan(ReadStart, take).CopyTo(destination.Span);
        ReadStart += take;
        return take;
    }

    public void Dispose() => socket.Dispose();
}

/// <summary>
/// A relay connection socket spoken to directly: RFC 6455 handshake, masked binary frames out (many per
/// write), frames in reassembled into messages however the relay fragments them.
/// </summary>
internal sealed class WebSocketPipeEnd : SocketPipeEnd
{
    private readonly Random _masks = new();

    private WebSocketPipeEnd(Socket socket, int readBufferSize, int sendBufferSize)
        : base(socket, readBufferSize, sendBufferSize)
    {
    }

    /// <summary>Opens a WebSocket from the next source address; small buffers suit peers that send little.</summary>
    public static async Task<WebSocketPipeEnd> ConnectAsync(Dialer dialer, Uri uri, CancellationToken cancellationToken,
        int readBufferSize = BulkReadBuffer, int sendBufferSize = BulkSendBuffer)
    {
        var socket = await dialer.ConnectAsync(new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port), cancellationToken).ConfigureAwait(false);
        var end = new WebSocketPipeEnd(socket, readBufferSize, sendBufferSize);
        try
        {
            await end.HandshakeAsync(uri, cancellationToken).ConfigureAwait(false);
            return end;
        }
        catch
        {
            end.Dispose();
            throw;
        }
    }

    private async Task HandshakeAsync(Uri uri, CancellationToken cancellationToken)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        Encoding.ASCII.GetBytes(request).CopyTo(Reserve(Encoding.ASCII.GetByteCount(request)));
        await FlushAsync(cancellationToken).ConfigureAwait(false);

        while (true)
        {
            var end = ReadBuffer.AsSpan(ReadStart, ReadEnd - ReadStart).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var head = Encoding.ASCII.GetString(ReadBuffer, ReadStart, end);
                ReadStart += end + 4;
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for Sec-WebSocket-Accept.
                var expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
                if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal) || !head.Contains(expected, StringComparison.Ordinal))
                {
                    throw new WebSocketException($"handshake with {uri} refused: {head.Split('\r')[0]}");
                }

                return;
            }

            if (!await FillAsync(ReadEnd - ReadStart + 1, cancellationToken).ConfigureAwait(false))
            {
                throw new WebSocketException($"{uri} closed during the handshake");
            }
        }
    }

    public override void Append(ReadOnlySpan<byte> message)
    {
        var headerLength = message.Length < 126 ? 2 : message.Length <= ushort.MaxValue ? 4 : 10;
        var frame = Reserve(headerLength + 4 + message.Length);
        frame[0] = 0x82; // FIN, binary
        if (headerLength == 2)
        {
            frame[1] = (byte)(0x80 | message.Length);
        }
        else if (headerLength == 4)
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame[2..], (ushort)message.Length);
        }
        else
        {
            frame[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(frame[2..], (ulong)message.Length);
        }

        var mask = (uint)_masks.Next() | 1u;
        BinaryPrimitives.WriteUInt32LittleEndian(frame[headerLength..], mask);
        var payload = frame[(headerLength + 4)..];
        message.CopyTo(payload);
        Mask(payload, mask);
    }

    /// <summary>XORs with the 4-byte key (little-endian in <paramref name="mask"/>), a vector at a time.</summary>
    private static void Mask(Span<byte> payload, uint mask)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && payload.Length >= Vector<byte>.Count)
        {
            Span<byte> pattern = stackalloc byte[Vector<byte>.Count];
            for (var b = 0; b < pattern.Length; b++)
            {
                pattern[b] = (byte)(mask >> (8 * (b & 3)));
            }

            var key = new Vector<byte>(pattern);
            var vectors = MemoryMarshal.Cast<byte, Vector<byte>>(payload);
            for (var v = 0; v < vectors.Length; v++)
            {
                vectors[v] ^= key;
            }

            i = vectors.Length * Vector<byte>.Count;
        }

        Span<byte> keyBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(keyBytes, mask);
        for (; i < payload.Length; i++)
        {
            payload[i] ^= keyBytes[i & 3];
        }
    }

    public override async ValueTask<(bool Open, ReadOnlyMemory<byte> Message)> ReceiveAsync(int maxSize, CancellationToken cancellationToken)
    {
        var assembled = 0;
        while (true)
        {
            if (!await FillAsync(2, cancellationToken).ConfigureAwait(false))
            {
                return (false, default);
            }

            var first = ReadBuffer[ReadStart];
            var second = ReadBuffer[ReadStart + 1];
            var headerLength = (second & 0x7f) switch { 126 => 4, 127 => 10, _ => 2 };
            if (!await FillAsync(headerLength, cancellationToken).ConfigureAwait(false))
            {
                return (false, default);
            }

            var length = (second & 0x7f) switch
            {
                126 => BinaryPrimitives.ReadUInt16BigEndian(ReadBuffer.AsSpan(ReadStart + 2)),
                127 => (long)BinaryPrimitives.ReadUInt64BigEndian(ReadBuffer.AsSpan(ReadStart + 2)),
                var small => small,
            };
            var fin = (first & 0x80) != 0;
            var opcode = first & 0x0f;
            if ((second & 0x80) != 0 || length > int.MaxValue / 2)
            {
                throw new WebSocketException("the relay sent a masked or absurdly large frame");
            }

            ReadStart += headerLength;
            if (opcode >= 8)
            {
                // Control frames: a close ends the stream; pings are off in every target here.
                if (opcode == 8)
                {
                    return (false, default);
                }

                if (!await SkipAsync((int)length, cancellationToken).ConfigureAwait(false))
                {
                    return (false, default);
                }

                continue;
            }

            if (assembled == 0 && fin && ReadEnd - ReadStart >= length)
            {
                // The common case: a whole unfragmented message already in the read buffer. No copy.
                var message = ReadBuffer.AsMemory(ReadStart, (int)Math.Min(length, maxSize + 1));
                ReadStart += (int)length;
                return (true, message);
            }

            if (Assembly.Length < maxSize + 1)
            {
                Assembly = new byte[maxSize + 1];
            }

            var remaining = (int)length;
            while (remaining > 0)
            {
                var room = Assembly.Length - assembled;
                if (room == 0)
                {
                    if (!await SkipAsync(remaining, cancellationToken).ConfigureAwait(false))
                    {
                        return (false, default);
                    }

                    break;
                }

                var read = await ReadSomeAsync(Assembly.AsMemory(assembled, Math.Min(room, remaining)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return (false, default);
                }

                assembled += read;
                remaining -= read;
            }

            if (fin)
            {
                return (true, Assembly.AsMemory(0, assembled));
            }
        }
    }

    private async ValueTask<bool> SkipAsync(int count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (ReadEnd == ReadStart && !await FillAsync(1, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            var take = Math.Min(count, ReadEnd - ReadStart);
            ReadStart += take;
            count -= take;
        }

        return true;
    }
}

/// <summary>A plain TCP stream through the floor relay: the same message bytes, no framing; cut back into messages by their known size.</summary>
internal sealed class TcpPipeEnd(Socket socket, int messageSize) : SocketPipeEnd(socket, BulkReadBuffer, BulkSendBuffer)
{
    public override void Append(ReadOnlySpan<byte> message) => message.CopyTo(Reserve(message.Length));

    public override async ValueTask<(bool Open, ReadOnlyMemory<byte> Message)> ReceiveAsync(int maxSize, CancellationToken cancellationToken)
    {
        if (ReadEnd - ReadStart >= messageSize)
        {
            var message = ReadBuffer.AsMemory(ReadStart, messageSize);
            ReadStart += messageSize;
            return (true, message);
        }

        if (Assembly.Length < messageSize)
        {
            Assembly = new byte[messageSize];
        }

        var length = 0;
        while (length < messageSize)
        {
            var read = await ReadSomeAsync(Assembly.AsMemory(length, messageSize - length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return length == 0 ? (false, default) : (true, Assembly.AsMemory(0, length));
            }

            length += read;
        }

        return (true, Assembly.AsMemory(0, length));
    }
}
