using System.Buffers.Binary;
using System.Text;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// A test-side MessagePack encoder and decoder, written apart from the relay's codec so the tests do
/// not check the codec against itself. By default it encodes maps as map16 and strings as
/// fixstr/str8, as msgpackr (the reference client's encoder) does.
/// </summary>
internal static class MsgPack
{
    /// <summary>Encodes strings, string arrays/lists, nested object arrays and string-keyed dictionaries.</summary>
    public static byte[] Encode(object? value, bool mapsAsMap16 = true)
    {
        using var stream = new MemoryStream();
        Write(stream, value, mapsAsMap16);
        return stream.ToArray();
    }

    public static byte[] Join(params string[] documentIds) =>
        Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = documentIds });

    public static byte[] Leave(params string[] documentIds) =>
        Encode(new Dictionary<string, object?> { ["type"] = "Leave", ["documentIds"] = documentIds });

    public static byte[] Heartbeat(string type = "Heartbeat") =>
        Encode(new Dictionary<string, object?> { ["type"] = type });

    private static void Write(Stream s, object? value, bool map16)
    {
        switch (value)
        {
            case null:
                s.WriteByte(0xc0);
                break;
            case bool b:
                s.WriteByte(b ? (byte)0xc3 : (byte)0xc2);
                break;
            case int i when i is >= 0 and <= 127:
                s.WriteByte((byte)i);
                break;
            case int i:
                s.WriteByte(0xd2);
                WriteBigEndian(s, (uint)i, 4);
                break;
            case string str:
                var bytes = Encoding.UTF8.GetBytes(str);
                if (bytes.Length <= 31)
                {
                    s.WriteByte((byte)(0xa0 | bytes.Length));
                }
                else if (bytes.Length <= 255)
                {
                    s.WriteByte(0xd9);
                    s.WriteByte((byte)bytes.Length);
                }
                else if (bytes.Length <= ushort.MaxValue)
                {
                    s.WriteByte(0xda);
                    WriteBigEndian(s, (uint)bytes.Length, 2);
                }
                else
                {
                    s.WriteByte(0xdb);
                    WriteBigEndian(s, (uint)bytes.Length, 4);
                }

                s.Write(bytes);
                break;
            case IDictionary<string, object?> map:
                if (map16)
                {
                    s.WriteByte(0xde);
                    WriteBigEndian(s, (uint)map.Count, 2);
                }
                else
                {
                    s.WriteByte((byte)(0x80 | map.Count));
                }

                foreach (var (key, item) in map)
                {
                    Write(s, key, map16);
                    Write(s, item, map16);
                }

                break;
            case System.Collections.IEnumerable list:
                var items = list.Cast<object?>().ToList();
                if (items.Count <= 15)
                {
                    s.WriteByte((byte)(0x90 | items.Count));
                }
                else if (items.Count <= ushort.MaxValue)
                {
                    s.WriteByte(0xdc);
                    WriteBigEndian(s, (uint)items.Count, 2);
                }
                else
                {
                    s.WriteByte(0xdd);
                    WriteBigEndian(s, (uint)items.Count, 4);
                }

                foreach (var item in items)
                {
                    Write(s, item, map16);
                }

                break;
            default:
                throw new ArgumentException($"Cannot encode {value.GetType()}.", nameof(value));
        }
    }

    private static void WriteBigEndian(Stream s, uint value, int size)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        s.Write(bytes[(4 - size)..]);
    }

    /// <summary>Decodes maps, arrays, strings, nil, booleans and small integers into plain objects.</summary>
    public static object? Decode(byte[] data)
    {
        var position = 0;
        var value = Read(data, ref position);
        if (position != data.Length)
        {
            throw new FormatException("Trailing bytes.");
        }

        return value;
    }

    /// <summary>Decodes a relay Introduction: (type, peerId, documentIds).</summary>
    public static (string Type, string PeerId, string[] DocumentIds) DecodeIntroduction(byte[] data)
    {
        var map = (Dictionary<string, object?>)Decode(data)!;
        return ((string)map["type"]!, (string)map["peerId"]!, ((List<object?>)map["documentIds"]!).Cast<string>().ToArray());
    }

    private static object? Read(byte[] d, ref int p)
    {
        var code = d[p++];
        switch (code)
        {
            case <= 0x7f:
                return (int)code;
            case >= 0x80 and <= 0x8f:
                return ReadMap(d, ref p, code & 0x0f);
            case >= 0x90 and <= 0x9f:
                return ReadArray(d, ref p, code & 0x0f);
            case >= 0xa0 and <= 0xbf:
                return ReadString(d, ref p, code & 0x1f);
            case 0xc0:
                return null;
            case 0xc2:
                return false;
            case 0xc3:
                return true;
            case 0xd9:
                return ReadString(d, ref p, d[p++]);
            case 0xda:
                return ReadString(d, ref p, ReadLength(d, ref p, 2));
            case 0xdb:
                return ReadString(d, ref p, ReadLength(d, ref p, 4));
            case 0xdc:
                return ReadArray(d, ref p, ReadLength(d, ref p, 2));
            case 0xdd:
                return ReadArray(d, ref p, ReadLength(d, ref p, 4));
            case 0xde:
                return ReadMap(d, ref p, ReadLength(d, ref p, 2));
            case 0xdf:
                return ReadMap(d, ref p, ReadLength(d, ref p, 4));
            default:
                throw new FormatException($"Unsupported code 0x{code:x2}.");
        }
    }

    private static int ReadLength(byte[] d, ref int p, int size)
    {
        var value = size == 2 ? BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p)) : (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(p));
        p += size;
        return value;
    }

    private static string ReadString(byte[] d, ref int p, int length)
    {
        var value = Encoding.UTF8.GetString(d, p, length);
        p += length;
        return value;
    }

    private static List<object?> ReadArray(byte[] d, ref int p, int count)
    {
        var list = new List<object?>(count);
        for (var i = 0; i < count; i++)
        {
            list.Add(Read(d, ref p));
        }

        return list;
    }

    private static Dictionary<string, object?> ReadMap(byte[] d, ref int p, int count)
    {
        var map = new Dictionary<string, object?>(count);
        for (var i = 0; i < count; i++)
        {
            var key = (string)Read(d, ref p)!;
            map[key] = Read(d, ref p);
        }

        return map;
    }
}
