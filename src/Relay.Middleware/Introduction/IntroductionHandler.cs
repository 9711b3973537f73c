using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Relay.Admission;
using Relay.Configuration;
using Relay.Identity;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Introduction;

/// <summary>
/// Serves <c>/introduction/{peerId}</c>: registers the peer, reads its Join/Leave/heartbeat messages in
/// either dialect, and introduces peers that share documents.
/// </summary>
internal sealed partial class IntroductionHandler(
    IPeerRegistry registry,
    RelaySessions sessions,
    RelaySocketAcceptor acceptor,
    RelayIdPolicy ids,
    RelayAccess access,
    RelayOptions options,
    RelayMetrics metrics,
    ILogger<IntroductionHandler> logger)
{
    private readonly int _maxMessageBytes = options.Introduction.MaxMessageBytes;
    private readonly int _maxDocumentsPerMessage = options.Introduction.MaxDocumentsPerMessage;

    public async Task HandleAsync(HttpContext context, string? peerId)
    {
        if (!await acceptor.AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        if (!ids.IsValid(peerId))
        {
            await acceptor.RefuseAsync(context, StatusCodes.Status400BadRequest, RejectionReason.InvalidId, "Invalid peer id.").ConfigureAwait(false);
            return;
        }

        if (!await acceptor.AuthorizeAsync(context, peerId!).ConfigureAwait(false))
        {
            return;
        }

        // Taken before the handshake is answered, so a reconnecting client's newer socket wins even if the
        // older one's registration runs later.
        var arrival = sessions.NextArrival();
        var socket = await acceptor.AcceptAsync(context).ConfigureAwait(false);
        var session = new PeerSession(peerId!, socket, sessions, options, metrics, logger) { Arrival = arrival };
        sessions.Add(session);
        Log.PeerConnected(logger, session.PeerId);

        if (registry.Register(session) is { } replaced)
        {
            Log.PeerReplaced(logger, session.PeerId);
            metrics.Rejected(RejectionReason.Replaced);
            replaced.RequestClose((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer session for this peer id");
        }

        try
        {
            await ReceiveLoopAsync(session, context.User).ConfigureAwait(false);
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            Log.PeerSocketFailed(logger, session.PeerId, ex);
            RelaySocket.AbortAfterReceiveFailure(socket);
        }
        finally
        {
            registry.Unregister(session);
            session.RequestClose(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription, byRelay: false);
            await session.CloseSent.ConfigureAwait(false);
            sessions.Remove(session);
            Log.PeerDisconnected(logger, session.PeerId, socket.CloseStatus);
            socket.Dispose();
        }
    }

    private async Task ReceiveLoopAsync(PeerSession session, ClaimsPrincipal user)
    {
        var socket = session.Socket;

        // Made at the first message, so a peer that only connects costs nothing here.
        MessageScratch? scratch = null;
        while (true)
        {
            // Waits for the next frame without holding a buffer: an idle peer costs no receive memory.
            using var message = await PooledMessage.ReceiveAsync(socket, _maxMessageBytes).ConfigureAwait(false);
            switch (message.Kind)
            {
                case ReceivedKind.Close:
                    return;
                case ReceivedKind.TooBig:
                    session.CloseByRelay(RelayCloseCodes.MessageTooBig, RejectionReason.MessageTooBig, $"Message larger than {_maxMessageBytes} bytes");
                    await PooledMessage.DiscardUntilCloseAsync(socket).ConfigureAwait(false);
                    return;
            }

            session.Touch();
            await HandleMessageAsync(session, user, message.Memory, message.Type, scratch ??= new MessageScratch()).ConfigureAwait(false);
        }
    }

    /// <summary>Handles one message; completes synchronously (without allocating) unless documents are authorized.</summary>
    private async ValueTask HandleMessageAsync(
        PeerSession session,
        ClaimsPrincipal user,
        ReadOnlyMemory<byte> message,
        WebSocketMessageType type,
        MessageScratch scratch)
    {
        var (request, introductions) = (scratch.Request, scratch.Introductions);
        if (session.IsClosing)
        {
            return;
        }

        var frame = type == WebSocketMessageType.Text
            ? JsonIntroductionCodec.Parse(message.Span, _maxDocumentsPerMessage, request)
            : MessagePackIntroductionCodec.Parse(message, _maxDocumentsPerMessage, request);

        switch (frame)
        {
            case IntroductionFrame.Malformed:
                metrics.ProtocolError(ProtocolErrorReason.Malformed);
                Log.MalformedMessage(logger, session.PeerId, message.Length);
                return;
            case IntroductionFrame.UnknownType:
                metrics.ProtocolError(ProtocolErrorReason.UnknownType);
                Log.IgnoredMessage(logger, session.PeerId);
                return;
            case IntroductionFrame.Heartbeat:
                session.Dialect = DialectOf(session, type, request);
                return;
            case IntroductionFrame.TooManyDocuments:
                session.CloseByRelay(RelayCloseCodes.MessageTooBig, RejectionReason.TooManyDocuments,
                    $"More than {_maxDocumentsPerMessage} documents in one message");
                return;
        }

        session.Dialect = DialectOf(session, type, request);
        if (!AllValid(request.Join) || !AllValid(request.Leave))
        {
            session.CloseByRelay(RelayCloseCodes.BadRequest, RejectionReason.InvalidId, "Invalid document id");
            return;
        }

        // A Join naming a document the user may not use is refused whole: nothing of the message applies.
        if (access.ChecksDocuments && request.Join.Count > 0 && !await access.MayUseAllAsync(user, request.Join).ConfigureAwait(false))
        {
            session.CloseByRelay(RelayCloseCodes.Forbidden, RejectionReason.Forbidden, "Not allowed to join a document of this Join");
            return;
        }

        if (request.Leave.Count > 0)
        {
            registry.Leave(session, request.Leave);
        }

        if (request.Join.Count == 0)
        {
            return;
        }

        switch (registry.Join(session, request.Join, introductions))
        {
            case JoinResult.TooManyDocuments:
                session.CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.TooManyDocuments,
                    $"More than {options.Introduction.MaxDocumentsPerPeer} documents joined");
                return;
            case JoinResult.DocumentFull:
                session.CloseByRelay(RelayCloseCodes.OverLimit, RejectionReason.DocumentFull,
                    $"A document already has {options.Introduction.MaxPeersPerDocument} peers");
                return;
        }

        foreach (var (other, shared) in introductions)
        {
            if (session.TryIntroduce(other.PeerId, shared))
            {
                metrics.IntroductionSent();
            }

            if (other.TryIntroduce(session.PeerId, shared))
            {
                metrics.IntroductionSent();
            }
        }

        introductions.Clear();
    }

    /// <summary>
    /// The dialect a well-formed message shows: binary is MessagePack; JSON arrays tell cevitxe (<c>join</c>,
    /// <c>leave</c>) from 3.x (<c>documentIds</c>); a JSON heartbeat keeps the peer's JSON dialect, and from a
    /// peer that has shown none it is 3.x's, the one JSON client that sends heartbeats.
    /// </summary>
    private static IntroductionDialect DialectOf(PeerSession session, WebSocketMessageType type, IntroductionRequest request) =>
        type != WebSocketMessageType.Text ? IntroductionDialect.MessagePack
        : request.JsonDialect ?? (session.Dialect == IntroductionDialect.MessagePack ? IntroductionDialect.RelayV3Json : session.Dialect);

    private bool AllValid(List<string> documentIds)
    {
        foreach (var documentId in documentIds)
        {
            if (!ids.IsValid(documentId))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>What one session reuses from message to message.</summary>
    private sealed class MessageScratch
    {
        public IntroductionRequest Request { get; } = new();

        public Dictionary<PeerSession, List<string>> Introductions { get; } = [];
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.PeerConnected, LogLevel.Debug, "Peer {PeerId} connected to the introduction channel.")]
        public static partial void PeerConnected(ILogger logger, string peerId);

        [LoggerMessage(RelayEventIds.PeerDisconnected, LogLevel.Debug, "Peer {PeerId} disconnected (close status {CloseStatus}).")]
        public static partial void PeerDisconnected(ILogger logger, string peerId, WebSocketCloseStatus? closeStatus);

        [LoggerMessage(RelayEventIds.PeerReplaced, LogLevel.Debug, "Peer {PeerId} connected again; its previous session is closed with 4409.")]
        public static partial void PeerReplaced(ILogger logger, string peerId);

        [LoggerMessage(RelayEventIds.MalformedMessage, LogLevel.Debug, "Ignored a malformed {Length}-byte message from peer {PeerId}.")]
        public static partial void MalformedMessage(ILogger logger, string peerId, int length);

        [LoggerMessage(RelayEventIds.IgnoredMessage, LogLevel.Debug, "Ignored a message of unknown type from peer {PeerId}.")]
        public static partial void IgnoredMessage(ILogger logger, string peerId);

        [LoggerMessage(RelayEventIds.PeerSocketFailed, LogLevel.Debug, "The introduction socket of peer {PeerId} failed.")]
        public static partial void PeerSocketFailed(ILogger logger, string peerId, Exception exception);
    }
}
