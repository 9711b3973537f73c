using Microsoft.AspNetCore.Routing.Patterns;
using Yarp.ReverseProxy.Configuration;

namespace Relay.Configuration;

/// <summary>
/// Checks every YARP route that names a relay role, when the proxy configuration loads or reloads. All
/// of a route's problems are reported in one exception; YARP gathers the exceptions of all routes, so a
/// bad configuration fails start-up with every error listed (and a bad reload is rejected).
/// </summary>
internal sealed class RelayRouteConfigFilter : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => new(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        if (route.Metadata is null || !route.Metadata.TryGetValue(RelayRoutes.MetadataKey, out var value))
        {
            return new(route);
        }

        var errors = Validate(route, value);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"Relay route '{route.RouteId}' is invalid: {string.Join(" ", errors)}");
        }

        return new(route);
    }

    internal static List<string> Validate(RouteConfig route, string? roleName)
    {
        var errors = new List<string>();
        if (!RelayRoutes.TryParseRole(roleName, out var role))
        {
            errors.Add($"Metadata '{RelayRoutes.MetadataKey}' is '{roleName}'; expected 'Introduction' or 'Connection'.");
        }

        if (!string.IsNullOrEmpty(route.ClusterId))
        {
            errors.Add($"It names cluster '{route.ClusterId}'; relay routes are served by the relay and take no ClusterId.");
        }

        // Match is required by YARP but unset in code-first configuration that forgot it; YARP's own
        // validator only runs after the filters.
        var path = route.Match?.Path;
        if (string.IsNullOrEmpty(path))
        {
            errors.Add("It has no Match.Path; a relay route needs a path template with its route values.");
            return errors;
        }

        RoutePattern pattern;
        try
        {
            pattern = RoutePatternFactory.Parse(path);
        }
        catch (RoutePatternException ex)
        {
            errors.Add($"Its Match.Path '{path}' is not a valid route template: {ex.Message}");
            return errors;
        }

        foreach (var name in RelayRoutes.RequiredRouteValues(role))
        {
            if (pattern.GetParameter(name) is null)
            {
                errors.Add($"Its Match.Path '{path}' lacks the route value '{{{name}}}' the {role} role needs.");
            }
        }

        return errors;
    }
}
