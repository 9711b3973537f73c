namespace Relay;

/// <summary>Event ids of every relay log message, in one table.</summary>
internal static class RelayEventIds
{
    // Requests and admission (1xx)
    public const int RequestRefused = 100;
    public const int AdmissionRefused = 101;

    // Introduction (2xx)
    public const int PeerConnected = 200;
    public const int PeerDisconnected = 201;
    public const int PeerReplaced = 202;
    public const int MalformedMessage = 203;
    public const int IgnoredMessage = 204;
    public const int PeerClosedByRelay = 205;
    public const int PeerSocketFailed = 206;
    public const int PeerSendFailed = 207;

    // Connection (3xx)
    public const int ConnectionPending = 300;
    public const int ConnectionPaired = 301;
    public const int ConnectionReplaced = 302;
    public const int PairingEnded = 303;
    public const int ConnectionClosedByRelay = 304;
    public const int ConnectionSocketFailed = 305;
    public const int ConnectionAbandoned = 306;
    public const int PairingClosedByRelay = 307;

    // Lifetime and configuration (4xx)
    public const int Draining = 400;
    public const int DrainTimedOut = 401;

    // Sigver (5xx)
    public const int SigverPeerConnected = 500;
    public const int SigverPeerDisconnected = 501;
    public const int SigverClosedByRelay = 502;
    public const int SigverSocketFailed = 503;
    public const int SigverSendFailed = 504;

    // Rooms (6xx)
    public const int RoomSocketConnected = 600;
    public const int RoomSocketDisconnected = 601;
    public const int RoomUserReplaced = 602;
    public const int BadRoomPacket = 603;
    public const int RoomSocketClosedByRelay = 604;
    public const int RoomSocketFailed = 605;
    public const int RoomSendFailed = 606;
    // Targeted signaling (7xx)
    public const int TargetedRegistered = 700;
    public const int TargetedRegisterRefused = 701;
    public const int TargetedConnected = 702;
    public const int TargetedDisconnected = 703;
    public const int TargetedClosedByRelay = 704;
    public const int TargetedMalformedMessage = 705;
    public const int TargetedKicked = 706;
    public const int TargetedAdminRefused = 707;
    public const int TargetedSocketFailed = 708;
    public const int TargetedSendFailed = 709;
    public const int TargetedUserUnknown = 710;

    // Cluster (8xx)
    public const int ClusterRedisLost = 800;
    public const int ClusterRedisRestored = 801;
    public const int ClusterOperationFailed = 802;
    public const int ClusterStarted = 803;
    public const int ClusterResynced = 804;
    public const int ClusterReaped = 805;
    public const int ClusterPeerReplaced = 806;
    public const int ClusterLeaseFailed = 807;
    public const int ClusterBadMessage = 808;
    public const int ClusterAnswerFailed = 809;
    public const int ClusterResyncFailed = 810;

    // Cluster pairings (85x)
    public const int ClusterNoInternalUrl = 850;
    public const int ClusterMembersFailed = 851;
    public const int ClusterForwardRefused = 852;
    public const int ClusterForwardTakenOver = 853;
    public const int ClusterForwardLost = 854;
    public const int ClusterLiveNodes = 855;
    public const int ClusterForwarding = 856;
    public const int ClusterNoInternalUrlHere = 857;

    // Cluster rooms (86x)
    public const int ClusterRoomReplaced = 860;
    public const int ClusterRoomsResynced = 861;
    public const int ClusterRoomBadMessage = 862;
    public const int ClusterTargetedKicked = 863;
    public const int ClusterTargetedBadMessage = 864;
    public const int ClusterTargetedResynced = 865;
}
