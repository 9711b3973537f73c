using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Admission;

/// <summary>The handshake every relay endpoint shares: admission checks, refusals, and the WebSocket accept.</summary>
internal sealed partial class RelaySocketAcceptor(
    RelaySessions sessions,
    RelayOptions options,
    RelayMetrics metrics,
    ILogger<RelaySocketAcceptor> logger)
{
    /// <summary>Refuses the request (503 while shutting down, 426 if it is no WebSocket upgrade) or admits it.</summary>
    public async ValueTask<bool> AdmitAsync(HttpContext context)
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

        return true;
    }

    public Task<WebSocket> AcceptAsync(HttpContext context) =>
        context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
        });

    public Task RefuseAsync(HttpContext context, int statusCode, RejectionReason reason, string message)
    {
        metrics.Rejected(reason);
        Log.Refused(logger, context.Request.Path, statusCode, reason);
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.RequestRefused, LogLevel.Debug, "Refused relay request {Path} with {StatusCode} ({Reason}).")]
        public static partial void Refused(ILogger logger, PathString path, int statusCode, RejectionReason reason);
    }
}
