using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;

namespace Relay.Protocol;

/// <summary>
/// The two JSON introduction dialects, in text frames. cevitxe-signal-server: objects whose <c>join</c> and
/// <c>leave</c> arrays are acted on whatever their <c>type</c>, answered
/// <c>{"type":"Introduction","id":...,"keys":[...]}</c>. @localfirst/relay 3.x:
/// <c>{"type":"Join"|"Leave","documentIds":[...]}</c>, answered
/// <c>{"type":"Introduction","userName":...,"documentIds":[...]}</c>. A message's arrays tell which
/// (<see cref="IntroductionRequest.JsonDialect"/>); one naming both is acted on whole and is cevitxe's.
/// </summary>
internal static class JsonIntroductionCodec
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    /// <summary>Parses one complete client message into <paramref name="request"/> (cleared first).</summary>
    public static IntroductionFrame Parse(ReadOnlySpan<byte> message, int maxDocuments, IntroductionRequest request)
    {
        request.Clear();
        try
        {
            var result = ParseCore(message, maxDocuments, request);
            if (result is not IntroductionFrame.Membership)
            {
                request.Clear();
            }

            return result;
        }
        catch (JsonException)
        {
            request.Clear();
            return IntroductionFrame.Malformed;
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader reports invalid UTF-8 inside a string as InvalidOperationException from GetString.
            request.Clear();
            return IntroductionFrame.Malformed;
        }
    }

    private static IntroductionFrame ParseCore(ReadOnlySpan<byte> message, int maxDocuments, IntroductionRequest request)
    {
        var reader = new Utf8JsonReader(message, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return IntroductionFrame.Malformed;
        }

        string? type = null;
        List<string>? documentIds = null;
        var sawArrays = false;
        var sawCevitxeArray = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("join"u8) || reader.ValueTextEquals("leave"u8) || reader.ValueTextEquals("documentIds"u8))
            {
                var target = reader.ValueTextEquals("join"u8) ? request.Join
                    : reader.ValueTextEquals("leave"u8) ? request.Leave
                    : documentIds ??= [];
                sawCevitxeArray |= !ReferenceEquals(target, documentIds);
                if (!reader.Read())
                {
                    return IntroductionFrame.Malformed;
                }

                if (reader.TokenType == JsonTokenType.Null)
                {
                    continue;
                }

                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return IntroductionFrame.Malformed;
                }

                sawArrays = true;
                while (reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    if (request.Join.Count + request.Leave.Count + (documentIds?.Count ?? 0) >= maxDocuments)
                    {
                        return IntroductionFrame.TooManyDocuments;
                    }

                    target.Add(reader.GetString()!);
                }

                if (reader.TokenType != JsonTokenType.EndArray)
                {
                    return IntroductionFrame.Malformed;
                }
            }
            else if (reader.ValueTextEquals("type"u8))
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    return IntroductionFrame.Malformed;
                }

                type = reader.GetString();
            }
            else
            {
                // Skip the value of a property the relay does not use, whatever its shape.
                if (!reader.Read())
                {
                    return IntroductionFrame.Malformed;
                }

                reader.Skip();
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            return IntroductionFrame.Malformed;
        }

        if (documentIds is not null)
        {
            switch (type)
            {
                case "Join":
                    request.Join.AddRange(documentIds);
                    break;
                case "Leave":
                    request.Leave.AddRange(documentIds);
                    break;
            }
        }

        if (request.Join.Count > 0 || request.Leave.Count > 0 || (sawArrays && type is "Join" or "Leave"))
        {
            request.JsonDialect = sawCevitxeArray ? IntroductionDialect.CevitxeJson : IntroductionDialect.RelayV3Json;
            return IntroductionFrame.Membership;
        }

        return type is "Heartbeat" or "❤️" ? IntroductionFrame.Heartbeat : IntroductionFrame.UnknownType;
    }

    /// <summary>
    /// Encodes an introduction into a pooled buffer, in the shape of <paramref name="dialect"/>:
    /// <c>{"type":"Introduction","id":...,"keys":[...]}</c> for cevitxe,
    /// <c>{"type":"Introduction","userName":...,"documentIds":[...]}</c> for 3.x.
    /// </summary>
    public static OutboundMessage WriteIntroduction(string peerId, IReadOnlyList<string> documentIds, IntroductionDialect dialect)
    {
        var v3 = dialect == IntroductionDialect.RelayV3Json;
        var output = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "Introduction"u8);
            writer.WriteString(v3 ? "userName"u8 : "id"u8, peerId);
            writer.WriteStartArray(v3 ? "documentIds"u8 : "keys"u8);
            for (var i = 0; i < documentIds.Count; i++)
            {
                writer.WriteStringValue(documentIds[i]);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        var buffer = ArrayPool<byte>.Shared.Rent(output.WrittenCount);
        output.WrittenSpan.CopyTo(buffer);
        return new OutboundMessage(buffer, output.WrittenCount, WebSocketMessageType.Text);
    }
}
