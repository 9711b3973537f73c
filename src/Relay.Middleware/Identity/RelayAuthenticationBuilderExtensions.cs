using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Authentication;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>JWT bearer authentication that reads tokens the ways relay clients can send them.</summary>
public static class RelayAuthenticationBuilderExtensions
{
    /// <summary>The query parameter and route value a token may arrive in: <c>access_token</c>.</summary>
    public const string AccessTokenName = "access_token";

    /// <summary>
    /// Adds the <c>Bearer</c> scheme, bound from <c>Authentication:Schemes:Bearer</c> the standard way
    /// (<c>ValidIssuer</c>, <c>ValidAudiences</c>, <c>SigningKeys</c>, <c>Authority</c>: the keys
    /// <c>dotnet user-jwts</c> writes). A token is read from the <c>Authorization</c> header, else from an
    /// <c>access_token</c> query parameter (browsers cannot set WebSocket headers), else from an
    /// <c>access_token</c> route value (a route such as <c>/t/{access_token}/introduction/{peerId}</c>, for
    /// clients that only take a base URL). Claims keep their JWT names (<c>sub</c>), as relay settings name them.
    /// </summary>
    public static AuthenticationBuilder AddRelayJwtBearer(this AuthenticationBuilder builder, Action<JwtBearerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        return builder.AddJwtBearer(options =>
        {
            options.MapInboundClaims = false;
            options.Events = new JwtBearerEvents { OnMessageReceived = ReadTokenFromQueryOrRoute };
            configure?.Invoke(options);
        });
    }

    private static Task ReadTokenFromQueryOrRoute(MessageReceivedContext context)
    {
        var request = context.Request;
        if (string.IsNullOrEmpty(context.Token) && request.Headers.Authorization.Count == 0)
        {
            context.Token = request.Query[AccessTokenName] is { Count: > 0 } query
                ? query.ToString()
                : context.HttpContext.GetRouteValue(AccessTokenName) as string;
        }

        return Task.CompletedTask;
    }
}
