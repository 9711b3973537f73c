using System.Net.WebSockets;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Relay.Admission;
using Relay.Cluster;
using Relay.Configuration;
using Relay.Lifetime;
using Relay.Sigver.Protocol;
using Relay.Telemetry;

namespace Relay.Sigver;

/// <summary>
/// Serves the sigver 18.0.0 protocol (Netflux signaling) on a route ending in <c>{**key}</c>: the key is the raw
/// path after the mount; each binary frame is a protobuf <c>Message</c>.
/// </summary>
internal sealed partial class SigverHandler(
    ISigverGroups groups,
    RelaySessions sessions,
    RelaySocketAcceptor acceptor,
    RelayOptions options,
    RelayMetrics metrics,
    ClusterSigver cluster,
    PairingForwarder forwarder,
    ILogger<SigverHandler> logger)
{
    /// <summary>Longest key, in UTF-16 code units as the original counts (exactly 512 is accepted).</summary>
    public const int MaxKeyLength = 512;

    private readonly int _maxMessageBytes = options.Sigver.MaxMessageBytes;

    public async Task HandleAsync(HttpContext context)
    {
        // A peer another node forwarded was admitted and authorized there; a forged one is refused.
        if (await acceptor.AdmitForwardableAsync(context, forwarder).ConfigureAwait(false) is not { } forwarded)
        {
            return;
        }

        // A group key is a document for the document policy: a forbidden one is refused before the handshake.
        var key = RawKey(context);
        var valid = key.Length is > 0 and <= MaxKeyLength;
        if (valid && !forwarded && !await acceptor.AuthorizeDocumentAsync(context, key).ConfigureAwait(false))
        {
            return;
        }

        if (!valid || !cluster.Enabled)
        {
            await ServeAsync(context, key).ConfigureAwait(false);
            return;
        }

        // On a cluster the group meets on one node: piped there if that is another, else held here while served.
        if (await ForwardedAsync(context, key, forwarded).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            await ServeAsync(context, key).ConfigureAwait(false);
        }
        finally
        {
            cluster.Release(key);
        }
    }

    /// <summary>
    /// Pipes the request to the node the key's group meets on, if that is another, for as long as it lives (true);
    /// false: the group meets here, and this node holds the key.
    /// </summary>
    private async Task<bool> ForwardedAsync(HttpContext context, string key, bool forwarded)
    {
        var (node, url) = await cluster.PlaceAsync(key, forwarded).ConfigureAwait(false);
        if (url is null || await forwarder.ForwardAsync(context, url, rawTarget: true).ConfigureAwait(false))
        {
            return url is not null;
        }

        // That node did not answer: take its record over (or find a newer one) and go where it says.
        (_, url) = await cluster.PlaceAsync(key, forwarded, unreachable: node).ConfigureAwait(false);
        return url is not null && await forwarder.ForwardAsync(context, url, rawTarget: true).ConfigureAwait(false);
    }

    private async Task ServeAsync(HttpContext context, string key)
    {
        var socket = await acceptor.AcceptAsync(context).ConfigureAwait(false);
        var peer = new SigverPeer(key, socket, sessions, options, metrics, logger) { OnClosedByRelay = groups.Leave };
        sessions.Add(peer);
        try
        {
            if (key.Length is 0 or > MaxKeyLength)
            {
                // As the original, after the handshake: Netflux sees a close code, not a failed upgrade.
                peer.CloseBySigver(RelayCloseCodes.SigverInvalidKey, RejectionReason.InvalidId,
                    key.Length == 0 ? "The key is empty" : $"The key is longer than {MaxKeyLength} characters");
            }
            else
            {
                Log.PeerConnected(logger, key);
                groups.Join(peer);
            }

            await ReceiveLoopAsync(peer).ConfigureAwait(false);
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            Log.SocketFailed(logger, key, ex);
            RelaySocket.AbortAfterReceiveFailure(socket);
        }
        finally
        {
            groups.Leave(peer);
            peer.RequestClose(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription, byRelay: false);
            await peer.CloseSent.ConfigureAwait(false);
            sessions.Remove(peer);
            Log.PeerDisconnected(logger, key, socket.CloseStatus);
            socket.Dispose();
        }
    }

    /// <summary>
    /// The raw path after the mount, as the original reads it: not percent-decoded, no query string, further
    /// slashes kept. The mount is the path base and every segment of the route before its <c>{**key}</c>.
    /// </summary>
    internal static string RawKey(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            // Absolute-form or missing targets: the decoded path is the best there is.
            raw = context.Request.PathBase.Add(context.Request.Path).Value ?? "/";
        }

        var query = raw.IndexOfAny(['?', '#']);
        var path = query < 0 ? raw.AsSpan() : raw.AsSpan(0, query);
        var skip = CountSegments(context.Request.PathBase.Value) + KeySegmentIndex(context.GetEndpoint());
        var start = 0;
        for (var i = 0; i < skip; i++)
        {
            var next = path[(start + 1)..].IndexOf('/');
            if (next < 0)
            {
                return string.Empty;
            }

            start += next + 1;
        }

        return path[(start + 1)..].ToString();
    }

    private static int CountSegments(string? pathBase) =>
        string.IsNullOrEmpty(pathBase) ? 0 : pathBase.AsSpan().Count('/') - (pathBase.EndsWith('/') ? 1 : 0);

    private static int KeySegmentIndex(Endpoint? endpoint)
    {
        if (endpoint is RouteEndpoint route)
        {
            var segments = route.RoutePattern.PathSegments;
            for (var i = 0; i < segments.Count; i++)
            {
                foreach (var part in segments[i].Parts)
                {
                    if (part is Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { Name: RelayRoutes.Key })
                    {
                        return i;
                    }
                }
            }
        }

        return 0;
    }

    private async Task ReceiveLoopAsync(SigverPeer peer)
    {
        var socket = peer.Socket;

        // Made at the first message, so a peer that only connects costs nothing here.
        Message? scratch = null;
        while (true)
        {
            using var message = await PooledMessage.ReceiveAsync(socket, _maxMessageBytes).ConfigureAwait(false);
            switch (message.Kind)
            {
                case ReceivedKind.Close:
                    return;
                case ReceivedKind.TooBig:
                    peer.CloseBySigver(RelayCloseCodes.MessageTooBig, RejectionReason.MessageTooBig, $"Frame larger than {_maxMessageBytes} bytes");
                    await PooledMessage.DiscardUntilCloseAsync(socket).ConfigureAwait(false);
                    return;
            }

            if (!HandleMessage(peer, message.Memory.Span, message.Type, scratch ??= new Message()))
            {
                await PooledMessage.DiscardUntilCloseAsync(socket).ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>Acts on one frame; false when the frame closed the peer (4003).</summary>
    private bool HandleMessage(SigverPeer peer, ReadOnlySpan<byte> frame, WebSocketMessageType type, Message message)
    {
        if (peer.IsClosing)
        {
            // Closing (4001, or a close the relay requested): frames until the peer's close frame are dropped.
            return true;
        }

        message.Content = null;
        message.ClearType();
        string? error = null;
        if (type != WebSocketMessageType.Binary)
        {
            error = "Text frames are no sigver messages";
        }
        else if (frame.IsEmpty)
        {
            error = "Empty frame";
        }
        else
        {
            try
            {
                message.MergeFrom(frame);
            }
            catch (InvalidProtocolBufferException)
            {
                // Not the parser's message: a close reason must fit in 123 bytes.
                error = "Not a protobuf sigver message";
            }
        }

        if (error is null)
        {
            switch (message.TypeCase)
            {
                case Message.TypeOneofCase.Content:
                    error = Relay(peer, message.Content!);
                    break;
                case Message.TypeOneofCase.Heartbeat:
                    peer.HeartbeatReceived();
                    break;
                case Message.TypeOneofCase.Stable:
                    groups.Stable(peer);
                    break;
                case Message.TypeOneofCase.TryAnother:
                    groups.TryAnother(peer);
                    break;
                case Message.TypeOneofCase.None:
                    error = "A message of no known type";
                    break;

                // isFirst is the server's; from a peer it is ignored, as by the original.
            }
        }

        if (error is null)
        {
            return true;
        }

        peer.CloseBySigver(RelayCloseCodes.SigverBadMessage, RejectionReason.Malformed, error);
        return false;
    }

    /// <summary>Content, relayed; an error if it has no type (data, isError or isEnd).</summary>
    private string? Relay(SigverPeer peer, Content content)
    {
        if (content.TypeCase == Content.TypeOneofCase.None)
        {
            return "Content of no type";
        }

        var relayed = groups.Content(peer, content);
        if (relayed > 0)
        {
            metrics.SigverRelayed(relayed, content.TypeCase == Content.TypeOneofCase.Data ? content.Data.Length : 0);
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.SigverPeerConnected, LogLevel.Debug, "Sigver peer connected on key {Key}.")]
        public static partial void PeerConnected(ILogger logger, string key);

        [LoggerMessage(RelayEventIds.SigverPeerDisconnected, LogLevel.Debug, "Sigver peer on key {Key} disconnected (close status {CloseStatus}).")]
        public static partial void PeerDisconnected(ILogger logger, string key, WebSocketCloseStatus? closeStatus);

        [LoggerMessage(RelayEventIds.SigverSocketFailed, LogLevel.Debug, "The sigver socket on key {Key} failed.")]
        public static partial void SocketFailed(ILogger logger, string key, Exception exception);
    }
}
