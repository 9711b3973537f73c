using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Relay.Admission;
using Relay.Cluster;
using Relay.Configuration;
using Relay.Identity;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Rooms;

/// <summary>
/// Serves the videre-server rooms protocol under a Rooms route's mount (<c>/echo/{**rest}</c> by
/// default): the raw WebSocket at <c>websocket</c>, and the SockJS endpoints the real client uses,
/// <c>info</c> and the WebSocket transport at <c>{server}/{session}/websocket</c>. Both kinds of socket
/// share the rooms.
/// </summary>
internal sealed partial class RoomsHandler(
    IRoomRegistry registry,
    RelaySessions sessions,
    RelaySocketAcceptor acceptor,
    RelayIdPolicy ids,
    RelayAccess access,
    RelayOptions options,
    RelayMetrics metrics,
    IServiceProvider services,
    ILogger<RoomsHandler> logger)
{
    private readonly int _maxPacketBytes = options.Rooms.MaxPacketBytes;

    // With Relay:Cluster:Redis, rooms span the nodes: membership in Redis, packets fanned out to the other nodes.
    private readonly ClusterRooms? _cluster = options.Cluster.Redis is null ? null : services.GetRequiredService<ClusterRooms>();

    public Task HandleAsync(HttpContext context, string? rest)
    {
        var path = (rest ?? "").AsSpan().Trim('/');
        if (path.IsEmpty)
        {
            return WriteTextAsync(context, "Welcome to SockJS!\n");
        }

        if (path.SequenceEqual("info"))
        {
            return InfoAsync(context);
        }

        if (path.SequenceEqual("websocket"))
        {
            return ServeSocketAsync(context, sockJs: false);
        }

        if (IsSockJsWebSocketPath(path))
        {
            return ServeSocketAsync(context, sockJs: true);
        }

        return acceptor.RefuseAsync(context, StatusCodes.Status404NotFound, RejectionReason.NotFound, "Not found.");
    }

    /// <summary><c>{server}/{session}/websocket</c>, with server and session ids as sockjs-node takes them: non-empty, no dots.</summary>
    private static bool IsSockJsWebSocketPath(ReadOnlySpan<char> path)
    {
        Span<Range> parts = stackalloc Range[4];
        return path.Split(parts, '/') == 3
            && path[parts[2]].SequenceEqual("websocket")
            && IsSockJsId(path[parts[0]])
            && IsSockJsId(path[parts[1]]);

        static bool IsSockJsId(ReadOnlySpan<char> id) => !id.IsEmpty && !id.Contains('.');
    }

    /// <summary>The SockJS info answer: WebSocket offered, no cookie needed (as sockjs-node answers, CORS headers included).</summary>
    private static Task InfoAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var origin = request.Headers.Origin.ToString();
        response.Headers.CacheControl = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
        if (origin.Length > 0 && origin != "null")
        {
            response.Headers.AccessControlAllowOrigin = origin;
            response.Headers.AccessControlAllowCredentials = "true";
            response.Headers.Vary = HeaderNames.Origin;
        }
        else
        {
            response.Headers.AccessControlAllowOrigin = "*";
        }

        if (HttpMethods.IsOptions(request.Method))
        {
            response.StatusCode = StatusCodes.Status204NoContent;
            response.Headers.AccessControlAllowMethods = "OPTIONS, GET";
            response.Headers.AccessControlMaxAge = "31536000";
            return Task.CompletedTask;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "OPTIONS, GET";
            return Task.CompletedTask;
        }

        response.ContentType = "application/json; charset=UTF-8";
        var entropy = RandomNumberGenerator.GetInt32(int.MaxValue);
        return response.WriteAsync($"{{\"websocket\":true,\"origins\":[\"*:*\"],\"cookie_needed\":false,\"entropy\":{entropy}}}", context.RequestAborted);
    }

    private static Task WriteTextAsync(HttpContext context, string text)
    {
        context.Response.ContentType = "text/plain; charset=UTF-8";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }

    private async Task ServeSocketAsync(HttpContext context, bool sockJs)
    {
        if (!await acceptor.AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        var socket = await acceptor.AcceptAsync(context).ConfigureAwait(false);
        var session = new RoomSession(context.Connection.Id, socket, sockJs, sessions, options, metrics, logger);
        var scratch = new PacketScratch();
        sessions.Add(session);
        Log.SocketConnected(logger, session.ConnectionId, sockJs);
        if (sockJs)
        {
            session.TrySend(PacketWriter.SockJsOpen);
        }

        try
        {
            await ReceiveLoopAsync(session, context.User, scratch).ConfigureAwait(false);
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            Log.SocketFailed(logger, session.ConnectionId, ex);
            RelaySocket.AbortAfterReceiveFailure(socket);
        }
        finally
        {
            if (registry.Leave(session) is { } departure)
            {
                TellDeparture(departure, scratch);
            }

            _cluster?.Depart(session);

            session.RequestClose(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription, byRelay: false);
            await session.CloseSent.ConfigureAwait(false);
            sessions.Remove(session);
            Log.SocketDisconnected(logger, session.ConnectionId, socket.CloseStatus);
            socket.Dispose();
            scratch.Dispose();
        }
    }

    private async Task ReceiveLoopAsync(RoomSession session, ClaimsPrincipal user, PacketScratch scratch)
    {
        while (true)
        {
            using var message = await PooledMessage.ReceiveAsync(session.Socket, _maxPacketBytes).ConfigureAwait(false);
            switch (message.Kind)
            {
                case ReceivedKind.Close:
                    return;
                case ReceivedKind.TooBig:
                    session.CloseByRelay(RelayCloseCodes.MessageTooBig, RejectionReason.MessageTooBig, $"Packet larger than {_maxPacketBytes} bytes");
                    await PooledMessage.DiscardUntilCloseAsync(session.Socket).ConfigureAwait(false);
                    return;
            }

            if (!session.SockJs)
            {
                await HandlePacketAsync(session, user, message.Memory, scratch).ConfigureAwait(false);
            }
            else if (SockJsPackets(session, message.Memory, scratch))
            {
                try
                {
                    foreach (var packet in scratch.SockJsPackets)
                    {
                        await HandlePacketAsync(session, user, packet, scratch).ConfigureAwait(false);
                    }
                }
                finally
                {
                    scratch.ReturnSockJsPackets();
                }
            }
        }
    }

    /// <summary>
    /// A SockJS client frame: a JSON array of strings, each a packet (a bare string is taken as one, as
    /// sockjs-node does; an empty frame is nothing), put in <see cref="PacketScratch.SockJsPackets"/>: slices
    /// of the frame, or pooled copies of strings with escapes. Anything else is ignored whole and counted
    /// (false).
    /// </summary>
    private bool SockJsPackets(RoomSession session, ReadOnlyMemory<byte> frame, PacketScratch scratch)
    {
        if (frame.IsEmpty)
        {
            return false;
        }

        if (!IsSockJsFrame(frame.Span))
        {
            Bad(session, BadPacketReason.BadFraming);
            return false;
        }

        var reader = new Utf8JsonReader(frame.Span);
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                continue;
            }

            if (!reader.ValueIsEscaped)
            {
                scratch.SockJsPackets.Add(frame.Slice((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length));
                continue;
            }

            var buffer = scratch.Rent(reader.ValueSpan.Length);
            scratch.SockJsPackets.Add(buffer.AsMemory(0, reader.CopyString(buffer)));
        }

        return true;
    }

    private static bool IsSockJsFrame(ReadOnlySpan<byte> frame)
    {
        try
        {
            var reader = new Utf8JsonReader(frame);
            if (!reader.Read())
            {
                return false;
            }

            if (reader.TokenType == JsonTokenType.String)
            {
                return IsValidString(ref reader) && !reader.Read();
            }

            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.String)
            {
                if (!IsValidString(ref reader))
                {
                    return false;
                }
            }

            return reader.TokenType == JsonTokenType.EndArray && !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }

        // A string whose escapes unescape to valid UTF-16 (no lone surrogate).
        static bool IsValidString(ref Utf8JsonReader reader)
        {
            try
            {
                _ = reader.GetString();
                return true;
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }
    }

    /// <summary>Handles one packet; completes synchronously (without allocating) unless a connect is authorized.</summary>
    private async ValueTask HandlePacketAsync(RoomSession session, ClaimsPrincipal user, ReadOnlyMemory<byte> json, PacketScratch scratch)
    {
        if (session.IsClosing)
        {
            return;
        }

        using var packet = Parse(session, json);
        if (packet is null)
        {
            return;
        }

        switch (packet.Event)
        {
            case RoomEvent.Connect:
                if (await MayConnectAsync(session, user, packet).ConfigureAwait(false))
                {
                    await ConnectAsync(session, packet, scratch).ConfigureAwait(false);
                }

                break;
            case RoomEvent.Broadcast:
                Broadcast(session, packet, scratch);
                break;
            case RoomEvent.Ping:
                await PingAsync(session, packet, scratch).ConfigureAwait(false);
                break;
            case RoomEvent.Disconnect:
                Disconnect(session, packet, scratch);
                break;
        }
    }

    private RoomPacket? Parse(RoomSession session, ReadOnlyMemory<byte> json)
    {
        var packet = RoomPacket.Parse(json, out var reason);
        if (packet is null)
        {
            Bad(session, reason);
        }

        return packet;
    }

    /// <summary>
    /// Whether the user may connect as the packet's UserId (bound to the peer-id claim when identities are
    /// bound) to its room (a document, for the document policy). A refusal closes with 4403 and changes nothing.
    /// </summary>
    private async ValueTask<bool> MayConnectAsync(RoomSession session, ClaimsPrincipal user, RoomPacket packet)
    {
        // Invalid ids are refused by Connect (4400), before identity is asked about them.
        if (!ids.IsValid(packet.UserId) || !ids.IsValid(packet.RoomId))
        {
            return true;
        }

        if (!access.MayBe(user, packet.UserId) || !await access.MayUseAsync(user, packet.RoomId).ConfigureAwait(false))
        {
            session.CloseByRelay(RelayCloseCodes.Forbidden, RejectionReason.Forbidden, "Not allowed to connect as this UserId to this room");
            return false;
        }

        return !session.IsClosing;
    }

    /// <summary>
    /// Leaves the socket's room (the rest are told), joins the packet's room, and sends the packet, its
    /// Payload now "true" if the room was new (the initiator) or "false", to everyone in the room.
    /// </summary>
    private async ValueTask ConnectAsync(RoomSession session, RoomPacket packet, PacketScratch scratch)
    {
        if (!ids.IsValid(packet.UserId) || !ids.IsValid(packet.RoomId))
        {
            session.CloseByRelay(RelayCloseCodes.BadRequest, RejectionReason.InvalidId, "Invalid UserId or RoomId");
            return;
        }

        // Written before the join, so a packet that cannot be written back (a lone surrogate in some
        // field) changes nothing; written again if the user turns out to be the initiator.
        if (Rewrite(session, packet, scratch, "false") is not { } bytes)
        {
            return;
        }

        // Across nodes the room is claimed in Redis first (its limit counts every node's users); the socket joins
        // locally after, so packets from other nodes reach it from the moment they can know of it.
        RoomClaim? claim = null;
        if (_cluster is not null)
        {
            claim = await _cluster.ClaimAsync(session, packet.RoomId, packet.UserId).ConfigureAwait(false);
            if (session.IsClosing)
            {
                _cluster.Withdraw(session, packet.RoomId, packet.UserId, claim);
                return;
            }

            if (claim.Full)
            {
                session.CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.RoomFull, $"The room already has {options.Rooms.MaxUsersPerRoom} users");
                return;
            }
        }

        var join = registry.Join(session, packet.RoomId, packet.UserId);
        if (join.Status != RoomJoinStatus.Joined && claim is not null)
        {
            _cluster!.Withdraw(session, packet.RoomId, packet.UserId, claim);
        }

        switch (join.Status)
        {
            case RoomJoinStatus.RoomFull:
                session.CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.RoomFull, $"The room already has {options.Rooms.MaxUsersPerRoom} users");
                return;
            case RoomJoinStatus.TooManyRooms:
                session.CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.TooManyRooms, $"The relay already has {options.Rooms.MaxRooms} rooms");
                return;
        }

        if (join.Left is { } left)
        {
            TellDeparture(left, scratch);
        }

        if (join.Replaced is { } replaced)
        {
            Log.UserReplaced(logger, packet.UserId, packet.RoomId);
            metrics.Rejected(RejectionReason.Replaced);
            replaced.RequestClose((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer socket for this UserId in this room");
            TellDeparture(join.ReplacedDeparture!, scratch);

            // Its place in Redis is this socket's now; the other nodes are told by Joined below.
            _cluster?.Forget(replaced);
        }
        else if (claim is { Replaced.Length: > 0 })
        {
            // The user's socket on another node was replaced (it closes there with 4409): this node's members are told here.
            TellDeparture(new RoomDeparture(packet.RoomId, packet.UserId, [.. join.Members!.Where(member => member != session)]), scratch);
        }

        if (claim is { Shared: true } ? claim.Initiator : join.Initiator)
        {
            bytes = packet.Write(scratch.Writer, "true")!;
        }

        Deliver(join.Members!, bytes, RoomEvent.Connect, scratch);
        if (claim is not null)
        {
            _cluster!.Joined(session, packet.RoomId, packet.UserId, claim, bytes);
        }
    }

    /// <summary>Sends the packet, whole, to everyone in the room, sender included.</summary>
    private void Broadcast(RoomSession session, RoomPacket packet, PacketScratch scratch)
    {
        var members = scratch.Members;
        members.Clear();
        if (!InRoom(session, packet, members, null))
        {
            return;
        }

        if (Rewrite(session, packet, scratch, null) is { } bytes)
        {
            Deliver(members, bytes, RoomEvent.Broadcast, scratch);
            _cluster?.Broadcast(session, bytes);
        }

        members.Clear();
    }

    /// <summary>Answers the sender only, its Payload now the room's user ids in join order, as a JSON string.</summary>
    private async ValueTask PingAsync(RoomSession session, RoomPacket packet, PacketScratch scratch)
    {
        var userIds = scratch.UserIds;
        userIds.Clear();
        if (!InRoom(session, packet, null, userIds))
        {
            return;
        }

        // Across nodes the list is Redis's (every node's users in join order), unless Redis does not answer.
        if (_cluster is not null && await _cluster.UserIdsAsync(packet.RoomId).ConfigureAwait(false) is { } everywhere)
        {
            userIds.Clear();
            userIds.AddRange(everywhere);
        }

        var payload = scratch.Writer.UserIdList(userIds);
        userIds.Clear();
        if (Rewrite(session, packet, scratch, payload) is { } bytes)
        {
            Deliver([session], bytes, RoomEvent.Ping, scratch);
        }
    }

    /// <summary>Takes the socket out of its room (the original ignored this packet); the rest are told.</summary>
    private void Disconnect(RoomSession session, RoomPacket packet, PacketScratch scratch)
    {
        if (InRoom(session, packet, null, null) && registry.Leave(session) is { } departure)
        {
            TellDeparture(departure, scratch);
            _cluster?.Depart(session);
        }
    }

    /// <summary>
    /// True if the socket is in the packet's room under the packet's UserId (then <paramref name="members"/>
    /// and <paramref name="userIds"/>, when given, are filled); otherwise the packet is counted as <c>not_member</c>.
    /// </summary>
    private bool InRoom(RoomSession session, RoomPacket packet, List<RoomSession>? members, List<string>? userIds)
    {
        if (registry.TryGetRoom(session, packet.RoomId, packet.UserId, members, userIds))
        {
            return true;
        }

        Bad(session, BadPacketReason.NotMember);
        return false;
    }

    private void TellDeparture(RoomDeparture departure, PacketScratch scratch)
    {
        if (departure.Remaining.Length > 0)
        {
            Deliver(departure.Remaining, scratch.Writer.Disconnect(departure.UserId, departure.RoomId), RoomEvent.Disconnect, scratch);
        }
    }

    /// <summary>Sends one packet to each socket, framed once per transport.</summary>
    private void Deliver(IReadOnlyList<RoomSession> recipients, byte[] packet, RoomEvent roomEvent, PacketScratch scratch)
    {
        byte[]? sockJsFrame = null;
        for (var i = 0; i < recipients.Count; i++)
        {
            var recipient = recipients[i];
            var frame = recipient.SockJs ? sockJsFrame ??= scratch.Writer.SockJsMessage(packet) : packet;
            if (recipient.TrySend(frame))
            {
                metrics.RoomPacketDelivered(roomEvent);
            }
        }
    }

    /// <summary>The packet written back with <paramref name="payload"/>, or null (counted as invalid JSON) if it cannot be.</summary>
    private byte[]? Rewrite(RoomSession session, RoomPacket packet, PacketScratch scratch, string? payload)
    {
        var bytes = packet.Write(scratch.Writer, payload);
        if (bytes is null)
        {
            Bad(session, BadPacketReason.InvalidJson);
        }

        return bytes;
    }

    private void Bad(RoomSession session, BadPacketReason reason)
    {
        metrics.BadRoomPacket(reason);
        Log.BadPacket(logger, session.ConnectionId, reason);
    }

    /// <summary>
    /// What one socket's receive loop reuses from packet to packet, made at first use: a socket that
    /// only connects costs none of it.
    /// </summary>
    private sealed class PacketScratch : IDisposable
    {
        private PacketWriter? _writer;
        private List<RoomSession>? _members;
        private List<string>? _userIds;
        private List<ReadOnlyMemory<byte>>? _sockJsPackets;
        private List<byte[]>? _rented;

        public PacketWriter Writer => _writer ??= new();

        public List<RoomSession> Members => _members ??= [];

        public List<string> UserIds => _userIds ??= [];

        /// <summary>The packets of the SockJS frame being handled.</summary>
        public List<ReadOnlyMemory<byte>> SockJsPackets => _sockJsPackets ??= [];

        /// <summary>A pooled buffer for an unescaped packet, returned by <see cref="ReturnSockJsPackets"/>.</summary>
        public byte[] Rent(int length)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            (_rented ??= []).Add(buffer);
            return buffer;
        }

        public void ReturnSockJsPackets()
        {
            _sockJsPackets?.Clear();
            if (_rented is { } rented)
            {
                foreach (var buffer in rented)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                rented.Clear();
            }
        }

        public void Dispose()
        {
            ReturnSockJsPackets();
            _writer?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.RoomSocketConnected, LogLevel.Debug, "Rooms socket {ConnectionId} connected (SockJS: {SockJs}).")]
        public static partial void SocketConnected(ILogger logger, string connectionId, bool sockJs);

        [LoggerMessage(RelayEventIds.RoomSocketDisconnected, LogLevel.Debug, "Rooms socket {ConnectionId} disconnected (close status {CloseStatus}).")]
        public static partial void SocketDisconnected(ILogger logger, string connectionId, WebSocketCloseStatus? closeStatus);

        [LoggerMessage(RelayEventIds.RoomUserReplaced, LogLevel.Debug, "User {UserId} connected to room {RoomId} again; its previous socket is closed with 4409.")]
        public static partial void UserReplaced(ILogger logger, string userId, string roomId);

        [LoggerMessage(RelayEventIds.BadRoomPacket, LogLevel.Debug, "Ignored a packet from rooms socket {ConnectionId}: {Reason}.")]
        public static partial void BadPacket(ILogger logger, string connectionId, BadPacketReason reason);

        [LoggerMessage(RelayEventIds.RoomSocketFailed, LogLevel.Debug, "Rooms socket {ConnectionId} failed.")]
        public static partial void SocketFailed(ILogger logger, string connectionId, Exception exception);
    }
}
