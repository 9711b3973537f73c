using System.Buffers;
using MessagePack;

namespace Relay.Bench.Load;

/// <summary>
/// The few MessagePack messages of the introduction channel, with MessagePack-CSharp: the load generator
/// writes <c>{type:"Join", documentIds:[id]}</c> and reads <c>{type:"Introduction", peerId, documentIds}</c>,
/// accepting every map, string and array width.
/// </summary>
internal static class IntroductionMessages
{
    public static byte[] Join(string documentId)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.WriteMapHeader(2);
        writer.WriteString("type"u8);
        writer.WriteString("Join"u8);
        writer.WriteString("documentIds"u8);
        writer.WriteArrayHeader(1);
        writer.Write(documentId);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads an Introduction; true when it is exactly <c>{type:"Introduction", peerId:<paramref name="peerId"/>,
    /// documentIds:[<paramref name="documentId"/>]}</c> and nothing else.
    /// </summary>
    public static bool IsIntroduction(ReadOnlyMemory<byte> message, ReadOnlySpan<byte> peerId, ReadOnlySpan<byte> documentId)
    {
        try
        {
            var reader = new MessagePackReader(message);
            var entries = reader.ReadMapHeader();
            bool type = false, peer = false, documents = false;
            for (var i = 0; i < entries; i++)
            {
                var key = String(ref reader);
                if (key.SequenceEqual("type"u8))
                {
                    type = String(ref reader).SequenceEqual("Introduction"u8);
                }
                else if (key.SequenceEqual("peerId"u8))
                {
                    peer = String(ref reader).SequenceEqual(peerId);
                }
                else if (key.SequenceEqual("documentIds"u8))
                {
                    documents = reader.ReadArrayHeader() == 1 && String(ref reader).SequenceEqual(documentId);
                }
                else
                {
                    return false;
                }
            }

            return type && peer && documents && reader.End;
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException)
        {
            return false;
        }
    }

    private static ReadOnlySpan<byte> String(ref MessagePackReader reader) =>
        reader.TryReadStringSpan(out var value) ? value : throw new MessagePackSerializationException("Not a contiguous string.");
}
