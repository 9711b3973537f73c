namespace Relay;

/// <summary>
/// Relay settings, bound from the <c>Relay</c> configuration section by
/// <c>AddRelay(configuration)</c> and validated at start-up. Sizes are in bytes; a limit of 0
/// (or an empty duration) switches that limit off where the documentation says so.
/// </summary>
public sealed class RelayOptions
{
    /// <summary>The configuration section the gateway binds: <c>Relay</c>.</summary>
    public const string SectionName = "Relay";

    /// <summary>Longest peer or document id accepted, in characters. Default 256.</summary>
    public int MaxIdLength { get; set; } = 256;

    /// <summary>
    /// Optional regular expression every peer and document id must also match in full. Ids never contain
    /// control characters, unpaired surrogates or whitespace, whatever the pattern.
    /// </summary>
    public string? IdPattern { get; set; }

    /// <summary>Interval of server WebSocket pings on every relay socket. Default 15 s; zero turns pings off.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a peer may take to answer a ping before its socket is aborted. Default 15 s; zero sends
    /// unsolicited pongs instead and never aborts.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the relay waits for a peer to answer its close frame before aborting the socket. Default 5 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>On shutdown, how long existing relay sockets get to finish closing (with 1001). Default 10 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Limits of the introduction (discovery) channel.</summary>
    public RelayIntroductionOptions Introduction { get; set; } = new();

    /// <summary>Limits of the connection (pipe) channel.</summary>
    public RelayConnectionOptions Connection { get; set; } = new();

    /// <summary>Limits and the admin key of targeted signaling (the Go signal server's protocol).</summary>
    public RelayTargetedOptions Targeted { get; set; } = new();
    /// <summary>Limits of the sigver (Netflux signaling) endpoint.</summary>
    public RelaySigverOptions Sigver { get; set; } = new();

    /// <summary>
    /// Caps on relay sockets, enforced by the ASP.NET Core rate limiter policy named
    /// <see cref="RelayAdmissionOptions.PolicyName"/> (put it on relay routes with YARP's
    /// <c>RateLimiterPolicy</c>, or <c>RequireRateLimiting</c> on <c>MapRelay</c>).
    /// </summary>
    public RelayAdmissionOptions Admission { get; set; } = new();

    /// <summary>
    /// Who a relay peer is and which documents it may reach, from the authenticated user (see the README,
    /// "Securing the relay"). Unset: the relay is open, as without a gateway.
    /// </summary>
    public RelayIdentityOptions Identity { get; set; } = new();

    /// <summary>
    /// Origins (<c>https://app.example.com</c>) whose browsers may open relay sockets; a handshake whose
    /// <c>Origin</c> header names any other is refused with 403, which closes cross-site WebSocket
    /// hijacking. Requests without an <c>Origin</c> header (servers, native apps) are not browsers and pass.
    /// Empty (default): any origin.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Limits of the rooms channel (the videre-server protocol, role <c>Rooms</c>).</summary>
    public RelayRoomsOptions Rooms { get; set; } = new();

    /// <summary>
    /// Several gateway nodes acting as one relay through Redis. Unset <see cref="RelayClusterOptions.Redis"/>
    /// (default): a single node, and no Redis is ever contacted.
    /// </summary>
    public RelayClusterOptions Cluster { get; set; } = new();
}

/// <summary>Several gateway nodes sharing introductions through Redis (see the README, "Running several gateways").</summary>
public sealed class RelayClusterOptions
{
    /// <summary>
    /// A StackExchange.Redis configuration string (<c>redis.internal:6379,password=...</c>). Unset (default):
    /// this gateway is a single node, exactly as without this section.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>
    /// The address other nodes reach this node at (<c>http://10.0.0.5:8081</c>, best a private listener), published
    /// with its lease: a pairing half that reaches another node is forwarded here. Unset: the first address the
    /// server listens on, if it names a host (not a wildcard such as <c>0.0.0.0</c>).
    /// </summary>
    public string? InternalUrl { get; set; }

    /// <summary>
    /// The secret that signs pairing requests one node forwards to another (at least 32 characters), the same on
    /// every node. Unset (default): a random one the first node keeps in Redis, read by every node.
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>How long a node tries to connect to another node it forwards a pairing half to before taking the pairing over. Default 2 s.</summary>
    public TimeSpan ForwardConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the node renews its lease (and reaps expired nodes). Default 1 s.</summary>
    public TimeSpan LeaseInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A node whose lease is this old is dead: its peers are no longer introduced, and its presence is reaped.
    /// At least twice <see cref="LeaseInterval"/>. Default 5 s.
    /// </summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Prefix of every Redis key and channel the relay uses, so several relays can share one Redis. Default <c>relay:</c>.</summary>
    public string KeyPrefix { get; set; } = "relay:";
}

