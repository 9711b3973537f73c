using Relay;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the relay to the request pipeline.</summary>
public static class RelayApplicationBuilderExtensions
{
    /// <summary>
    /// Serves relay routes: YARP routes whose <c>Metadata</c> has <c>Relay</c> = a relay role
    /// (<c>Introduction</c>, <c>Connection</c>, <c>Rooms</c>, <c>Sigver</c>, or a targeted-signaling role such as <c>TargetedConnect</c>),
    /// and endpoints mapped with <c>MapRelay</c>. Call it after <c>UseRouting</c> and after authentication,
    /// authorization, CORS and rate limiting, so route policies apply, and before <c>MapReverseProxy</c>.
    /// It also enables WebSockets.
    /// </summary>
    public static IApplicationBuilder UseRelay(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);

        app.UseWebSockets();
        return app.UseMiddleware<RelayMiddleware>();
    }
}
