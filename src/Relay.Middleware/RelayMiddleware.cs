using Microsoft.AspNetCore.Http;
using Relay.Configuration;
using Relay.Connection;
using Relay.Introduction;
using Relay.Rooms;
using Relay.Targeted;
using Relay.Sigver;

namespace Relay;

/// <summary>
/// Serves the endpoint routing chose when it is a relay route (a YARP route with relay metadata, or a
/// <c>MapRelay</c> endpoint), and passes everything else on. It runs after routing, authentication,
/// authorization, CORS and rate limiting, so every route policy applies to relay traffic as it does to
/// proxied traffic.
/// </summary>
internal sealed class RelayMiddleware(RequestDelegate next, RelayDispatcher dispatcher)
{
    public Task InvokeAsync(HttpContext context)
    {
        var role = RelayRoutes.GetRole(context.GetEndpoint());
        return role == RelayRole.None ? next(context) : dispatcher.DispatchAsync(context, role);
    }
}

/// <summary>Hands a relay request to the handler of its role, with its route values.</summary>
internal sealed class RelayDispatcher(IntroductionHandler introduction, ConnectionHandler connection, RoomsHandler rooms, TargetedHandler targeted, SigverHandler sigver)
{
    public Task DispatchAsync(HttpContext context, RelayRole role)
    {
        var values = context.Request.RouteValues;
        return role switch
        {
            RelayRole.Introduction => introduction.HandleAsync(context, values[RelayRoutes.PeerId] as string),
            RelayRole.Connection => connection.HandleAsync(
                context,
                values[RelayRoutes.LocalPeerId] as string,
                values[RelayRoutes.RemotePeerId] as string,
                values[RelayRoutes.DocumentId] as string),
            RelayRole.Rooms => rooms.HandleAsync(context, values[RelayRoutes.RoomsPath] as string),
            RelayRole.TargetedRegister or RelayRole.TargetedUser or RelayRole.TargetedConnect or RelayRole.TargetedKick or RelayRole.TargetedHealth =>
                targeted.HandleAsync(context, role),
            RelayRole.Sigver => sigver.HandleAsync(context),
            _ => throw new ArgumentOutOfRangeException(nameof(role)),
        };
    }
}
