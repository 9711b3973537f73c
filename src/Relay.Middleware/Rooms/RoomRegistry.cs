namespace Relay.Rooms;

/// <summary>
/// Who is in which room. The one owner of room state; an implementation shared by several gateways
/// could replace the in-process one. A socket is in at most one room at a time, under one user id.
/// </summary>
internal interface IRoomRegistry
{
    /// <summary>Rooms with at least one user.</summary>
    int RoomCount { get; }

    /// <summary>Users in a room, all rooms together.</summary>
    int UserCount { get; }

    /// <summary>
    /// Puts <paramref name="session"/> in <paramref name="roomId"/> as <paramref name="userId"/>, after
    /// taking it out of the room it was in. A socket already in the room under that user id is
    /// replaced: taken out, and returned for the caller to close. Nothing changes unless the limits allow it.
    /// </summary>
    RoomJoin Join(RoomSession session, string roomId, string userId);

    /// <summary>Takes <paramref name="session"/> out of its room; null if it was in none.</summary>
    RoomDeparture? Leave(RoomSession session);

    /// <summary>
    /// True if <paramref name="session"/> is in <paramref name="roomId"/> as <paramref name="userId"/>;
    /// then fills <paramref name="members"/> (when given) with the room's sockets and
    /// <paramref name="userIds"/> (when given) with its user ids, both in join order.
    /// </summary>
    bool TryGetRoom(RoomSession session, string roomId, string userId, List<RoomSession>? members, List<string>? userIds);

    /// <summary>Adds the room's sockets, in join order, to <paramref name="members"/> (none if there is no such room): for packets from other nodes.</summary>
    void GetMembers(string roomId, List<RoomSession> members);
}

/// <summary>A user that left a room, and the sockets still in it (to be told).</summary>
internal sealed record RoomDeparture(string RoomId, string UserId, RoomSession[] Remaining);

/// <summary>What became of a connect.</summary>
internal enum RoomJoinStatus
{
    Joined,
    RoomFull,
    TooManyRooms,
}

/// <summary>
/// The outcome of <see cref="IRoomRegistry.Join"/>: whether the user opened the room (the initiator),
/// the room the socket left, the socket it replaced and that socket's departure, and the room's sockets
/// afterwards in join order (the joiner last).
/// </summary>
internal sealed record RoomJoin(
    RoomJoinStatus Status,
    bool Initiator = false,
    RoomDeparture? Left = null,
    RoomSession? Replaced = null,
    RoomDeparture? ReplacedDeparture = null,
    RoomSession[]? Members = null);

/// <summary>The in-process room registry: one lock, rooms by id (ordinal; any string is an ordinary room id).</summary>
internal sealed class RoomRegistry(RelayOptions options) : IRoomRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<RoomSession>> _rooms = new(StringComparer.Ordinal);
    private readonly int _maxUsersPerRoom = options.Rooms.MaxUsersPerRoom;
    private readonly int _maxRooms = options.Rooms.MaxRooms;
    private int _users;

    public int RoomCount
    {
        get
        {
            lock (_lock)
            {
                return _rooms.Count;
            }
        }
    }

    public int UserCount => Volatile.Read(ref _users);

    public RoomJoin Join(RoomSession session, string roomId, string userId)
    {
        lock (_lock)
        {
            _rooms.TryGetValue(roomId, out var room);
            var replaced = room?.Find(member => member != session && string.Equals(member.UserId, userId, StringComparison.Ordinal));

            // Check the limits against the room as it will be: without this socket and the one it replaces.
            var staying = room is null ? 0 : room.Count - (session.RoomId == roomId ? 1 : 0) - (replaced is null ? 0 : 1);
            if (room is not null && staying >= _maxUsersPerRoom)
            {
                return new RoomJoin(RoomJoinStatus.RoomFull);
            }

            var previousRoomEmpties = session.RoomId is { } previous && previous != roomId && _rooms[previous].Count == 1;
            if (room is null && _rooms.Count - (previousRoomEmpties ? 1 : 0) >= _maxRooms)
            {
                return new RoomJoin(RoomJoinStatus.TooManyRooms);
            }

            var left = Remove(session);
            var replacedDeparture = replaced is null ? null : Remove(replaced);
            if (!_rooms.TryGetValue(roomId, out room))
            {
                room = [];
                _rooms.Add(roomId, room);
            }

            var initiator = room.Count == 0;
            room.Add(session);
            session.RoomId = roomId;
            session.UserId = userId;
            _users++;
            return new RoomJoin(RoomJoinStatus.Joined, initiator, left, replaced, replacedDeparture, [.. room]);
        }
    }

    public RoomDeparture? Leave(RoomSession session)
    {
        lock (_lock)
        {
            return Remove(session);
        }
    }

    public bool TryGetRoom(RoomSession session, string roomId, string userId, List<RoomSession>? members, List<string>? userIds)
    {
        lock (_lock)
        {
            if (!string.Equals(session.RoomId, roomId, StringComparison.Ordinal)
                || !string.Equals(session.UserId, userId, StringComparison.Ordinal))
            {
                return false;
            }

            foreach (var member in _rooms[roomId])
            {
                members?.Add(member);
                userIds?.Add(member.UserId!);
            }

            return true;
        }
    }

    public void GetMembers(string roomId, List<RoomSession> members)
    {
        lock (_lock)
        {
            if (_rooms.TryGetValue(roomId, out var room))
            {
                members.AddRange(room);
            }
        }
    }

    /// <summary>Takes the session out of its room (dropping the room if it empties). Under the lock.</summary>
    private RoomDeparture? Remove(RoomSession session)
    {
        if (session.RoomId is not { } roomId)
        {
            return null;
        }

        var room = _rooms[roomId];
        room.Remove(session);
        if (room.Count == 0)
        {
            _rooms.Remove(roomId);
        }

        var departure = new RoomDeparture(roomId, session.UserId!, [.. room]);
        session.RoomId = null;
        session.UserId = null;
        _users--;
        return departure;
    }
}
