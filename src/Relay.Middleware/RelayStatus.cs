using Relay.Connection;
using Relay.Introduction;

namespace Relay;

/// <summary>
/// Live counts of the relay, for status pages and health checks (resolve it from the services after
/// <c>AddRelay</c>). The same values are exported as the relay's level metrics.
/// </summary>
public interface IRelayStatus
{
    /// <summary>The counts at this moment; each is read on its own, so they may be a moment apart.</summary>
    RelayStatusSnapshot GetSnapshot();
}

/// <summary>Live counts of the relay.</summary>
/// <param name="Peers">Peers connected to an introduction endpoint.</param>
/// <param name="Documents">Documents at least one connected peer has joined.</param>
/// <param name="PendingConnections">Connection requests waiting for their partner.</param>
/// <param name="ActivePairings">Pairs of connection sockets piped together.</param>
/// <param name="HeldBytes">Bytes waiting connection requests have sent that wait for their partner.</param>
public readonly record struct RelayStatusSnapshot(int Peers, int Documents, int PendingConnections, int ActivePairings, long HeldBytes);

/// <summary>Reads the counts from their owners: the peer registry and the pairing broker.</summary>
internal sealed class RelayStatus(PeerRegistry peers, PairingBroker pairings) : IRelayStatus
{
    public RelayStatusSnapshot GetSnapshot() =>
        new(peers.PeerCount, peers.DocumentCount, pairings.PendingCount, pairings.ActivePairings, pairings.HeldBytes);
}
