using System.Net.WebSockets;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// Two halves piped together. Tracks what the pairing-wide limits need (bytes, age) and, when the relay
/// ends a pairing itself, the close code both halves get.
/// </summary>
internal sealed class Pairing(ConnectionHalf first, ConnectionHalf second, long startedAt, PairingBroker broker, RelayMetrics metrics)
{
    private long _bytes;
    private int _liveHalves = 2;
    private int _ending;

    public ConnectionHalf First { get; } = first;

    public ConnectionHalf Second { get; } = second;

    public long StartedAt { get; } = startedAt;

    /// <summary>Set when the relay, not a peer, ends the pairing: both halves get this close code.</summary>
    public (WebSocketCloseStatus Status, string? Reason)? RelayEnd { get; private set; }

    public ConnectionHalf PartnerOf(ConnectionHalf half) => ReferenceEquals(half, First) ? Second : First;

    /// <summary>Adds relayed bytes; returns the pairing's running total.</summary>
    public long AddBytes(int count) => Interlocked.Add(ref _bytes, count);

    /// <summary>
    /// Ends the pairing on the relay's initiative: both halves are sent a close frame with
    /// <paramref name="code"/>. A half whose reader is stuck gets aborted instead by the stall check.
    /// </summary>
    public void End(int code, string reason, RejectionReason rejectionReason)
    {
        if (Interlocked.Exchange(ref _ending, 1) != 0)
        {
            return;
        }

        metrics.Rejected(rejectionReason);
        RelayEnd = ((WebSocketCloseStatus)code, reason);
        _ = First.SendCloseAsync((WebSocketCloseStatus)code, reason);
        _ = Second.SendCloseAsync((WebSocketCloseStatus)code, reason);
    }

    /// <summary>Called by each half's handler as it finishes; the pairing is over when both have.</summary>
    public void HalfFinished()
    {
        if (Interlocked.Decrement(ref _liveHalves) == 0)
        {
            broker.PairingEnded();
        }
    }
}
