using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>How the first request's wait for its partner ended. Decided once, by whoever took the request out of the broker.</summary>
internal enum WaitEndReason
{
    /// <summary>The reciprocal request arrived: the pairing goes on.</summary>
    Paired,

    /// <summary>A newer request with the same key took its place (4409).</summary>
    Replaced,

    /// <summary>No partner within the pending timeout (4408).</summary>
    PendingTimeout,

    /// <summary>The waiting peer closed or failed.</summary>
    Abandoned,

    /// <summary>The waiting peer sent more than may be held for its partner (4413).</summary>
    HeldTooMuch,

    /// <summary>The gateway is shutting down (1001).</summary>
    ShuttingDown,
}

/// <summary>Why a live pairing ended: the first thing that ended it wins; what follows is its consequence.</summary>
internal enum PairingEndReason
{
    /// <summary>A peer sent its close frame, which is passed on.</summary>
    PeerClosed,

    /// <summary>A peer's socket failed without a close frame; its partner gets 1001.</summary>
    PeerFailed,

    /// <summary>A message over the size limit (4413 to both).</summary>
    MessageTooBig,

    /// <summary>More bytes than one pairing may relay (4429 to both).</summary>
    PairingLimit,

    /// <summary>The pairing lasted its maximum duration (4408 to both).</summary>
    MaxDuration,

    /// <summary>A peer stopped reading while its partner wrote (4408 to the writer; the reader is aborted).</summary>
    StalledReader,

    /// <summary>The gateway is shutting down (1001 to both).</summary>
    ShuttingDown,
}

/// <summary>The metric tags each end reason is counted under.</summary>
internal static class EndReasons
{
    public static PairingResult ToResult(this WaitEndReason reason) => reason switch
    {
        WaitEndReason.Paired => PairingResult.Paired,
        WaitEndReason.Replaced => PairingResult.Replaced,
        WaitEndReason.PendingTimeout => PairingResult.Expired,
        _ => PairingResult.Abandoned,
    };

    /// <summary>The refusal a wait's end counts as, if the relay ended it.</summary>
    public static RejectionReason? ToRejection(this WaitEndReason reason) => reason switch
    {
        WaitEndReason.Replaced => RejectionReason.Replaced,
        WaitEndReason.PendingTimeout => RejectionReason.PendingTimeout,
        WaitEndReason.HeldTooMuch => RejectionReason.HeldTooMuch,
        WaitEndReason.ShuttingDown => RejectionReason.ShuttingDown,
        _ => null,
    };

    /// <summary>
    /// The refusal a pairing's end counts as, if a limit ended it. A served pairing closed for shutdown is
    /// not a refusal (the README's close-code table says so).
    /// </summary>
    public static RejectionReason? ToRejection(this PairingEndReason reason) => reason switch
    {
        PairingEndReason.MessageTooBig => RejectionReason.MessageTooBig,
        PairingEndReason.PairingLimit or PairingEndReason.MaxDuration => RejectionReason.PairingLimit,
        PairingEndReason.StalledReader => RejectionReason.StalledReader,
        _ => null,
    };

    /// <summary>True when the relay, not a peer, ended the pairing: then both halves get the relay's close code.</summary>
    public static bool IsByRelay(this PairingEndReason reason) => reason is not (PairingEndReason.PeerClosed or PairingEndReason.PeerFailed);
}
