using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Relay.Rooms;
using Relay.Telemetry;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>What became of a room message between nodes: the <c>relay.cluster.result</c> tag of <c>relay.cluster.room_messages</c>.</summary>
internal enum ClusterRoomResult
{
    /// <summary>Published to another node holding members of the room (one per node per packet, departure or replacement).</summary>
    Sent,

    /// <summary>Received and queued to this node's members of the room.</summary>
    Delivered,

    /// <summary>Received, but no socket of this node is in the room any more.</summary>
    Stale,
}

/// <summary>A connect's claim on a room in Redis, made before the socket joins the room locally.</summary>
/// <param name="Membership">This membership's id, <c>node|n</c>, in Redis whether or not it got there.</param>
/// <param name="Shared">False if Redis did not answer: the room is local to this node until the resync.</param>
/// <param name="Full">The room has its maximum of users on all nodes together: nothing was claimed.</param>
/// <param name="Initiator">No other live user was in the room.</param>
/// <param name="Replaced">The membership (<c>node|n|seq</c>) of another socket of this user in the room, now replaced; or empty.</param>
/// <param name="Nodes">The other live nodes with members of the room.</param>
internal sealed record RoomClaim(string Membership, bool Shared, bool Full = false, bool Initiator = false, string Replaced = "", string[]? Nodes = null);

/// <summary>
/// Rooms across the nodes of a cluster. Each node keeps its own sockets in the in-process <see cref="IRoomRegistry"/>
/// and delivers to them as on one node; this class shares the membership in Redis (<see cref="ClusterRoomScripts"/>)
/// and fans packets out to the other nodes holding members: one message per node on its channel, which that node
/// delivers to its own members of the room. Line kinds: <c>M {room} {c|b}\n{packet}</c> (a connect or broadcast
/// packet), <c>D {room} {user}</c> (the user left: a disconnect packet), <c>X {room} {user} {membership}</c> (that
/// membership was replaced by a connect on another node: its socket closes with 4409).
/// </summary>
internal sealed partial class ClusterRooms : IDisposable
{
    private readonly ClusterNode _node;
    private readonly IRoomRegistry _registry;
    private readonly RelayMetrics _metrics;
    private readonly ILogger<ClusterRooms> _logger;
    private readonly int _maxUsersPerRoom;
    private readonly RedisKey _seq;
    private readonly RedisValue _channelPrefix;
    private readonly ConcurrentDictionary<RoomSession, Membership> _memberships = new();
    private readonly ConcurrentQueue<Membership> _pendingLeaves = new();
    private readonly long[] _messages = new long[Results.Length];

    // The subscription handles messages one at a time, so one writer and list serve every message.
    private readonly PacketWriter _writer = new();
    private readonly List<RoomSession> _members = [];
    private long _counter;

    private static readonly ClusterRoomResult[] Results = Enum.GetValues<ClusterRoomResult>();
    private static readonly KeyValuePair<string, object?>[] ResultTags =
        [new(ClusterMetrics.ResultTag, "sent"), new(ClusterMetrics.ResultTag, "delivered"), new(ClusterMetrics.ResultTag, "stale")];

    public ClusterRooms(ClusterNode node, IRoomRegistry registry, RelayOptions options, RelayMetrics metrics, IMeterFactory meterFactory, ILogger<ClusterRooms> logger)
    {
        _node = node;
        _registry = registry;
        _metrics = metrics;
        _logger = logger;
        _maxUsersPerRoom = options.Rooms.MaxUsersPerRoom;
        _seq = node.Prefix + "roomseq";
        _channelPrefix = node.Prefix + "node:";
        meterFactory.Create(RelayMeter.Name).CreateObservableCounter(
            "relay.cluster.room_messages",
            () => Results.Select((result, i) => new Measurement<long>(Volatile.Read(ref _messages[i]), ResultTags[i])),
            "{message}",
            "Rooms packets between nodes, by result (sent: one per other node holding members; delivered or stale at the receiving node).");
    }

    /// <summary>True for a message on this node's channel that is a room's (the introduction registry's start with I or R).</summary>
    public static bool Handles(ReadOnlySpan<byte> message) => message.Length > 1 && message[1] == ' ' && message[0] is (byte)'M' or (byte)'D' or (byte)'X';

