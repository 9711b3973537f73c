using System.Net.Sockets;
using System.Text;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// A client WebSocket written by hand on a TCP connection, for what <see cref="System.Net.WebSockets.ClientWebSocket"/>
/// cannot do: send part of a frame and stop there. Frames are masked with a zero key (valid, and leaves
/// the payload readable).
/// </summary>
internal sealed class RawWebSocketClient : IDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private RawWebSocketClient(TcpClient connected)
    {
        _tcp = connected;
        _stream = connected.GetStream();
    }

    public static Task<RawWebSocketClient> ConnectAsync(TestGateway gateway, string path) => ConnectAsync(gateway.HttpUri, path);

    public static async Task<RawWebSocketClient> ConnectAsync(Uri httpUri, string path)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(httpUri.Host, httpUri.Port);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }

        var client = new RawWebSocketClient(tcp);
        try
        {
            await client._stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"GET {path} HTTP/1.1\r\nHost: {httpUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
            var response = await client.ReadHandshakeResponseAsync();
            Assert.StartsWith("HTTP/1.1 101", response, StringComparison.Ordinal);
            client.HandshakeResponse = response;
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The header of a final frame of <paramref name="opcode"/> (1 text, 2 binary, 8 close) with <paramref name="length"/> bytes of payload.</summary>
    public static byte[] FrameHeader(byte opcode, int length)
    {
        byte[] lengthBytes = length switch
        {
            < 126 => [(byte)(0x80 | length)],
            <= ushort.MaxValue => [0x80 | 126, (byte)(length >> 8), (byte)length],
            _ => throw new ArgumentOutOfRangeException(nameof(length)),
        };
        return [(byte)(0x80 | opcode), .. lengthBytes, 0, 0, 0, 0];
    }

    public Task SendFrameAsync(byte opcode, byte[] payload) => SendAsync([.. FrameHeader(opcode, payload.Length), .. payload]);

    /// <summary>Writes bytes as they are: part of a frame, or several.</summary>
    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>The server's handshake response, status line and headers.</summary>
    public string HandshakeResponse { get; private set; } = "";

    /// <summary>Reads one frame the server sent (servers do not mask): its opcode and payload.</summary>
    public async Task<(byte Opcode, byte[] Payload)> ReadFrameAsync()
    {
        var (_, opcode, payload) = await ReadFrameWithFinAsync();
        return (opcode, payload);
    }

    /// <summary>Reads one frame the server sent: whether it ends its message (FIN), its opcode (0: a continuation) and payload.</summary>
    public async Task<(bool Fin, byte Opcode, byte[] Payload)> ReadFrameWithFinAsync()
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        var header = new byte[2];
        await _stream.ReadExactlyAsync(header, timeout.Token);
        long length = header[1] & 0x7F;
        if (length >= 126)
        {
            var extended = new byte[length == 126 ? 2 : 8];
            await _stream.ReadExactlyAsync(extended, timeout.Token);
            length = 0;
            foreach (var b in extended)
            {
                length = (length << 8) | b;
            }
        }

        var payload = new byte[length];
        await _stream.ReadExactlyAsync(payload, timeout.Token);
        return ((header[0] & 0x80) != 0, (byte)(header[0] & 0x0F), payload);
    }

    private async Task<string> ReadHandshakeResponseAsync()
    {
        // Byte by byte up to the blank line, so no frame after it is consumed.
        var response = new StringBuilder();
        var one = new byte[1];
        while (!response.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await _stream.ReadAsync(one) == 0)
            {
                break;
            }

            response.Append((char)one[0]);
        }

        return response.ToString();
    }

    public void Dispose() => _tcp.Dispose();
}
