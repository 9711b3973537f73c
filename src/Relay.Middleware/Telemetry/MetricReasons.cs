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
}

/// <summary>Why an introduction message was ignored: the <c>error.type</c> tag of <c>relay.protocol_errors</c>.</summary>
internal enum ProtocolErrorReason
{
    Malformed,
    UnknownType,
}

/// <summary>How a connection request's wait ended: the <c>relay.pairing.result</c> tag of <c>relay.pairings</c>.</summary>
internal enum PairingResult
{
    Paired,
    Replaced,
    Expired,
    Abandoned,
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
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static string ToTag(this ProtocolErrorReason reason) => reason switch
    {
        ProtocolErrorReason.Malformed => "malformed",
        ProtocolErrorReason.UnknownType => "unknown_type",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static string ToTag(this PairingResult result) => result switch
    {
        PairingResult.Paired => "paired",
        PairingResult.Replaced => "replaced",
        PairingResult.Expired => "expired",
        PairingResult.Abandoned => "abandoned",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };
}
