using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Relay.Protocol;

namespace Relay.Targeted;

/// <summary>A client message, <c>{target, type, payload}</c>: the payload is where it lies in the message, never decoded.</summary>
internal readonly ref struct SignalMessage(string target, string type, ReadOnlySpan<byte> payload)
{
    public string Target { get; } = target;

    public string Type { get; } = type;

    /// <summary>The payload value exactly as sent (any JSON value), or <c>null</c> when absent.</summary>
    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>
/// The Go signal server's message format, in text (or binary) frames of JSON. Clients send
/// <c>{target, type, payload}</c>; the target receives <c>{originator, target, type, payload}</c> with the
/// payload's bytes copied as sent; an unknown target gets the sender
/// <c>{"target":"","type":"TARGET_NOT_FOUND","payload":null}</c>. As Go's decoder does, property names match
/// whatever their case, unknown properties are skipped, a missing or null <c>target</c>/<c>type</c> is empty
/// and a missing payload is <c>null</c>.
/// </summary>
internal static class TargetedMessages
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    private static ReadOnlySpan<byte> Null => "null"u8;

    private static ReadOnlySpan<byte> TargetNotFoundJson => """{"target":"","type":"TARGET_NOT_FOUND","payload":null}"""u8;

    /// <summary>Parses one complete message; false if it is not a JSON object of that shape.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out SignalMessage message)
    {
        message = default;
        try
        {
            return TryParseCore(json, out message);
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader reports invalid UTF-8 inside a string as InvalidOperationException from GetString.
            return false;
        }
    }

    private static bool TryParseCore(ReadOnlySpan<byte> json, out SignalMessage message)
    {
        message = default;
        var reader = new Utf8JsonReader(json, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        string target = "", type = "";
        var payload = Null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = Name(ref reader);
            if (!reader.Read())
            {
                return false;
            }

            switch (name)
            {
                case Property.Target or Property.Type:
                    if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                    {
                        return false;
                    }

                    var value = reader.TokenType == JsonTokenType.Null ? "" : reader.GetString()!;
                    if (name == Property.Target)
                    {
                        target = value;
                    }
                    else
                    {
                        type = value;
                    }

                    break;
                case Property.Payload:
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    payload = json[start..(int)reader.BytesConsumed];
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            return false;
        }

        message = new SignalMessage(target, type, payload);
        return true;
    }

    private enum Property
    {
        Other,
        Target,
        Type,
        Payload,
    }

    /// <summary>Which property the reader is on, by ASCII case-insensitive name (escaped names are decoded first).</summary>
    private static Property Name(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            var decoded = reader.GetString()!;
            return Classify(Encoding.UTF8.GetBytes(decoded));
        }

        return Classify(reader.ValueSpan);
    }

    private static Property Classify(ReadOnlySpan<byte> name) =>
        System.Text.Ascii.EqualsIgnoreCase(name, "target"u8) ? Property.Target
        : System.Text.Ascii.EqualsIgnoreCase(name, "type"u8) ? Property.Type
        : System.Text.Ascii.EqualsIgnoreCase(name, "payload"u8) ? Property.Payload
        : Property.Other;

    /// <summary>Encodes <c>{originator, target, type, payload}</c> into a pooled buffer, the payload copied as sent.</summary>
    public static OutboundMessage WriteForwarded(string originator, in SignalMessage message, ArrayBufferWriter<byte> scratch, ref Utf8JsonWriter? writer)
    {
        scratch.ResetWrittenCount();
        if (writer is null)
        {
            writer = new Utf8JsonWriter(scratch);
        }
        else
        {
            writer.Reset(scratch);
        }

        writer.WriteStartObject();
        writer.WriteString("originator"u8, originator);
        writer.WriteString("target"u8, message.Target);
        writer.WriteString("type"u8, message.Type);
        writer.WritePropertyName("payload"u8);
        // The reader has validated the whole message, the payload with it.
        writer.WriteRawValue(message.Payload, skipInputValidation: true);
        writer.WriteEndObject();
        writer.Flush();
        return Copy(scratch.WrittenSpan);
    }

    /// <summary>The reply to a message whose target is not connected.</summary>
    public static OutboundMessage TargetNotFound() => Copy(TargetNotFoundJson);

    private static OutboundMessage Copy(ReadOnlySpan<byte> json)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(json.Length);
        json.CopyTo(buffer);
        return new OutboundMessage(buffer, json.Length, WebSocketMessageType.Text);
    }
}
