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
    /// Maps <c>{prefix}/introduction/{peerId}</c>,
    /// <c>{prefix}/connection/{localPeerId}/{remotePeerId}/{documentId}</c> and <c>{prefix}/sigver/{**key}</c>. The returned builder takes
    /// the usual conventions (<c>RequireAuthorization</c>, <c>RequireHost</c>, <c>RequireRateLimiting</c>…).
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
        return group;
    }
}
