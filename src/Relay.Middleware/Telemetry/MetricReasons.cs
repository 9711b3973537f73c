namespace Relay.Telemetry;

/// <summary>Why the relay refused a request or closed a socket: the <c>error.type</c> tag of <c>relay.rejected_connections</c>.</summary>
internal enum RejectionReason
{
    NotWebSocket,
    InvalidId,
    ShuttingDown,
    Replaced,
    MessageTooBig,
    TooManyDocuments,
    DocumentFull,
    QueueFull,
    IdleTimeout,
    PendingTimeout,
    HeldTooMuch,
    StalledReader,
    PairingLimit,
    OverLimit,
    Unauthenticated,
    Forbidden,
    OriginNotAllowed,
    RoomFull,
    TooManyRooms,
    NotFound,
    AlreadyExists,
    HeartbeatTimeout,
    Malformed,
    GroupFull,
    MemberFull,
    TooManyGroups,
}

/// <summary>Why an introduction message was ignored: the <c>error.type</c> tag of <c>relay.protocol_errors</c>.</summary>
internal enum ProtocolErrorReason
{
    Malformed,
    UnknownType,
}

/// <summary>Why a rooms packet was ignored: the <c>error.type</c> tag of <c>relay.rooms.bad_packets</c>.</summary>
internal enum BadPacketReason
{
    /// <summary>Not JSON (or a duplicate key, or nested too deep).</summary>
    InvalidJson,

    /// <summary>JSON, but not an object with a <c>Header</c> object whose <c>UserId</c> and <c>RoomId</c> are strings.</summary>
    Malformed,

    /// <summary>A Header whose <c>Event</c> is not connect, broadcast, ping or disconnect.</summary>
    UnknownEvent,

    /// <summary>A broadcast, ping or disconnect for a room the socket is not in under that UserId.</summary>
    NotMember,

    /// <summary>A SockJS frame that is not a JSON array of strings.</summary>
    BadFraming,
}

/// <summary>The rooms packet events: the <c>relay.rooms.event</c> tag of <c>relay.rooms.packets</c>.</summary>
internal enum RoomEvent
{
    Connect,
    Broadcast,
    Ping,
    Disconnect,
}

/// <summary>How a connection request's wait ended: the <c>relay.pairing.result</c> tag of <c>relay.pairings</c>.</summary>
internal enum PairingResult
{
    Paired,
    Replaced,
    Expired,
    Abandoned,
}

/// <summary>How a targeted-signaling registration ended: the <c>relay.targeted.result</c> tag of <c>relay.targeted.registrations</c>.</summary>
internal enum TargetedRegistrationResult
{
    Registered,
    Taken,
    Invalid,
    Full,
}

/// <summary>What became of a targeted-signaling message: the <c>relay.targeted.result</c> tag of <c>relay.targeted.messages</c>.</summary>
internal enum TargetedMessageResult
{
    Delivered,
    TargetNotFound,
    Malformed,
}

/// <summary>Why a targeted-signaling socket ended: the <c>relay.targeted.close_reason</c> tag of <c>relay.targeted.closes</c>.</summary>
internal enum TargetedCloseReason
{
    ClientClosed,
    Dropped,
    Unauthenticated,
    AlreadyExists,
    Kicked,
    QueueFull,
    MessageTooBig,
    ShuttingDown,
}

/// <summary>The tag value each reason is exported as (snake_case, stable: dashboards and alerts name them).</summary>
internal static class MetricTags
{
    public static string ToTag(this RejectionReason reason) => reason switch
    {
        RejectionReason.NotWebSocket => "not_websocket",
        RejectionReason.InvalidId => "invalid_id",
        RejectionReason.ShuttingDown => "shutting_down",
        RejectionReason.Replaced => "replaced",
        RejectionReason.MessageTooBig => "message_too_big",
        RejectionReason.TooManyDocuments => "too_many_documents",
        RejectionReason.DocumentFull => "document_full",
        RejectionReason.QueueFull => "queue_full",
        RejectionReason.IdleTimeout => "idle_timeout",
        RejectionReason.PendingTimeout => "pending_timeout",
        RejectionReason.HeldTooMuch => "held_limit",
        RejectionReason.StalledReader => "stalled_reader",
        RejectionReason.PairingLimit => "pairing_limit",
        RejectionReason.OverLimit => "over_limit",
        RejectionReason.Unauthenticated => "unauthenticated",
        RejectionReason.Forbidden => "forbidden",
        RejectionReason.OriginNotAllowed => "origin_not_allowed",
        RejectionReason.RoomFull => "room_full",
        RejectionReason.TooManyRooms => "too_many_rooms",
        RejectionReason.NotFound => "not_found",
        RejectionReason.AlreadyExists => "already_exists",
        RejectionReason.HeartbeatTimeout => "heartbeat_timeout",
        RejectionReason.Malformed => "malformed",
        RejectionReason.GroupFull => "group_full",
        RejectionReason.MemberFull => "member_full",
        RejectionReason.TooManyGroups => "too_many_groups",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static string ToTag(this ProtocolErrorReason reason) => reason switch
    {
        ProtocolErrorReason.Malformed => "malformed",
        ProtocolErrorReason.UnknownType => "unknown_type",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static string ToTag(this BadPacketReason reason) => reason switch
    {
        BadPacketReason.InvalidJson => "invalid_json",
        BadPacketReason.Malformed => "malformed",
        BadPacketReason.UnknownEvent => "unknown_event",
        BadPacketReason.NotMember => "not_member",
        BadPacketReason.BadFraming => "bad_framing",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static string ToTag(this RoomEvent roomEvent) => roomEvent switch
    {
        RoomEvent.Connect => "connect",
        RoomEvent.Broadcast => "broadcast",
        RoomEvent.Ping => "ping",
        RoomEvent.Disconnect => "disconnect",
        _ => throw new ArgumentOutOfRangeException(nameof(roomEvent)),
    };

    public static string ToTag(this PairingResult result) => result switch
    {
        PairingResult.Paired => "paired",
        PairingResult.Replaced => "replaced",
        PairingResult.Expired => "expired",
        PairingResult.Abandoned => "abandoned",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    public static string ToTag(this TargetedRegistrationResult result) => result switch
    {
        TargetedRegistrationResult.Registered => "registered",
        TargetedRegistrationResult.Taken => "taken",
        TargetedRegistrationResult.Invalid => "invalid",
        TargetedRegistrationResult.Full => "full",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    public static string ToTag(this TargetedMessageResult result) => result switch
    {
        TargetedMessageResult.Delivered => "delivered",
        TargetedMessageResult.TargetNotFound => "target_not_found",
        TargetedMessageResult.Malformed => "malformed",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    public static string ToTag(this TargetedCloseReason reason) => reason switch
    {
        TargetedCloseReason.ClientClosed => "client_closed",
        TargetedCloseReason.Dropped => "dropped",
        TargetedCloseReason.Unauthenticated => "unauthenticated",
        TargetedCloseReason.AlreadyExists => "already_exists",
        TargetedCloseReason.Kicked => "kicked",
        TargetedCloseReason.QueueFull => "queue_full",
        TargetedCloseReason.MessageTooBig => "message_too_big",
        TargetedCloseReason.ShuttingDown => "shutting_down",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };
}
