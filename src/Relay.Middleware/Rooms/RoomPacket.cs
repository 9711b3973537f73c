using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Relay.Telemetry;

namespace Relay.Rooms;

/// <summary>
/// One videre packet, <c>{Header:{Event, UserId, RoomId}, Payload}</c>, parsed from a text message. The
/// parsed document is kept so the packet can be written back whole (extra fields, an object Payload),
/// with only its Payload replaced where the protocol says so. It reads the message's buffer: dispose it
/// before the buffer is reused.
/// </summary>
internal sealed class RoomPacket : IDisposable
{
    // Duplicate keys are refused: JSON.parse keeps the last one and a reader of the relayed packet might
    // keep the first, so a packet could mean one room to the relay and another to its recipients.
    private static readonly JsonDocumentOptions ReadOptions = new() { MaxDepth = 64, AllowDuplicateProperties = false };

    private readonly JsonDocument _document;

    private RoomPacket(JsonDocument document, RoomEvent roomEvent, string userId, string roomId)
    {
        _document = document;
        Event = roomEvent;
        UserId = userId;
        RoomId = roomId;
    }

    public RoomEvent Event { get; }

    public string UserId { get; }

    public string RoomId { get; }

    /// <summary>Parses a packet, or says why it is not one.</summary>
    public static RoomPacket? Parse(ReadOnlyMemory<byte> json, out BadPacketReason reason)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, ReadOptions);
        }
        catch (JsonException)
        {
            reason = BadPacketReason.InvalidJson;
            return null;
        }

        try
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("Header"u8, out var header)
                || header.ValueKind != JsonValueKind.Object)
            {
                reason = BadPacketReason.Malformed;
            }
            else if (!TryGetEvent(header, out var roomEvent))
            {
                reason = BadPacketReason.UnknownEvent;
            }
            else if (GetString(header, "UserId"u8) is not { } userId || GetString(header, "RoomId"u8) is not { } roomId)
            {
                reason = BadPacketReason.Malformed;
            }
            else
            {
                reason = default;
                return new RoomPacket(document, roomEvent, userId, roomId);
            }
        }
        catch (InvalidOperationException)
        {
            // A string that is not valid UTF-16 once unescaped (a lone surrogate).
            reason = BadPacketReason.InvalidJson;
        }

        document.Dispose();
        return null;
    }

    /// <summary>
    /// Writes the packet back whole, as <c>JSON.stringify</c> would, with its Payload replaced by the
    /// string <paramref name="payload"/> when one is given (added last if the packet had none). Null if
    /// the packet cannot be written (a string that is not valid UTF-16).
    /// </summary>
    public byte[]? Write(PacketWriter writer, string? payload)
    {
        try
        {
            var json = writer.Begin();
            json.WriteStartObject();
            var replaced = false;
            foreach (var property in _document.RootElement.EnumerateObject())
            {
                if (payload is not null && property.NameEquals("Payload"u8))
                {
                    json.WriteString("Payload"u8, payload);
                    replaced = true;
                }
                else
                {
                    property.WriteTo(json);
                }
            }

            if (payload is not null && !replaced)
            {
                json.WriteString("Payload"u8, payload);
            }

            json.WriteEndObject();
            return writer.ToArray();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }

    public void Dispose() => _document.Dispose();

    private static bool TryGetEvent(JsonElement header, out RoomEvent roomEvent)
    {
        roomEvent = default;
        if (!header.TryGetProperty("Event"u8, out var value) || value.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        if (value.ValueEquals("connect"u8))
        {
            roomEvent = RoomEvent.Connect;
        }
        else if (value.ValueEquals("broadcast"u8))
        {
            roomEvent = RoomEvent.Broadcast;
        }
        else if (value.ValueEquals("ping"u8))
        {
            roomEvent = RoomEvent.Ping;
        }
        else if (value.ValueEquals("disconnect"u8))
        {
            roomEvent = RoomEvent.Disconnect;
        }
        else
        {
            return false;
        }

        return true;
    }

    private static string? GetString(JsonElement header, ReadOnlySpan<byte> name) =>
        header.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>
/// Writes the relay's own packets and the SockJS frames around them, into one reused buffer per socket
/// (its receive loop writes one packet at a time). Strings are escaped as <c>JSON.stringify</c> does,
/// not as HTML-safe JSON.
/// </summary>
internal sealed class PacketWriter : IDisposable
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    public PacketWriter() => _json = new Utf8JsonWriter(_buffer, Options);

    /// <summary>The SockJS open frame.</summary>
    public static byte[] SockJsOpen { get; } = "o"u8.ToArray();

    /// <summary>The SockJS heartbeat frame.</summary>
    public static byte[] SockJsHeartbeat { get; } = "h"u8.ToArray();

    /// <summary>Starts a new output, optionally after a SockJS frame letter, and returns the writer for its JSON.</summary>
    public Utf8JsonWriter Begin(byte frameLetter = 0)
    {
        _buffer.ResetWrittenCount();
        if (frameLetter != 0)
        {
            _buffer.GetSpan(1)[0] = frameLetter;
            _buffer.Advance(1);
        }

        _json.Reset(_buffer);
        return _json;
    }

    public void Dispose() => _json.Dispose();

    public byte[] ToArray()
    {
        _json.Flush();
        return _buffer.WrittenSpan.ToArray();
    }

    /// <summary>The packet the room gets when a user leaves: <c>{Header:{Event:"disconnect",UserId,RoomId},Payload:""}</c>.</summary>
    public byte[] Disconnect(string userId, string roomId)
    {
        var json = Begin();
        json.WriteStartObject();
        json.WriteStartObject("Header"u8);
        json.WriteString("Event"u8, "disconnect"u8);
        json.WriteString("UserId"u8, userId);
        json.WriteString("RoomId"u8, roomId);
        json.WriteEndObject();
        json.WriteString("Payload"u8, ""u8);
        json.WriteEndObject();
        return ToArray();
    }

    /// <summary>A ping answer's Payload: the user ids as a JSON array, in a string (<c>JSON.stringify(userIds)</c>).</summary>
    public string UserIdList(List<string> userIds)
    {
        var json = Begin();
        json.WriteStartArray();
        foreach (var userId in userIds)
        {
            json.WriteStringValue(userId);
        }

        json.WriteEndArray();
        json.Flush();
        return System.Text.Encoding.UTF8.GetString(_buffer.WrittenSpan);
    }

    /// <summary>A SockJS message frame carrying one packet: <c>a["&lt;packet as a JSON string&gt;"]</c>.</summary>
    public byte[] SockJsMessage(byte[] packet)
    {
        var json = Begin((byte)'a');
        json.WriteStartArray();
        json.WriteStringValue(packet);
        json.WriteEndArray();
        return ToArray();
    }

    /// <summary>A SockJS close frame, <c>c[code,"reason"]</c>. Static: a socket's pump sends it, beside its receive loop.</summary>
    public static byte[] SockJsClose(int code, string reason)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        buffer.GetSpan(1)[0] = (byte)'c';
        buffer.Advance(1);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartArray();
            json.WriteNumberValue(code);
            json.WriteStringValue(reason);
            json.WriteEndArray();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
