namespace Relay.Telemetry;

/// <summary>Values of the <c>error.type</c> tag on <c>relay.rejected_connections</c>.</summary>
internal static class RejectionReasons
{
    public const string NotWebSocket = "not_websocket";
    public const string InvalidId = "invalid_id";
    public const string ShuttingDown = "shutting_down";
    public const string Replaced = "replaced";
    public const string MessageTooBig = "message_too_big";
    public const string TooManyDocuments = "too_many_documents";
    public const string DocumentFull = "document_full";
    public const string QueueFull = "queue_full";
    public const string IdleTimeout = "idle_timeout";
    public const string PendingTimeout = "pending_timeout";
    public const string HeldTooMuch = "held_limit";
    public const string StalledReader = "stalled_reader";
    public const string PairingLimit = "pairing_limit";
    public const string OverLimit = "over_limit";

    /// <summary>Every value above (a test keeps this list complete).</summary>
    public static readonly string[] All =
    [
        NotWebSocket, InvalidId, ShuttingDown, Replaced, MessageTooBig, TooManyDocuments, DocumentFull,
        QueueFull, IdleTimeout, PendingTimeout, HeldTooMuch, StalledReader, PairingLimit, OverLimit,
    ];
}

/// <summary>Values of the <c>error.type</c> tag on <c>relay.protocol_errors</c>.</summary>
internal static class ProtocolErrorReasons
{
    public const string Malformed = "malformed";
    public const string UnknownType = "unknown_type";

    /// <summary>Every value above (a test keeps this list complete).</summary>
    public static readonly string[] All = [Malformed, UnknownType];
}
