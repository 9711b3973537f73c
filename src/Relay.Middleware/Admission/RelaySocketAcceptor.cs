using System.Net.WebSockets;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Relay.Cluster;
using Relay.Connection;
using Relay.Identity;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Admission;

/// <summary>The handshake every relay endpoint shares: admission checks, refusals, and the WebSocket accept.</summary>
internal sealed partial class RelaySocketAcceptor(
    RelaySessions sessions,
    RelayOptions options,
    RelayOrigins origins,
    RelayAccess access,
    RelayMetrics metrics,
    ILogger<RelaySocketAcceptor> logger)
{
    /// <summary>
    /// Admission for an endpoint other cluster nodes forward to (pairings, sigver groups): a request claiming to be
    /// forwarded without the cluster's signature is refused with 403; a signed one was admitted and authorized by the
    /// node it reached, and skips those checks here. Null when refused; else whether another node forwarded it.
    /// </summary>
    public async ValueTask<bool?> AdmitForwardableAsync(HttpContext context, PairingForwarder forwarder)
    {
        var origin = forwarder.OriginOf(context);
        if (origin == ForwardedOrigin.Forged)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, RejectionReason.Forbidden,
                "Forwarded requests are only accepted from the relay's own nodes.").ConfigureAwait(false);
            return null;
        }

        var forwarded = origin == ForwardedOrigin.Node;
        return await AdmitAsync(context, forwarded).ConfigureAwait(false) ? forwarded : null;
    }

    /// <summary>
    /// Refuses the request (503 while shutting down, 426 if it is no WebSocket upgrade, 403 from a browser
    /// origin not allowed, 401 without a user when identities are bound) or admits it. A request
    /// <paramref name="forwarded"/> by another node of the cluster had its origin and user checked there.
    /// </summary>
    public async ValueTask<bool> AdmitAsync(HttpContext context, bool forwarded = false)
    {
        if (sessions.IsStopping)
        {
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, RejectionReason.ShuttingDown,
                "The relay is shutting down.").ConfigureAwait(false);
            return false;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.Headers[HeaderNames.Upgrade] = "websocket";
            await RefuseAsync(context, StatusCodes.Status426UpgradeRequired, RejectionReason.NotWebSocket,
                "This relay endpoint only accepts WebSocket connections.").ConfigureAwait(false);
            return false;
        }

        if (forwarded)
        {
            return true;
        }

        if (!origins.Allows(context.Request.Headers.Origin))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, RejectionReason.OriginNotAllowed,
                "Relay sockets are not open to this origin.").ConfigureAwait(false);
            return false;
        }

        return await AuthenticateAsync(context).ConfigureAwait(false);
    }

    /// <summary>Refuses (401, with the scheme's challenge) a request without an authenticated user when identities are bound.</summary>
    public async ValueTask<bool> AuthenticateAsync(HttpContext context)
    {
        if (access.RequiresUser && context.User.Identity?.IsAuthenticated != true)
        {
            // The scheme's challenge says why (WWW-Authenticate: Bearer error="invalid_token", ...).
            // A host without authentication services has no scheme to challenge with.
            if (context.RequestServices.GetService<IAuthenticationSchemeProvider>() is { } schemes
                && await schemes.GetDefaultChallengeSchemeAsync().ConfigureAwait(false) is not null)
            {
                await context.ChallengeAsync().ConfigureAwait(false);
            }

            await RefuseAsync(context, StatusCodes.Status401Unauthorized, RejectionReason.Unauthenticated,
                "Relay sockets need an authenticated user.").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Refuses (403) a request whose path names a peer that is not the authenticated user, or a document the
    /// user may not use; call after the ids are known to be valid.
    /// </summary>
    public async ValueTask<bool> AuthorizeAsync(HttpContext context, string peerId, string? documentId = null)
    {
        if (!access.MayBe(context.User, peerId))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, RejectionReason.Forbidden,
                "The peer id is not the authenticated user's.").ConfigureAwait(false);
            return false;
        }

        return documentId is null || await AuthorizeDocumentAsync(context, documentId).ConfigureAwait(false);
    }

    /// <summary>Refuses (403) a request for a document (a pairing's, a sigver key) that the user may not use.</summary>
    public async ValueTask<bool> AuthorizeDocumentAsync(HttpContext context, string documentId)
    {
        if (!await access.MayUseAsync(context.User, documentId).ConfigureAwait(false))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, RejectionReason.Forbidden,
                "The authenticated user may not use this document.").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    public Task<WebSocket> AcceptAsync(HttpContext context) =>
        context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
        });

    /// <summary>
    /// Accepts a connection half. On an HTTP/1.1 upgrade the relay answers the handshake itself and puts
    /// a <see cref="BatchedOutputStream"/> beneath the WebSocket, so a batch of relayed frames leaves in one
    /// write; otherwise (HTTP/2, a test server) the WebSocket is ASP.NET Core's as usual, and the output null.
    /// </summary>
    public async Task<(WebSocket Socket, BatchedOutputStream? Output)> AcceptBatchedAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is not { IsUpgradableRequest: true } upgrade)
        {
            return (await AcceptAsync(context).ConfigureAwait(false), null);
        }

        // AdmitAsync made sure this is a valid WebSocket request (IsWebSocketRequest checks the key's form).
        var headers = context.Response.Headers;
        headers.Connection = "Upgrade";
        headers.Upgrade = "websocket";
        headers.SecWebSocketAccept = AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
        var opaque = await upgrade.UpgradeAsync().ConfigureAwait(false);
        context.Features.Get<IHttpRequestTimeoutFeature>()?.DisableTimeout();

        var output = new BatchedOutputStream(opaque, context, BatchedOutputStream.BatchBytes, metrics);
        var socket = WebSocket.CreateFromStream(output, new WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
        });
        output.Socket = socket;
        return (socket, output);
    }

    /// <summary>RFC 6455 4.2.2: base64 of the SHA-1 of the client's key and the protocol's GUID.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "RFC 6455 prescribes SHA-1 for the handshake; it proves nothing secret.")]
    internal static string AcceptKey(string key)
    {
        const string Guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        Span<byte> input = stackalloc byte[128];
        var length = System.Text.Encoding.ASCII.GetBytes(key + Guid, input);
        Span<byte> hash = stackalloc byte[System.Security.Cryptography.SHA1.HashSizeInBytes];
        System.Security.Cryptography.SHA1.HashData(input[..length], hash);
        return Convert.ToBase64String(hash);
    }

    public Task RefuseAsync(HttpContext context, int statusCode, RejectionReason reason, string message)
    {
        metrics.Rejected(reason);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            Log.Refused(logger, PathForLog(context), statusCode, reason);
        }

        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message, context.RequestAborted);
    }

    /// <summary>The request path with a token carried in it (an <c>access_token</c> route value) masked: tokens never reach the log.</summary>
    private static string PathForLog(HttpContext context)
    {
        var path = context.Request.Path.ToString();
        return context.GetRouteValue(RelayAuthenticationBuilderExtensions.AccessTokenName) is string { Length: > 0 } token
            ? path.Replace(token, "***", StringComparison.Ordinal)
            : path;
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.RequestRefused, LogLevel.Debug, "Refused relay request {Path} with {StatusCode} ({Reason}).")]
        public static partial void Refused(ILogger logger, string path, int statusCode, RejectionReason reason);
    }
}