/// <summary>Binds relay identities to ASP.NET Core authentication and authorization.</summary>
public sealed class RelayIdentityOptions
{
    /// <summary>The authorization policy that <see cref="DocumentsClaim"/> makes: <c>relay-documents</c>.</summary>
    public const string DocumentsClaimPolicyName = "relay-documents";

    /// <summary>
    /// A claim of the authenticated user (e.g. <c>sub</c>) that every peer id in a relay path must equal.
    /// When set, every relay route requires an authenticated user (401 before the handshake otherwise) and a
    /// path naming another peer is refused with 403. Unset (default): peer ids are not checked.
    /// </summary>
    public string? PeerIdClaim { get; set; }

    /// <summary>
    /// A claim listing, one value per claim (a JSON array in a JWT), the document ids the user may join or
    /// pair on, or <c>*</c> for all. When set, the policy <see cref="DocumentsClaimPolicyName"/> checks every
    /// document. Unset (default): documents are not checked, unless <see cref="DocumentPolicy"/> names a policy.
    /// </summary>
    public string? DocumentsClaim { get; set; }

    /// <summary>
    /// An authorization policy evaluated for every document a peer joins or pairs on, with the document id
    /// (a string) as the resource, so an app decides with its own <c>IAuthorizationHandler</c>. Default: the
    /// built-in <see cref="DocumentsClaimPolicyName"/> when <see cref="DocumentsClaim"/> is set, else none.
    /// </summary>
    public string? DocumentPolicy { get; set; }
}

/// <summary>Limits of the introduction channel (<c>/introduction/{peerId}</c>).</summary>
public sealed class RelayIntroductionOptions
{
    /// <summary>Largest message a peer may send, in bytes; larger ones close the socket with 4413. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Most documents one Join or Leave may name; more closes the socket with 4413. Default 1,000.</summary>
    public int MaxDocumentsPerMessage { get; set; } = 1_000;

    /// <summary>Most documents one peer may have joined at once; joining more closes the socket with 4429. Default 1,000.</summary>
    public int MaxDocumentsPerPeer { get; set; } = 1_000;

    /// <summary>Most peers one document may have; a Join beyond it is refused with 4429. 0 (default) means unlimited.</summary>
    public int MaxPeersPerDocument { get; set; }

    /// <summary>
    /// Bytes of introductions that may wait to be sent to one slow peer before it is closed with 4429
    /// (one introduction is always accepted, whatever its size). Default 1 MiB.
    /// </summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// A peer that sends no message for this long is closed with 4408. Default 5 minutes, well above the
    /// reference client's 55 s heartbeat; zero switches it off.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Limits of the connection channel (<c>/connection/{localPeerId}/{remotePeerId}/{documentId}</c>).</summary>
public sealed class RelayConnectionOptions
{
    /// <summary>How long the first half of a pairing waits for its partner before closing with 4408. Default 60 s.</summary>
    public TimeSpan PendingTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Bytes a waiting half may send before its partner arrives; more closes it with 4413. Default 1 MiB.</summary>
    public int MaxHeldBytes { get; set; } = 1024 * 1024;

    /// <summary>Frames a waiting half may send before its partner arrives; more closes it with 4413. Default 1,024.</summary>
    public int MaxHeldFrames { get; set; } = 1_024;

    /// <summary>
    /// Size of the pooled buffer each pipe direction streams through: a frame larger than this is relayed
    /// in fragments of it. Default 64 KiB: a busy pipe direction holds one, an idle one none.
    /// </summary>
    public int BufferSize { get; set; } = 64 * 1024;

    /// <summary>Largest message a pipe forwards, in bytes; larger closes both sides with 4413. 0 (default) means unlimited.</summary>
    public long MaxMessageBytes { get; set; }

    /// <summary>Most payload bytes one pairing may relay in both directions together; more closes both sides with 4429. 0 (default) means unlimited.</summary>
    public long MaxBytesPerPairing { get; set; }

    /// <summary>Longest a pairing may last before both sides are closed with 4408. Zero (default) means unlimited.</summary>
    public TimeSpan MaxPairingDuration { get; set; }

