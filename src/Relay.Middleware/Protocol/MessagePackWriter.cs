using System.Buffers.Binary;
using System.Text;

namespace Relay.Protocol;

/// <summary>
/// Writes the MessagePack subset the relay sends (maps, arrays, strings) into a span the caller sized
/// with the <c>Get…Size</c> methods, always choosing the smallest encoding.
/// </summary>
internal ref struct MessagePackWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Written { get; private set; }

    public static int GetHeaderSize(int count) => count <= 15 ? 1 : count <= ushort.MaxValue ? 3 : 5;

    public static int GetStringSize(int utf8Length) =>
        utf8Length + (utf8Length <= 31 ? 1 : utf8Length <= byte.MaxValue ? 2 : utf8Length <= ushort.MaxValue ? 3 : 5);

    public void WriteMapHeader(int count) =>
        WriteHeader(count, MessagePackCode.MinFixMap, MessagePackCode.Map16, MessagePackCode.Map32);

    public void WriteArrayHeader(int count) =>
        WriteHeader(count, MessagePackCode.MinFixArray, MessagePackCode.Array16, MessagePackCode.Array32);

    /// <summary>Writes a string given as UTF-8 bytes.</summary>
    public void WriteString(ReadOnlySpan<byte> utf8)
    {
        WriteStringHeader(utf8.Length);
        utf8.CopyTo(_destination[Written..]);
        Written += utf8.Length;
    }

    /// <summary>Writes a string, encoding it as UTF-8 straight into the destination.</summary>
    public void WriteString(string value)
    {
        WriteStringHeader(Encoding.UTF8.GetByteCount(value));
        Written += Encoding.UTF8.GetBytes(value, _destination[Written..]);
    }

    private void WriteStringHeader(int length)
    {
        var span = _destination[Written..];
        if (length <= 31)
        {
            span[0] = (byte)(MessagePackCode.MinFixStr | length);
            Written += 1;
        }
        else if (length <= byte.MaxValue)
        {
            span[0] = MessagePackCode.Str8;
            span[1] = (byte)length;
            Written += 2;
        }
        else if (length <= ushort.MaxValue)
        {
            span[0] = MessagePackCode.Str16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)length);
            Written += 3;
        }
        else
        {
            span[0] = MessagePackCode.Str32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
            Written += 5;
        }
    }

    private void WriteHeader(int count, byte fixCode, byte code16, byte code32)
    {
        var span = _destination[Written..];
        if (count <= 15)
        {
            span[0] = (byte)(fixCode | count);
            Written += 1;
        }
        else if (count <= ushort.MaxValue)
        {
            span[0] = code16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)count);
            Written += 3;
        }
        else
        {
            span[0] = code32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)count);
            Written += 5;
        }
    }
}
