using Microsoft.AspNetCore.Authorization;

namespace Relay.Identity;

/// <summary>The built-in document rule: the user's <see cref="RelayIdentityOptions.DocumentsClaim"/> lists the document, or <c>*</c>.</summary>
internal sealed class DocumentsClaimRequirement : IAuthorizationRequirement;

/// <summary>Succeeds <see cref="DocumentsClaimRequirement"/> for a document id (the resource) that the user's claim lists.</summary>
internal sealed class DocumentsClaimHandler(RelayOptions options) : AuthorizationHandler<DocumentsClaimRequirement, string>
{
    private const string AnyDocument = "*";

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, DocumentsClaimRequirement requirement, string documentId)
    {
        if (options.Identity.DocumentsClaim is { } claimType)
        {
            foreach (var claim in context.User.FindAll(claimType))
            {
                if (claim.Value == AnyDocument || string.Equals(claim.Value, documentId, StringComparison.Ordinal))
                {
                    context.Succeed(requirement);
                    break;
                }
            }
        }

        return Task.CompletedTask;
    }
}
