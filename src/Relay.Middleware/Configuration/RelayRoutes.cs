using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Relay.Configuration;

/// <summary>The relay's route roles.</summary>
internal enum RelayRole
{
    None,
    Introduction,
    Connection,

    /// <summary>The videre-server rooms protocol: raw WebSocket and SockJS under one catch-all route.</summary>
    Rooms,
}

/// <summary>Marks an endpoint mapped by <c>MapRelay</c>.</summary>
internal sealed record RelayEndpointMetadata(RelayRole Role);

/// <summary>
/// How relay routes are recognised and which route values they read. A YARP route is a relay route when
/// its <c>Metadata</c> has <see cref="MetadataKey"/> = <c>Introduction</c>, <c>Connection</c> or <c>Rooms</c>.
/// </summary>
internal static class RelayRoutes
{
    /// <summary>The route metadata key naming a relay role.</summary>
    public const string MetadataKey = "Relay";

    public const string PeerId = "peerId";
    public const string LocalPeerId = "localPeerId";
    public const string RemotePeerId = "remotePeerId";
    public const string DocumentId = "documentId";

    /// <summary>
    /// The catch-all route value of a Rooms route (<c>/echo/{**rest}</c>): what follows the mount,
    /// <c>websocket</c>, <c>info</c> or <c>{server}/{session}/websocket</c>.
    /// </summary>
    public const string RoomsPath = "rest";

    public const string IntroductionPattern = "/introduction/{" + PeerId + "}";
    public const string ConnectionPattern = "/connection/{" + LocalPeerId + "}/{" + RemotePeerId + "}/{" + DocumentId + "}";

    private static readonly string[] IntroductionValues = [PeerId];
    private static readonly string[] ConnectionValues = [LocalPeerId, RemotePeerId, DocumentId];
    private static readonly string[] RoomsValues = [RoomsPath];

    /// <summary>Route values each role's path template must define.</summary>
    public static IReadOnlyList<string> RequiredRouteValues(RelayRole role) => role switch
    {
        RelayRole.Introduction => IntroductionValues,
        RelayRole.Connection => ConnectionValues,
        RelayRole.Rooms => RoomsValues,
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

    public static bool TryParseRole(string? value, out RelayRole role)
    {
        if (string.Equals(value, nameof(RelayRole.Introduction), StringComparison.OrdinalIgnoreCase))
        {
            role = RelayRole.Introduction;
            return true;
        }

        if (string.Equals(value, nameof(RelayRole.Connection), StringComparison.OrdinalIgnoreCase))
        {
            role = RelayRole.Connection;
            return true;
        }

        if (string.Equals(value, nameof(RelayRole.Rooms), StringComparison.OrdinalIgnoreCase))
        {
            role = RelayRole.Rooms;
            return true;
        }

        role = RelayRole.None;
        return false;
    }
}
