using Microsoft.AspNetCore.Routing.Patterns;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Configuration.RouteValidators;

namespace Relay.Configuration;

/// <summary>
/// YARP's validator for routes that name a relay role, run on every load and reload beside YARP's own.
/// Each problem is added to YARP's list, so a bad configuration fails start-up with every error of every
/// route listed, and a bad reload is rejected whole while the previous configuration stays in force.
/// </summary>
internal sealed class RelayRouteValidator : IRouteValidator
{
    public ValueTask ValidateAsync(RouteConfig routeConfig, IList<Exception> errors)
    {
        if (routeConfig.Metadata is not null && routeConfig.Metadata.TryGetValue(RelayRoutes.MetadataKey, out var role))
        {
            foreach (var error in Validate(routeConfig, role))
            {
                errors.Add(new ArgumentException($"Relay route '{routeConfig.RouteId}' is invalid: {error}"));
            }
        }

        return ValueTask.CompletedTask;
    }

    internal static List<string> Validate(RouteConfig route, string? roleName)
    {
        var errors = new List<string>();
        if (!RelayRoutes.TryParseRole(roleName, out var role))
        {
            errors.Add($"Metadata '{RelayRoutes.MetadataKey}' is '{roleName}'; expected one of {string.Join(", ", RelayRoutes.RoleNames.Select(name => $"'{name}'"))}.");
        }

        if (!string.IsNullOrEmpty(route.ClusterId))
        {
            errors.Add($"It names cluster '{route.ClusterId}'; relay routes are served by the relay and take no ClusterId.");
        }

        // Match is required by YARP, whose own validator reports its absence too; code-first configuration
        // may still leave it null.
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
            var parameter = pattern.GetParameter(name);
            if (parameter is null)
            {
                errors.Add($"Its Match.Path '{path}' lacks the route value '{{{name}}}' the {role} role needs.");
            }
            else if (role is RelayRole.Rooms or RelayRole.Sigver && !(parameter.IsCatchAll && ReferenceEquals(parameter, pattern.Parameters[^1])))
            {
                // Rooms serve their paths under it; a sigver key is everything after the mount, slashes included.
                var example = role == RelayRole.Rooms ? "/echo" : "/sigver";
                errors.Add($"Its Match.Path '{path}' must end with the catch-all '{{**{name}}}' the {role} role serves its paths under (e.g. '{example}/{{**{name}}}').");
            }
        }

        return errors;
    }
}
