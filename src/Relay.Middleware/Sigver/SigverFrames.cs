using System.Buffers;
using System.Net.WebSockets;
using Google.Protobuf;
using Relay.Protocol;
using Relay.Sigver.Protocol;

namespace Relay.Sigver;

/// <summary>The frames the relay sends, encoded by the generated sigver classes into pooled buffers.</summary>
internal static class SigverFrames
{
    /// <summary><c>{isFirst: true}</c>: bytes <c>10 01</c>.</summary>
    public static readonly byte[] IsFirstTrue = new Message { IsFirst = true }.ToByteArray();

    /// <summary><c>{isFirst: false}</c>: bytes <c>10 00</c> (the oneof field is present with its default value).</summary>
    public static readonly byte[] IsFirstFalse = new Message { IsFirst = false }.ToByteArray();

    /// <summary><c>{heartbeat: true}</c>: bytes <c>20 01</c>.</summary>
    public static readonly byte[] Heartbeat = new Message { Heartbeat = true }.ToByteArray();

    /// <summary>A fixed frame, copied into a pooled buffer so every queued frame is released the same way.</summary>
    public static OutboundMessage Fixed(byte[] frame)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(buffer, 0);
        return new OutboundMessage(buffer, frame.Length, WebSocketMessageType.Binary);
    }

    /// <summary>
    /// <c>{content: {id, &lt;type of <paramref name="source"/>&gt;}}</c>, written through <paramref name="scratch"/>
    /// (a message its owner reuses). An <c>isError</c> or <c>isEnd</c> is always sent as true: the original acts on
    /// the field's presence, whatever its value.
    /// </summary>
    public static OutboundMessage ContentFrame(Message scratch, uint id, Content source)
    {
        var content = scratch.Content ??= new Content();
        content.Id = id;
        switch (source.TypeCase)
        {
            case Protocol.Content.TypeOneofCase.Data:
                content.Data = source.Data;
                break;
            case Protocol.Content.TypeOneofCase.IsError:
                content.IsError = true;
                break;
            default:
                content.IsEnd = true;
                break;
        }

        var frame = Encode(scratch);
        content.ClearType();
        return frame;
    }

    /// <summary><c>{content: {id, isError: true}}</c>.</summary>
    public static OutboundMessage ErrorFrame(Message scratch, uint id)
    {
        var content = scratch.Content ??= new Content();
        content.Id = id;
        content.IsError = true;
        var frame = Encode(scratch);
        content.ClearType();
        return frame;
    }

    private static OutboundMessage Encode(Message message)
    {
        var length = message.CalculateSize();
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        message.WriteTo(buffer.AsSpan(0, length));
        return new OutboundMessage(buffer, length, WebSocketMessageType.Binary);
    }
}

/// <summary>The close codes the relay sends on sigver sockets, each a series of <c>relay.sigver.closes</c>.</summary>
internal static class SigverCloseCodes
{
    public static readonly int[] All =
    [
        RelayCloseCodes.GoingAway,
        RelayCloseCodes.SigverInvalidKey,
        RelayCloseCodes.SigverHeartbeatTimeout,
        RelayCloseCodes.SigverBadMessage,
        RelayCloseCodes.SigverBlockingMember,
        RelayCloseCodes.MessageTooBig,
        RelayCloseCodes.OverLimit,
    ];

    private static readonly string[] Tags = Array.ConvertAll(All, static code => code.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static string Tag(int code) => Tags[Array.IndexOf(All, code)];
}
