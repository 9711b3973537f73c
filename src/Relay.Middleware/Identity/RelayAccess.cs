using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace Relay.Identity;

/// <summary>
/// Binds relay identities to the authenticated user: whether a peer id is the user's own
/// (<see cref="RelayIdentityOptions.PeerIdClaim"/>), and which documents the user may reach (the document
/// policy, evaluated with the document id as the resource). Checked at the handshake and at each Join; a
/// token that expires later does not end a socket already open.
/// </summary>
internal sealed class RelayAccess(RelayOptions options, IAuthorizationService authorization)
{
    private readonly string? _peerIdClaim = options.Identity.PeerIdClaim;
    private readonly string? _documentPolicy = options.Identity.DocumentPolicy
        ?? (options.Identity.DocumentsClaim is null ? null : RelayIdentityOptions.DocumentsClaimPolicyName);

    /// <summary>True when every relay socket needs an authenticated user.</summary>
    public bool RequiresUser => _peerIdClaim is not null;

    /// <summary>True when documents are checked, so a caller can skip the work when they are not.</summary>
    public bool ChecksDocuments => _documentPolicy is not null;

    /// <summary>Whether <paramref name="user"/> may act as <paramref name="peerId"/>: always, unless peer binding is on.</summary>
    public bool MayBe(ClaimsPrincipal user, string peerId) =>
        _peerIdClaim is null || string.Equals(user.FindFirst(_peerIdClaim)?.Value, peerId, StringComparison.Ordinal);

    /// <summary>Whether <paramref name="user"/> may join or pair on <paramref name="documentId"/>.</summary>
    public async ValueTask<bool> MayUseAsync(ClaimsPrincipal user, string documentId) =>
        _documentPolicy is null
        || (await authorization.AuthorizeAsync(user, documentId, _documentPolicy).ConfigureAwait(false)).Succeeded;

    /// <summary>Whether <paramref name="user"/> may use every one of <paramref name="documentIds"/>.</summary>
    public async ValueTask<bool> MayUseAllAsync(ClaimsPrincipal user, List<string> documentIds)
    {
        foreach (var documentId in documentIds)
        {
            if (!await MayUseAsync(user, documentId).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }
}
