using System.Buffers;
using MessagePack;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// The tests' MessagePack encoder and decoder for plain objects, on MessagePack-CSharp's reader and writer.
/// By default it encodes maps as map16 and strings as fixstr/str8, as msgpackr (the reference client's
/// encoder) does; frames recorded from the reference client itself are in <c>ReferenceClientFrames</c>.
/// </summary>
internal static class MsgPack
{
    /// <summary>Encodes null, booleans, integers, strings, lists and string-keyed dictionaries.</summary>
    public static byte[] Encode(object? value, bool mapsAsMap16 = true)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        Write(ref writer, value, mapsAsMap16);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Join(params string[] documentIds) =>
        Encode(new Dictionary<string, object?> { ["type"] = "Join", ["documentIds"] = documentIds });

    public static byte[] Leave(params string[] documentIds) =>
        Encode(new Dictionary<string, object?> { ["type"] = "Leave", ["documentIds"] = documentIds });

    public static byte[] Heartbeat(string type = "Heartbeat") =>
        Encode(new Dictionary<string, object?> { ["type"] = type });

    private static void Write(ref MessagePackWriter writer, object? value, bool map16)
    {
        switch (value)
        {
            case null:
                writer.WriteNil();
                break;
            case bool b:
                writer.Write(b);
                break;
            case int i:
                writer.Write(i);
                break;
            case string s:
                writer.Write(s);
                break;
            case IDictionary<string, object?> map:
                if (map16)
                {
                    // msgpackr writes map16 whatever the count; the library would choose fixmap.
                    writer.WriteRaw(new byte[] { MessagePackCode.Map16, (byte)(map.Count >> 8), (byte)map.Count });
                }
                else
                {
                    writer.WriteMapHeader(map.Count);
                }

                foreach (var (key, item) in map)
                {
                    writer.Write(key);
                    Write(ref writer, item, map16);
                }

                break;
            case System.Collections.IEnumerable list:
                var items = list.Cast<object?>().ToList();
                writer.WriteArrayHeader(items.Count);
                foreach (var item in items)
                {
                    Write(ref writer, item, map16);
                }

                break;
            default:
                throw new ArgumentException($"Cannot encode {value.GetType()}.", nameof(value));
        }
    }

    /// <summary>Decodes maps, arrays, strings, nil, booleans and integers into plain objects.</summary>
    public static object? Decode(byte[] data)
    {
        var reader = new MessagePackReader(data);
        var value = Read(ref reader);
        if (!reader.End)
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

    private static object? Read(ref MessagePackReader reader)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Boolean:
                return reader.ReadBoolean();
            case MessagePackType.Integer:
                return reader.ReadInt32();
            case MessagePackType.String:
                return reader.ReadString();
            case MessagePackType.Array:
                var count = reader.ReadArrayHeader();
                var list = new List<object?>(count);
                for (var i = 0; i < count; i++)
                {
                    list.Add(Read(ref reader));
                }

                return list;
            case MessagePackType.Map:
                var entries = reader.ReadMapHeader();
                var map = new Dictionary<string, object?>(entries);
                for (var i = 0; i < entries; i++)
                {
                    var key = reader.ReadString() ?? throw new FormatException("A nil map key.");
                    map[key] = Read(ref reader);
                }

                return map;
            default:
                throw new FormatException($"Unsupported code 0x{reader.NextCode:x2}.");
        }
    }
}
