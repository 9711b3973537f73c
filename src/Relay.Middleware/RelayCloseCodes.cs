namespace Relay;

/// <summary>
/// WebSocket close codes the relay sends. Codes a peer sends to its partner are passed on unchanged;
/// these are the relay's own.
/// </summary>
public static class RelayCloseCodes
{
    /// <summary>1000: the partner closed normally (passed on) or the exchange is over.</summary>
    public const int NormalClosure = 1000;

    /// <summary>1001: the gateway is shutting down, or the partner went away without a close frame.</summary>
    public const int GoingAway = 1001;

    /// <summary>
    /// 4000: targeted signaling's own close, as the Go signal server sends it; the reason says why:
    /// <c>UNAUTHENTICATED</c> (no valid session cookie), <c>ALREADY_EXISTS</c> (the user already has a connected
    /// session), <c>KICKED</c> (an admin kicked the active users).
    /// </summary>
    public const int TargetedSignaling = 4000;
    /// <summary>4001: sigver: the key (the path after the mount) is empty or longer than 512 characters.</summary>
    public const int SigverInvalidKey = 4001;

    /// <summary>4002: sigver: no heartbeat from the peer for three heartbeat intervals.</summary>
    public const int SigverHeartbeatTimeout = 4002;

    /// <summary>4003: sigver: a frame that is not a well-formed sigver message (text, empty, undecodable, or content of no type).</summary>
    public const int SigverBadMessage = 4003;

    /// <summary>4004: sigver: this lone member was replaced by a joiner that had already tried it.</summary>
    public const int SigverBlockingMember = 4004;

    /// <summary>4400: bad request, such as an invalid peer or document id.</summary>
    public const int BadRequest = 4400;

    /// <summary>4403: forbidden: a Join named a document the peer's identity may not join (nothing of it is applied).</summary>
    public const int Forbidden = 4403;

    /// <summary>4408: timed out: no partner within the pending timeout, an idle peer, a stalled reader, or the pairing's duration limit.</summary>
    public const int Timeout = 4408;

    /// <summary>4409: replaced by a newer session with the same peer id, or a newer request for the same pairing.</summary>
    public const int Replaced = 4409;

    /// <summary>4413: a message (introduction, piped or targeted), a Join, or the frames held for an absent partner exceeded the configured size.</summary>
    public const int MessageTooBig = 4413;

    /// <summary>4429: over a limit: documents per peer, peers per document, queued introductions or targeted messages, or bytes per pairing.</summary>
    public const int OverLimit = 4429;
}
