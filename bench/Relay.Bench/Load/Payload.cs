using System.Buffers.Binary;
using System.Diagnostics;

namespace Relay.Bench.Load;

/// <summary>
/// Every message the load generator sends: a 20-byte header (sequence number, send timestamp, stream
/// id) and a fixed pseudo-random filler, so the receiver can check every byte, the order, and the
/// one-hop latency.
/// </summary>
internal static class Payload
{
    public const int HeaderSize = 20;

    private static readonly byte[] Filler = CreateFiller(1 << 20);

    /// <summary>Fills a send buffer with the filler once; <see cref="Stamp"/> then only rewrites the header.</summary>
    public static byte[] NewMessage(int size)
    {
        if (size < HeaderSize || size > Filler.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(size));
        }

        var message = new byte[size];
        Filler.AsSpan(0, size).CopyTo(message);
        return message;
    }

    public static void Stamp(Span<byte> message, long sequence, int stream)
    {
        BinaryPrimitives.WriteInt64LittleEndian(message, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(message[8..], Stopwatch.GetTimestamp());
        BinaryPrimitives.WriteInt32LittleEndian(message[16..], stream);
    }

    public static long Sequence(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadInt64LittleEndian(message);

    public static long Timestamp(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadInt64LittleEndian(message[8..]);

    public static int Stream(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadInt32LittleEndian(message[16..]);

    public static bool FillerIntact(ReadOnlySpan<byte> message) =>
        message[HeaderSize..].SequenceEqual(Filler.AsSpan(HeaderSize, message.Length - HeaderSize));

    private static byte[] CreateFiller(int length)
    {
        var filler = new byte[length];
        new Random(20240517).NextBytes(filler);
        return filler;
    }
}

/// <summary>
/// Checks one direction of one pipe: each message has the expected size, sequence number and stream,
/// and an intact filler. The first error is kept; the run fails on it.
/// </summary>
internal sealed class StreamVerifier(int stream, int size)
{
    private long _next;

    public long Messages => _next;

    public long Bytes { get; private set; }

    public string? Error { get; private set; }

    /// <summary>Checks a received message; returns its one-hop latency in Stopwatch ticks.</summary>
    public long Verify(ReadOnlySpan<byte> message, long receivedAt)
    {
        if (Error is null)
        {
            if (message.Length != size)
            {
                Error = $"stream {stream}: message {_next} has {message.Length} bytes, expected {size}";
            }
            else if (Payload.Stream(message) != stream)
            {
                Error = $"stream {stream}: message {_next} belongs to stream {Payload.Stream(message)}";
            }
            else if (Payload.Sequence(message) != _next)
            {
                Error = $"stream {stream}: expected message {_next}, received {Payload.Sequence(message)} (lost or reordered)";
            }
            else if (!Payload.FillerIntact(message))
            {
                Error = $"stream {stream}: message {_next} is corrupted";
            }
        }

        _next++;
        Bytes += message.Length;
        return receivedAt - Payload.Timestamp(message);
    }
}
