using System.Buffers.Binary;
using System.Text;

namespace Relay.Bench.Load;

/// <summary>
/// The few MessagePack messages of the introduction channel: the load generator writes
/// <c>{type:"Join", documentIds:[id]}</c> and reads <c>{type:"Introduction", peerId, documentIds}</c>,
/// accepting every map, string and array width (msgpackr writes map16 for small maps).
/// </summary>
internal static class IntroductionMessages
{
    public static byte[] Join(string documentId)
    {
        var id = Encoding.UTF8.GetBytes(documentId);
        using var stream = new MemoryStream();
        stream.WriteByte(0x82);
        WriteString(stream, "type"u8);
        WriteString(stream, "Join"u8);
        WriteString(stream, "documentIds"u8);
        stream.WriteByte(0x91);
        WriteString(stream, id);
        return stream.ToArray();
    }

    /// <summary>
    /// Reads an Introduction; true when it is exactly <c>{type:"Introduction", peerId:<paramref name="peerId"/>,
    /// documentIds:[<paramref name="documentId"/>]}</c> (other keys ignored).
    /// </summary>
    public static bool IsIntroduction(ReadOnlySpan<byte> message, ReadOnlySpan<byte> peerId, ReadOnlySpan<byte> documentId)
    {
        var position = 0;
        if (!TryReadMapHeader(message, ref position, out var entries))
        {
            return false;
        }

        bool type = false, peer = false, documents = false;
        for (var i = 0; i < entries; i++)
        {
            if (!TryReadString(message, ref position, out var key))
            {
                return false;
            }

            if (key.SequenceEqual("type"u8))
            {
                type = TryReadString(message, ref position, out var value) && value.SequenceEqual("Introduction"u8);
            }
            else if (key.SequenceEqual("peerId"u8))
            {
                peer = TryReadString(message, ref position, out var value) && value.SequenceEqual(peerId);
            }
            else if (key.SequenceEqual("documentIds"u8))
            {
                documents = TryReadArrayHeader(message, ref position, out var count) && count == 1
                    && TryReadString(message, ref position, out var value) && value.SequenceEqual(documentId);
            }
            else
            {
                return false;
            }
        }

        return type && peer && documents && position == message.Length;
    }

    private static void WriteString(MemoryStream stream, ReadOnlySpan<byte> value)
    {
        if (value.Length <= 31)
        {
            stream.WriteByte((byte)(0xa0 | value.Length));
        }
        else
        {
            stream.WriteByte(0xd9);
            stream.WriteByte(checked((byte)value.Length));
        }

        stream.Write(value);
    }

    private static bool TryReadMapHeader(ReadOnlySpan<byte> m, ref int p, out int count) =>
        TryReadHeader(m, ref p, 0x80, 0xde, 0xdf, out count);

    private static bool TryReadArrayHeader(ReadOnlySpan<byte> m, ref int p, out int count) =>
        TryReadHeader(m, ref p, 0x90, 0xdc, 0xdd, out count);

    private static bool TryReadHeader(ReadOnlySpan<byte> m, ref int p, byte fix, byte sixteen, byte thirtyTwo, out int count)
    {
        count = 0;
        if (p >= m.Length)
        {
            return false;
        }

        var code = m[p++];
        if ((code & 0xf0) == fix)
        {
            count = code & 0x0f;
            return true;
        }

        if (code == sixteen && p + 2 <= m.Length)
        {
            count = BinaryPrimitives.ReadUInt16BigEndian(m[p..]);
            p += 2;
            return true;
        }

        if (code == thirtyTwo && p + 4 <= m.Length)
        {
            count = (int)BinaryPrimitives.ReadUInt32BigEndian(m[p..]);
            p += 4;
            return count >= 0;
        }

        return false;
    }

    private static bool TryReadString(ReadOnlySpan<byte> m, ref int p, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (p >= m.Length)
        {
            return false;
        }

        var code = m[p++];
        int length;
        if ((code & 0xe0) == 0xa0)
        {
            length = code & 0x1f;
        }
        else if (code == 0xd9 && p + 1 <= m.Length)
        {
            length = m[p++];
        }
        else if (code == 0xda && p + 2 <= m.Length)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(m[p..]);
            p += 2;
        }
        else if (code == 0xdb && p + 4 <= m.Length)
        {
            length = (int)BinaryPrimitives.ReadUInt32BigEndian(m[p..]);
            p += 4;
        }
        else
        {
            return false;
        }

        if (length < 0 || p + length > m.Length)
        {
            return false;
        }

        value = m.Slice(p, length);
        p += length;
        return true;
    }
}
