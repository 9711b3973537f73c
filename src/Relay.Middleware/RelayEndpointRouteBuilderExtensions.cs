using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Relay;
using Relay.Configuration;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps relay endpoints in code, for apps that do not configure them as YARP routes.</summary>
public static class RelayEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps every relay protocol under <paramref name="prefix"/>, at the paths the default configuration
    /// gives them: <c>/introduction/{peerId}</c> and <c>/connection/{localPeerId}/{remotePeerId}/{documentId}</c>
    /// (@localfirst/relay), <c>/echo/{**rest}</c> (videre rooms), <c>/v1/register</c>, <c>/v1/user</c>,
    /// <c>/v1/connect</c>, <c>/v1/kick-active-users</c> and <c>/healthcheck</c> (targeted signaling) and
    /// <c>/sigver/{**key}</c> (Netflux). The returned builder takes the usual conventions
    /// (<c>RequireAuthorization</c>, <c>RequireHost</c>, <c>RequireRateLimiting</c>…).
    /// WebSockets must be enabled (<c>UseRelay</c> or <c>UseWebSockets</c>).
    /// </summary>
    public static IEndpointConventionBuilder MapRelay(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(endpoints);

        var dispatcher = endpoints.ServiceProvider.GetRequiredService<RelayDispatcher>();
        var group = endpoints.MapGroup(prefix);
        group.Map(RelayRoutes.IntroductionPattern, context => dispatcher.DispatchAsync(context, RelayRole.Introduction))
            .WithMetadata(new RelayEndpointMetadata(RelayRole.Introduction))
            .WithDisplayName("Relay introduction");
        group.Map(RelayRoutes.ConnectionPattern, context => dispatcher.DispatchAsync(context, RelayRole.Connection))
            .WithMetadata(new RelayEndpointMetadata(RelayRole.Connection))
            .WithDisplayName("Relay connection");
        group.Map(RelayRoutes.SigverPattern, context => dispatcher.DispatchAsync(context, RelayRole.Sigver))
            .WithMetadata(new RelayEndpointMetadata(RelayRole.Sigver))
            .WithDisplayName("Relay sigver");
        group.Map(RelayRoutes.RoomsPattern, context => dispatcher.DispatchAsync(context, RelayRole.Rooms))
            .WithMetadata(new RelayEndpointMetadata(RelayRole.Rooms))
            .WithDisplayName("Relay rooms");
        foreach (var (pattern, role) in RelayRoutes.TargetedPatterns)
        {
            group.Map(pattern, context => dispatcher.DispatchAsync(context, role))
                .WithMetadata(new RelayEndpointMetadata(role))
                .WithDisplayName($"Relay targeted {pattern}");
        }

        return group;
    }
}
