using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Unicode;

namespace Relay.Protocol;

/// <summary>
/// The @localfirst/relay 4.x introduction dialect, in binary frames: MessagePack maps
/// <c>{type:"Join"|"Leave", documentIds:[...]}</c>, heartbeats <c>{type:"Heartbeat"}</c> or <c>{type:"❤️"}</c>,
/// and the server's <c>{type:"Introduction", peerId, documentIds}</c>. Keys may come in any order and
/// unknown keys are skipped.
/// </summary>
internal static class MessagePackIntroductionCodec
{
    /// <summary>Parses one complete client message into <paramref name="request"/> (cleared first).</summary>
    public static IntroductionFrame Parse(ReadOnlySpan<byte> message, int maxDocuments, IntroductionRequest request)
    {
        request.Clear();
        var result = ParseCore(message, maxDocuments, request.Join, out var kind);
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

    private static IntroductionFrame ParseCore(ReadOnlySpan<byte> message, int maxDocuments, List<string> documents, out MessageKind kind)
    {
        kind = MessageKind.Absent;
        var reader = new MessagePackReader(message);
        if (!reader.TryReadMapHeader(out var entries))
        {
            return IntroductionFrame.Malformed;
        }

        var sawDocuments = false;
        for (var i = 0; i < entries; i++)
        {
            if (!reader.TryReadStringBytes(out var key))
            {
                // A non-string key is an unknown key too (msgpackr, the 4.x server's decoder, reads past
                // it): skip the key and its value.
                if (!reader.TrySkip() || !reader.TrySkip())
                {
                    return IntroductionFrame.Malformed;
                }

                continue;
            }

            if (key.SequenceEqual("type"u8))
            {
                if (kind != MessageKind.Absent || !reader.TryReadStringBytes(out var type))
                {
                    return IntroductionFrame.Malformed;
                }

                kind = ClassifyType(type);
            }
            else if (key.SequenceEqual("documentIds"u8))
            {
                if (sawDocuments || !reader.TryReadArrayHeader(out var count))
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
                    if (!reader.TryReadStringBytes(out var id) || !Utf8.IsValid(id))
                    {
                        return IntroductionFrame.Malformed;
                    }

                    documents.Add(Encoding.UTF8.GetString(id));
                }
            }
            else if (!reader.TrySkip())
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

    /// <summary>Encodes <c>{type:"Introduction", peerId, documentIds}</c> into a pooled buffer.</summary>
    public static OutboundMessage WriteIntroduction(string peerId, IReadOnlyList<string> documentIds)
    {
        var size = 1
            + MessagePackWriter.GetStringSize("type"u8.Length)
            + MessagePackWriter.GetStringSize("Introduction"u8.Length)
            + MessagePackWriter.GetStringSize("peerId"u8.Length)
            + MessagePackWriter.GetStringSize(Encoding.UTF8.GetByteCount(peerId))
            + MessagePackWriter.GetStringSize("documentIds"u8.Length)
            + MessagePackWriter.GetHeaderSize(documentIds.Count);
        for (var i = 0; i < documentIds.Count; i++)
        {
            size += MessagePackWriter.GetStringSize(Encoding.UTF8.GetByteCount(documentIds[i]));
        }

        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(3);
        writer.WriteString("type"u8);
        writer.WriteString("Introduction"u8);
        writer.WriteString("peerId"u8);
        writer.WriteString(peerId);
        writer.WriteString("documentIds"u8);
        writer.WriteArrayHeader(documentIds.Count);
        for (var i = 0; i < documentIds.Count; i++)
        {
            writer.WriteString(documentIds[i]);
        }

        return new OutboundMessage(buffer, writer.Written, WebSocketMessageType.Binary);
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
