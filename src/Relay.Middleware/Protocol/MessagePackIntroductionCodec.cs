using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Unicode;
using MessagePack;

namespace Relay.Protocol;

/// <summary>
/// The @localfirst/relay 4.x introduction dialect, in binary frames: MessagePack maps
/// <c>{type:"Join"|"Leave", documentIds:[...]}</c>, heartbeats <c>{type:"Heartbeat"}</c> or <c>{type:"❤️"}</c>,
/// and the server's <c>{type:"Introduction", peerId, documentIds}</c>. Keys may come in any order, any
/// width of map, array and string header is accepted, and unknown keys are skipped. Read and written with
/// MessagePack-CSharp's <c>MessagePackReader</c> and <c>MessagePackWriter</c>; what the
/// library leaves to its callers (no length is trusted beyond the bytes held, nesting is skipped without
/// recursion) is done here.
/// </summary>
internal static class MessagePackIntroductionCodec
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_output;

    /// <summary>Parses one complete client message into <paramref name="request"/> (cleared first).</summary>
    public static IntroductionFrame Parse(ReadOnlyMemory<byte> message, int maxDocuments, IntroductionRequest request)
    {
        request.Clear();
        IntroductionFrame result;
        MessageKind kind;
        try
        {
            result = ParseCore(message, maxDocuments, request.Join, out kind);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or ArgumentOutOfRangeException)
        {
            // The library throws on a truncated value, a code of another type, or a string that is not UTF-8.
            (result, kind) = (IntroductionFrame.Malformed, MessageKind.Absent);
        }

        if (result != IntroductionFrame.Membership || kind != MessageKind.Join)
        {
            if (result == IntroductionFrame.Membership && kind == MessageKind.Leave)
            {
                request.Leave.AddRange(request.Join);
            }

            request.Join.Clear();
        }

        return result;
    }

    private static IntroductionFrame ParseCore(ReadOnlyMemory<byte> message, int maxDocuments, List<string> documents, out MessageKind kind)
    {
        kind = MessageKind.Absent;
        var reader = new MessagePackReader(message);
        if (reader.End || reader.NextMessagePackType != MessagePackType.Map)
        {
            return IntroductionFrame.Malformed;
        }

        var entries = reader.ReadMapHeader();
        if (!Holds(ref reader, message.Length, entries, bytesPerItem: 2))
        {
            return IntroductionFrame.Malformed;
        }

        var sawDocuments = false;
        for (var i = 0; i < entries; i++)
        {
            if (reader.NextMessagePackType != MessagePackType.String)
            {
                // A non-string key is an unknown key too (msgpackr, the 4.x server's decoder, reads past
                // it): skip the key and its value.
                if (!TrySkip(ref reader, message.Length) || !TrySkip(ref reader, message.Length))
                {
                    return IntroductionFrame.Malformed;
                }

                continue;
            }

            var key = ReadStringBytes(ref reader);
            if (key.SequenceEqual("type"u8))
            {
                if (kind != MessageKind.Absent || reader.NextMessagePackType != MessagePackType.String)
                {
                    return IntroductionFrame.Malformed;
                }

                kind = ClassifyType(ReadStringBytes(ref reader));
            }
            else if (key.SequenceEqual("documentIds"u8))
            {
                if (sawDocuments || reader.NextMessagePackType != MessagePackType.Array)
                {
                    return IntroductionFrame.Malformed;
                }

                var count = reader.ReadArrayHeader();
                if (!Holds(ref reader, message.Length, count, bytesPerItem: 1))
                {
                    return IntroductionFrame.Malformed;
                }

                sawDocuments = true;
                if (count > maxDocuments)
                {
                    return IntroductionFrame.TooManyDocuments;
                }

                for (var d = 0; d < count; d++)
                {
                    if (reader.NextMessagePackType != MessagePackType.String)
                    {
                        return IntroductionFrame.Malformed;
                    }

                    var id = ReadStringBytes(ref reader);
                    if (!Utf8.IsValid(id))
                    {
                        return IntroductionFrame.Malformed;
                    }

                    documents.Add(Encoding.UTF8.GetString(id));
                }
            }
            else if (!TrySkip(ref reader, message.Length))
            {
                return IntroductionFrame.Malformed;
            }
        }

        if (!reader.End)
        {
            return IntroductionFrame.Malformed;
        }

        return kind switch
        {
            MessageKind.Join or MessageKind.Leave => IntroductionFrame.Membership,
            MessageKind.Heartbeat => IntroductionFrame.Heartbeat,
            _ => IntroductionFrame.UnknownType,
        };
    }

    /// <summary>A string's bytes, without decoding them (the message is one contiguous buffer).</summary>
    private static ReadOnlySpan<byte> ReadStringBytes(ref MessagePackReader reader) =>
        reader.TryReadStringSpan(out var bytes) ? bytes : throw new MessagePackSerializationException("A string split across segments.");

    /// <summary>
    /// Whether a container's claimed <paramref name="count"/> can fit in the bytes left (each item takes at
    /// least <paramref name="bytesPerItem"/>): a header may claim four billion entries in five bytes.
    /// </summary>
    private static bool Holds(ref MessagePackReader reader, int length, long count, int bytesPerItem) =>
        count >= 0 && count * bytesPerItem <= length - reader.Consumed;

    /// <summary>
    /// Skips one value of any type. The library's <c>Skip</c> recurses into maps and arrays, so a frame
    /// of nested one-element arrays would exhaust the stack; here containers only add to a count of
    /// values still to skip, and scalars go through the library.
    /// </summary>
    private static bool TrySkip(ref MessagePackReader reader, int length)
    {
        long pending = 1;
        while (pending > 0)
        {
            pending--;
            switch (reader.NextMessagePackType)
            {
                case MessagePackType.Map:
                    pending += 2L * reader.ReadMapHeader();
                    break;
                case MessagePackType.Array:
                    pending += reader.ReadArrayHeader();
                    break;
                case MessagePackType.Unknown:
                    return false;
                default:
                    reader.Skip();
                    break;
            }

            if (!Holds(ref reader, length, pending, bytesPerItem: 1))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Encodes <c>{type:"Introduction", peerId, documentIds}</c> into a pooled buffer.</summary>
    public static OutboundMessage WriteIntroduction(string peerId, IReadOnlyList<string> documentIds)
    {
        // One reusable writer per thread; the message is copied out into a buffer of its exact size.
        var output = t_output ??= new ArrayBufferWriter<byte>(256);
        output.ResetWrittenCount();
        var writer = new MessagePackWriter(output);
        writer.WriteMapHeader(3);
        writer.WriteString("type"u8);
        writer.WriteString("Introduction"u8);
        writer.WriteString("peerId"u8);
        writer.Write(peerId);
        writer.WriteString("documentIds"u8);
        writer.WriteArrayHeader(documentIds.Count);
        for (var i = 0; i < documentIds.Count; i++)
        {
            writer.Write(documentIds[i]);
        }

        writer.Flush();
        var written = output.WrittenSpan;
        var buffer = ArrayPool<byte>.Shared.Rent(written.Length);
        written.CopyTo(buffer);
        if (output.Capacity > 64 * 1024)
        {
            // Do not keep a buffer grown by one huge introduction for the thread's lifetime.
            t_output = null;
        }

        return new OutboundMessage(buffer, written.Length, WebSocketMessageType.Binary);
    }

    private enum MessageKind
    {
        Absent,
        Unknown,
        Heartbeat,
        Join,
        Leave,
    }

    private static MessageKind ClassifyType(ReadOnlySpan<byte> type)
    {
        if (type.SequenceEqual("Join"u8))
        {
            return MessageKind.Join;
        }

        if (type.SequenceEqual("Leave"u8))
        {
            return MessageKind.Leave;
        }

        return type.SequenceEqual("Heartbeat"u8) || type.SequenceEqual("❤️"u8) ? MessageKind.Heartbeat : MessageKind.Unknown;
    }
}
