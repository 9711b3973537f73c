using Relay.Connection;
using Relay.Introduction;
using Relay.Rooms;
using Relay.Sigver;
using Relay.Targeted;

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

/// <summary>Live counts of the relay, on this gateway.</summary>
/// <param name="Peers">Peers connected to an introduction endpoint.</param>
/// <param name="Documents">Documents at least one connected peer has joined.</param>
/// <param name="PendingConnections">Connection requests waiting for their partner.</param>
/// <param name="ActivePairings">Pairs of connection sockets piped together.</param>
/// <param name="HeldBytes">Bytes waiting connection requests have sent that wait for their partner.</param>
/// <param name="Rooms">Rooms (videre) with at least one user.</param>
/// <param name="RoomUsers">Users in a room, all rooms together.</param>
/// <param name="TargetedUsers">Usernames registered for targeted signaling.</param>
/// <param name="TargetedSessions">Targeted-signaling users connected now.</param>
/// <param name="SigverPeers">Netflux (sigver) peers connected.</param>
/// <param name="SigverGroups">Netflux keys with at least one member.</param>
public readonly record struct RelayStatusSnapshot(
    int Peers,
    int Documents,
    int PendingConnections,
    int ActivePairings,
    long HeldBytes,
    int Rooms = 0,
    int RoomUsers = 0,
    int TargetedUsers = 0,
    int TargetedSessions = 0,
    int SigverPeers = 0,
    int SigverGroups = 0);

/// <summary>Reads the counts from their owners: the peer registry, the pairing broker and each protocol's registry.</summary>
internal sealed class RelayStatus(PeerRegistry peers, PairingBroker pairings, IRoomRegistry rooms, ITargetedRegistry targeted, ISigverGroups sigver) : IRelayStatus
{
    public RelayStatusSnapshot GetSnapshot() =>
        new(peers.PeerCount, peers.DocumentCount, pairings.PendingCount, pairings.ActivePairings, pairings.HeldBytes,
            rooms.RoomCount, rooms.UserCount, targeted.RegisteredCount, targeted.ActiveCount, sigver.PeerCount, sigver.GroupCount);
}
