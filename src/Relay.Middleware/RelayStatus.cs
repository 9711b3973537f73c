using Relay.Connection;
using Relay.Introduction;

namespace Relay;

/// <summary>Live counts for status pages and tests.</summary>
internal sealed class RelayStatus(PeerRegistry peers, PairingBroker pairings)
{
    public RelayStatusSnapshot Snapshot() =>
        new(peers.PeerCount, peers.DocumentCount, pairings.PendingCount, pairings.ActivePairings, pairings.HeldBytes);
}

internal readonly record struct RelayStatusSnapshot(int Peers, int Documents, int PendingConnections, int ActivePairings, long HeldBytes);
