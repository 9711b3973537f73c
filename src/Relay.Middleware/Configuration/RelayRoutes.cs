using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Relay.Configuration;

/// <summary>The relay endpoints, each a route role.</summary>
internal enum RelayRole
{
    None,
    Introduction,
    Connection,

    /// <summary>The videre-server rooms protocol: raw WebSocket and SockJS under one catch-all route.</summary>
    Rooms,

    /// <summary>Targeted signaling: <c>POST /v1/register</c>.</summary>
    TargetedRegister,

    /// <summary>Targeted signaling: <c>GET /v1/user</c>.</summary>
    TargetedUser,

    /// <summary>Targeted signaling: <c>GET /v1/connect</c> (WebSocket).</summary>
    TargetedConnect,

    /// <summary>Targeted signaling: <c>GET /v1/kick-active-users</c> (admin).</summary>
    TargetedKick,

    /// <summary>Targeted signaling: <c>GET /healthcheck</c>.</summary>
    TargetedHealth,

    /// <summary>Netflux signaling (sigver 18.0.0) under one catch-all route.</summary>
    Sigver,
}

/// <summary>Marks an endpoint mapped by <c>MapRelay</c>.</summary>
internal sealed record RelayEndpointMetadata(RelayRole Role);

/// <summary>
/// How relay routes are recognised and which route values they read. A YARP route is a relay route when
/// its <c>Metadata</c> has <see cref="MetadataKey"/> = one of the <see cref="RelayRole"/> names.
/// </summary>
internal static class RelayRoutes
{
    /// <summary>The route metadata key naming a relay role.</summary>
    public const string MetadataKey = "Relay";

    public const string PeerId = "peerId";
    public const string LocalPeerId = "localPeerId";
    public const string RemotePeerId = "remotePeerId";
    public const string DocumentId = "documentId";
    public const string Key = "key";

    /// <summary>
    /// The catch-all route value of a Rooms route (<c>/echo/{**rest}</c>): what follows the mount,
    /// <c>websocket</c>, <c>info</c> or <c>{server}/{session}/websocket</c>.
    /// </summary>
    public const string RoomsPath = "rest";

    public const string IntroductionPattern = "/introduction/{" + PeerId + "}";
    public const string ConnectionPattern = "/connection/{" + LocalPeerId + "}/{" + RemotePeerId + "}/{" + DocumentId + "}";
    public const string SigverPattern = "/sigver/{**" + Key + "}";
    public const string RoomsPattern = "/echo/{**" + RoomsPath + "}";

    /// <summary>Targeted signaling's endpoints as the Go signal server had them, each its role.</summary>
    public static readonly (string Pattern, RelayRole Role)[] TargetedPatterns =
    [
        ("/v1/register", RelayRole.TargetedRegister),
        ("/v1/user", RelayRole.TargetedUser),
        ("/v1/connect", RelayRole.TargetedConnect),
        ("/v1/kick-active-users", RelayRole.TargetedKick),
        ("/healthcheck", RelayRole.TargetedHealth),
    ];

    private static readonly string[] IntroductionValues = [PeerId];
    private static readonly string[] ConnectionValues = [LocalPeerId, RemotePeerId, DocumentId];
    private static readonly string[] RoomsValues = [RoomsPath];
    private static readonly string[] SigverValues = [Key];

    /// <summary>Route values each role's path template must define.</summary>
    public static IReadOnlyList<string> RequiredRouteValues(RelayRole role) => role switch
    {
        RelayRole.Introduction => IntroductionValues,
        RelayRole.Connection => ConnectionValues,
        RelayRole.Rooms => RoomsValues,
        RelayRole.Sigver => SigverValues,
        _ => [],
    };

    public static RelayRole GetRole(Endpoint? endpoint)
    {
        if (endpoint is null)
        {
            return RelayRole.None;
        }

        if (endpoint.Metadata.GetMetadata<RelayEndpointMetadata>() is { } relay)
        {
            return relay.Role;
        }

        return endpoint.Metadata.GetMetadata<RouteModel>()?.Config.Metadata is { } metadata
            && metadata.TryGetValue(MetadataKey, out var value)
            && TryParseRole(value, out var role)
                ? role
                : RelayRole.None;
    }

    private static readonly RelayRole[] Roles = Enum.GetValues<RelayRole>().Where(role => role != RelayRole.None).ToArray();

    /// <summary>Every role name a route may give, in declaration order.</summary>
    public static IReadOnlyList<string> RoleNames { get; } = Roles.Select(role => role.ToString()).ToArray();

    public static bool TryParseRole(string? value, out RelayRole role)
    {
        for (var i = 0; i < Roles.Length; i++)
        {
            if (string.Equals(value, RoleNames[i], StringComparison.OrdinalIgnoreCase))
            {
                role = Roles[i];
                return true;
            }
        }

        role = RelayRole.None;
        return false;
    }
}
