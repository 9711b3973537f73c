using System.Buffers;
using System.Net.WebSockets;

namespace Relay.Connection;

/// <summary>
/// Frames a waiting half sent before its partner arrived, kept verbatim (bytes, message type and
/// end-of-message flag, in order) in one pooled buffer that grows up to the held-bytes limit.
/// </summary>
internal sealed class HeldFrames(int maxBytes, int maxFrames) : IDisposable
{
    private readonly List<(int Length, WebSocketMessageType Type, bool EndOfMessage)> _frames = [];
    private byte[] _buffer = [];
    private int _length;

    public int Count => _frames.Count;

    public int Bytes => _length;

    /// <summary>Copies a frame in; false (and nothing kept) if it would exceed a limit.</summary>
    public bool TryAdd(ReadOnlySpan<byte> payload, WebSocketMessageType type, bool endOfMessage)
    {
        if (_frames.Count >= maxFrames || payload.Length > maxBytes - _length)
        {
            return false;
        }

        if (_length + payload.Length > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(_length + payload.Length, _buffer.Length * 2), maxBytes));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ReturnBuffer();
            _buffer = larger;
        }

        payload.CopyTo(_buffer.AsSpan(_length));
        _length += payload.Length;
        _frames.Add((payload.Length, type, endOfMessage));
        return true;
    }

    /// <summary>The frames in the order they arrived.</summary>
    public IEnumerable<(ReadOnlyMemory<byte> Payload, WebSocketMessageType Type, bool EndOfMessage)> Frames()
    {
        var offset = 0;
        foreach (var (length, type, endOfMessage) in _frames)
        {
            yield return (_buffer.AsMemory(offset, length), type, endOfMessage);
            offset += length;
        }
    }

    public void Dispose()
    {
        ReturnBuffer();
        _buffer = [];
        _frames.Clear();
        _length = 0;
    }

    private void ReturnBuffer()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}