    /// <summary>
    /// Before a connect joins the room locally: leaves the socket's previous room in Redis (its other nodes are
    /// told), then claims the room cluster-wide (its limit, the initiator, a user to replace on another node).
    /// </summary>
    public async ValueTask<RoomClaim> ClaimAsync(RoomSession session, string roomId, string userId)
    {
        Depart(session);
        var membership = _node.Id + "|" + Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture);
        var pending = _node.Start(
            ClusterOperation.RoomJoin,
            ClusterRoomScripts.Join,
            [_node.Leases, RoomKey(roomId), _node.Entries, _seq],
            [userId, membership, _node.Id, _maxUsersPerRoom, roomId]);
        if (pending is null || await pending.ConfigureAwait(false) is not { } result)
        {
            return new RoomClaim(membership, Shared: false);
        }

        var reply = (RedisResult[])result!;
        return new RoomClaim(
            membership,
            Shared: true,
            Full: (long)reply[0] == 0,
            Initiator: (long)reply[2] == 1,
            Replaced: (string?)reply[1] ?? "",
            Nodes: [.. ((RedisResult[])reply[3]!).Select(static n => (string)n!)]);
    }

    /// <summary>
    /// The socket joined the room locally: it is remembered (for leaving and resyncs), and the other nodes with
    /// members get the connect packet, after a disconnect of the user it replaced (its own node: the replacement).
    /// </summary>
    public void Joined(RoomSession session, string roomId, string userId, RoomClaim claim, byte[] connectPacket)
    {
        _memberships[session] = new Membership(roomId, userId, claim.Membership);
        if (!claim.Shared || claim.Nodes is not { Length: > 0 } nodes)
        {
            return;
        }

        var replacedNode = claim.Replaced.Length > 0 ? claim.Replaced[..claim.Replaced.IndexOf('|', StringComparison.Ordinal)] : null;
        var message = RoomMessage(roomId, 'c', connectPacket);
        foreach (var other in nodes)
        {
            if (replacedNode is not null)
            {
                _ = _node.PublishAsync(other, other == replacedNode
                    ? $"X {roomId} {userId} {claim.Replaced[..claim.Replaced.LastIndexOf('|')]}"
                    : $"D {roomId} {userId}");
            }

            _ = _node.PublishAsync(other, message);
        }

        Count(ClusterRoomResult.Sent, replacedNode is null ? nodes.Length : 2 * nodes.Length);
    }

    /// <summary>A claimed room the socket could not join locally after all: the claim is withdrawn.</summary>
    public void Withdraw(RoomSession session, string roomId, string userId, RoomClaim claim)
    {
        if (claim.Shared && !claim.Full)
        {
            StartLeave(new Membership(roomId, userId, claim.Membership));
        }
    }

    /// <summary>The socket left its room (disconnect, close): the room's other nodes are told, in order after its packets.</summary>
    public void Depart(RoomSession session)
    {
        if (_memberships.TryRemove(session, out var membership))
        {
            StartLeave(membership);
        }
    }

    /// <summary>The socket was replaced in its room by a newer one of this node, which took its place in Redis.</summary>
    public void Forget(RoomSession session) => _memberships.TryRemove(session, out _);

    /// <summary>A packet the socket's room gets: published to the room's other nodes by one script (nothing if Redis is unavailable).</summary>
    public void Broadcast(RoomSession session, byte[] packet)
    {
        if (!_memberships.TryGetValue(session, out var membership))
        {
            return;
        }

        var pending = _node.Start(
            ClusterOperation.RoomSend,
            ClusterRoomScripts.Send,
            [_node.Leases, RoomKey(membership.RoomId)],
            [membership.UserId, membership.Id, _node.Id, _channelPrefix, RoomMessage(membership.RoomId, 'b', packet)]);
        if (pending is not null)
        {
            _ = CountSentAsync(pending);
        }
    }

    /// <summary>The room's users on every live node in join order; null when Redis does not answer (the caller answers locally).</summary>
    public async ValueTask<List<string>?> UserIdsAsync(string roomId)
    {
        var pending = _node.Start(ClusterOperation.RoomUsers, ClusterRoomScripts.Users, [_node.Leases, RoomKey(roomId)], []);
        if (pending is null || await pending.ConfigureAwait(false) is not { } result)
        {
            return null;
        }

        return [.. ((RedisResult[])result!).Select(static user => (string)user!)];
    }

    /// <summary>A room message on this node's channel (the subscription hands them over one at a time).</summary>
    public void OnMessage(byte[] message)
    {
        lock (_members)
        {
            OnMessageLocked(message);
        }
    }

    private void OnMessageLocked(byte[] message)
    {
        try
        {
            var newline = Array.IndexOf(message, (byte)'\n');
            var header = Encoding.UTF8.GetString(message, 0, newline < 0 ? message.Length : newline).Split(' ');
            switch (header)
            {
                case ["M", var roomId, var kind] when newline > 0:
                    Deliver(roomId, message.AsSpan(newline + 1).ToArray(), kind == "c" ? RoomEvent.Connect : RoomEvent.Broadcast);
                    break;
                case ["D", var roomId, var userId]:
                    Deliver(roomId, _writer.Disconnect(userId, roomId), RoomEvent.Disconnect);
                    break;
                case ["X", var roomId, var userId, var membership]:
                    ReplacedElsewhere(roomId, userId, membership, counted: true);
                    break;
                default:
                    Log.BadMessage(_logger, message.Length);
                    break;
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            Log.BadMessage(_logger, message.Length);
        }
    }

    /// <summary>
    /// After Redis lost something of this node's: the leaves it missed first (the rooms' other nodes are told
    /// then), then every membership again. A user a live other node holds meanwhile is that node's: this socket
    /// is replaced. True if all of it reached Redis.
    /// </summary>
    public async Task<bool> ResyncAsync()
    {
        var ok = true;
        var pending = _pendingLeaves.Count;
        for (var i = 0; i < pending && _pendingLeaves.TryDequeue(out var leave); i++)
        {
            var started = StartLeaveScript(leave);
            if (started is null || await started.ConfigureAwait(false) is null)
            {
                _pendingLeaves.Enqueue(leave);
                ok = false;
            }
        }

        var resyncs = new List<Task<bool>>();
        foreach (var (session, membership) in _memberships)
        {
            var started = _node.Start(
                ClusterOperation.RoomJoin,
                ClusterRoomScripts.Resync,
                [_node.Leases, RoomKey(membership.RoomId), _node.Entries, _seq],
                [membership.UserId, membership.Id, _node.Id, membership.RoomId]);
            resyncs.Add(started is null ? Task.FromResult(false) : AfterResyncAsync(session, membership, started));
        }

        ok &= (await Task.WhenAll(resyncs).ConfigureAwait(false)).All(static done => done);
        Log.Resynced(_logger, resyncs.Count, ok);
        return ok;
    }

    private async Task<bool> AfterResyncAsync(RoomSession session, Membership membership, Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is not { } result)
        {
            return false;
        }

        if ((long)result == 0)
        {
            // A live other node took the user meanwhile: this socket is the replaced one, as if told by that node.
            lock (_members)
            {
                ReplacedElsewhere(membership.RoomId, membership.UserId, membership.Id, counted: false);
            }
        }

        return true;
    }

    private void StartLeave(Membership membership)
    {
        if (StartLeaveScript(membership) is { } pending)
        {
            _ = AfterLeaveAsync(membership, pending);
        }
        else
        {
            _pendingLeaves.Enqueue(membership);
        }
    }

    private Task<RedisResult?>? StartLeaveScript(Membership membership) => _node.Start(
        ClusterOperation.RoomLeave,
        ClusterRoomScripts.Leave,
        [_node.Leases, RoomKey(membership.RoomId), _node.Entries],
        [membership.UserId, membership.Id, _node.Id, _channelPrefix, $"D {membership.RoomId} {membership.UserId}", membership.RoomId]);

    private async Task AfterLeaveAsync(Membership membership, Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is not { } result)
        {
            _pendingLeaves.Enqueue(membership);
            return;
        }

        Count(ClusterRoomResult.Sent, Math.Max(0, (int)(long)result));
    }

    private async Task CountSentAsync(Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is { } result)
        {
            Count(ClusterRoomResult.Sent, Math.Max(0, (int)(long)result));
        }
    }

    private void Deliver(string roomId, byte[] packet, RoomEvent roomEvent)
    {
        lock (_members)
        {
            _members.Clear();
            _registry.GetMembers(roomId, _members);
            if (_members.Count == 0)
            {
                Count(ClusterRoomResult.Stale, 1);
                return;
            }

            byte[]? sockJsFrame = null;
            foreach (var member in _members)
            {
                if (member.TrySend(member.SockJs ? sockJsFrame ??= _writer.SockJsMessage(packet) : packet))
                {
                    _metrics.RoomPacketDelivered(roomEvent);
                }
            }

            _members.Clear();
            Count(ClusterRoomResult.Delivered, 1);
        }
    }

    /// <summary>A connect on another node took this user's place in the room: this socket leaves it and closes with 4409, as on one node.</summary>
    private void ReplacedElsewhere(string roomId, string userId, string membership, bool counted)
    {
        lock (_members)
        {
            _members.Clear();
            _registry.GetMembers(roomId, _members);
            var session = _members.Find(member => string.Equals(member.UserId, userId, StringComparison.Ordinal)
                && _memberships.TryGetValue(member, out var held) && held.Id == membership);
            _members.Clear();
            if (session is null || !_memberships.TryRemove(session, out _))
            {
                Count(ClusterRoomResult.Stale, counted ? 1 : 0);
                return;
            }

            Count(ClusterRoomResult.Delivered, counted ? 1 : 0);

            if (_registry.Leave(session) is { Remaining.Length: > 0 } departure)
            {
                var packet = _writer.Disconnect(userId, roomId);
                byte[]? sockJsFrame = null;
                foreach (var member in departure.Remaining)
                {
                    if (member.TrySend(member.SockJs ? sockJsFrame ??= _writer.SockJsMessage(packet) : packet))
                    {
                        _metrics.RoomPacketDelivered(RoomEvent.Disconnect);
                    }
                }
            }

            Log.ReplacedElsewhere(_logger, userId, roomId);
            _metrics.Rejected(RejectionReason.Replaced);
            session.RequestClose((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer socket for this UserId in this room");
        }
    }

    public void Dispose() => _writer.Dispose();

    private RedisKey RoomKey(string roomId) => _node.Prefix + "room:" + roomId;

    private static byte[] RoomMessage(string roomId, char kind, byte[] packet)
    {
        var header = Encoding.UTF8.GetByteCount(roomId) + 5;
        var message = new byte[header + packet.Length];
        message[0] = (byte)'M';
        message[1] = (byte)' ';
        Encoding.UTF8.GetBytes(roomId, message.AsSpan(2));
        message[header - 3] = (byte)' ';
        message[header - 2] = (byte)kind;
        message[header - 1] = (byte)'\n';
        packet.CopyTo(message, header);
        return message;
    }

    private void Count(ClusterRoomResult result, int count) => Interlocked.Add(ref _messages[(int)result], count);

    /// <summary>A local socket's membership of a room, as Redis knows it (<c>node|n</c>, without the join sequence).</summary>
    private sealed record Membership(string RoomId, string UserId, string Id);

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterRoomReplaced, LogLevel.Debug, "User {UserId} connected to room {RoomId} on another node; its socket here is closed with 4409.")]
        public static partial void ReplacedElsewhere(ILogger logger, string userId, string roomId);

        [LoggerMessage(RelayEventIds.ClusterRoomsResynced, LogLevel.Information, "Re-published {Memberships} room memberships to Redis (complete: {Complete}).")]
        public static partial void Resynced(ILogger logger, int memberships, bool complete);

        [LoggerMessage(RelayEventIds.ClusterRoomBadMessage, LogLevel.Warning, "Ignored a malformed {Length}-byte room message on this node's cluster channel.")]
        public static partial void BadMessage(ILogger logger, int length);
    }
}