    /// <summary>
    /// A send to a partner that does not read for this long closes both sides with 4408; until then
    /// the writer is slowed by TCP, never buffered. Default 60 s; zero waits forever.
    /// </summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>Limits of the sigver endpoint (<c>/sigver/{**key}</c>, the Netflux signaling protocol of sigver 18.0.0).</summary>
public sealed class RelaySigverOptions
{
    /// <summary>Largest protobuf frame a peer may send, in bytes; larger closes it with 4413. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Most joiners bound to one member at once; a full member is skipped, and a joiner with no member left to try is closed with 4429. Default 256.</summary>
    public int MaxJoinersPerMember { get; set; } = 256;

    /// <summary>Most members of one group; a <c>stable</c> beyond it closes the peer with 4429. Default 1,000.</summary>
    public int MaxMembersPerGroup { get; set; } = 1_000;

    /// <summary>Most groups at once; a peer that would create one more is closed with 4429. 0 (default) means unlimited.</summary>
    public int MaxGroups { get; set; }

    /// <summary>Bytes that may wait to be sent to one peer that does not read (one frame is always accepted); more closes it with 4429. Default 1 MiB.</summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// How often the relay sends each peer a heartbeat; a peer that sends none for three of these is closed with 4002.
    /// Default 5 s, as the original and as Netflux expects (it gives up after three missed server heartbeats).
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Targeted signaling (<c>/v1/register</c>, <c>/v1/user</c>, <c>/v1/connect</c>, <c>/v1/kick-active-users</c>,
/// <c>/healthcheck</c>). Registrations are held in memory for the gateway's lifetime.
/// </summary>
public sealed class RelayTargetedOptions
{
    /// <summary>Most usernames registered at once; a register beyond it is refused with 503 <c>FULL</c>. Default 100,000.</summary>
    public int MaxRegistrations { get; set; } = 100_000;

    /// <summary>Largest message a session may send, in bytes; larger closes it with 4413. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Bytes of messages that may wait to be sent to one session that does not read (one message is always
    /// accepted, whatever its size); more closes that session with 4429, and its senders go on. Default 1 MiB.
    /// </summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The key <c>GET /v1/kick-active-users</c> requires as <c>Authorization: Bearer &lt;key&gt;</c> (at least 16
    /// characters). Unset (default): the admin route answers 404.
    /// </summary>
    public string? AdminKey { get; set; }
}

/// <summary>
/// Admission caps for relay sockets. A WebSocket request holds its rate-limiter lease for as long as
/// the socket lives, so a concurrency limit is a limit on open sockets. Refusals are HTTP 429 before
/// the handshake.
/// </summary>
public sealed class RelayAdmissionOptions
{
    /// <summary>The name of the rate limiter policy the relay registers: <c>relay</c>.</summary>
    public const string PolicyName = "relay";

    /// <summary>Most relay sockets open at once across all clients. 0 means unlimited (default).</summary>
    public int MaxConcurrentSockets { get; set; }

    /// <summary>Most relay sockets open at once from one client IP address. Default 1,000; 0 means unlimited.</summary>
    public int MaxConcurrentSocketsPerClient { get; set; } = 1_000;

    /// <summary>New relay sockets per second from one client IP address, sustained. Default 100; 0 means unlimited.</summary>
    public int NewSocketsPerSecondPerClient { get; set; } = 100;

    /// <summary>New relay sockets one client IP address may open in a burst above the sustained rate. Default 200.</summary>
    public int NewSocketsBurstPerClient { get; set; } = 200;
}

/// <summary>Limits of the rooms channel (the videre-server protocol: raw WebSocket and SockJS under <c>/echo</c>).</summary>
public sealed class RelayRoomsOptions
{
    /// <summary>Largest packet (or SockJS frame) a socket may send, in bytes; larger closes it with 4413. Default 64 KiB.</summary>
    public int MaxPacketBytes { get; set; } = 64 * 1024;

    /// <summary>Most users one room may hold; a connect to a full room closes the socket with 4429. Default 100.</summary>
    public int MaxUsersPerRoom { get; set; } = 100;

    /// <summary>Most rooms the gateway holds at once; a connect that would open one more closes the socket with 4429. Default 100,000.</summary>
    public int MaxRooms { get; set; } = 100_000;

    /// <summary>
    /// Bytes of packets that may wait to be sent to one socket that does not read (one packet is always
    /// accepted, whatever its size); more closes it with 4429. Default 1 MiB.
    /// </summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>Interval of SockJS heartbeat frames (<c>h</c>) on SockJS sessions. Default 25 s, as sockjs-node; zero turns them off.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(25);
}
