using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Identity;

/// <summary>
/// Which documents a peer may join or pair on: the built-in documents claim, and an app's own
/// authorization policy and handler given the document id as its resource.
/// </summary>
public sealed class DocumentAccessTests
{
    private static readonly TestTokens Tokens = TestTokens.Hs256();

    private static Dictionary<string, string?> ClaimSettings()
    {
        var settings = Tokens.GatewaySettings();
        settings["Relay:Identity:DocumentsClaim"] = "docs";
        return settings;
    }

    [Fact]
    public async Task Join_OfDocumentsTheClaimLists_Introduces_AndStarAllowsAny()
    {
        await using var gateway = await TestGateway.StartAsync(ClaimSettings());
        await using var alice = await TestPeer.ConnectAsync(gateway, "alice", options: TestTokens.Bearer(Tokens.For("alice", ["notes", "plans"])));
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob", options: TestTokens.Bearer(Tokens.For("bob", ["*"])));

        await alice.JoinAsync("notes", "plans");
        await bob.JoinAsync("plans", "anything");
        await alice.ExpectIntroductionAsync("bob", "plans");
        await bob.ExpectIntroductionAsync("alice", "plans");
    }

    [Fact]
    public async Task Join_NamingAForbiddenDocument_Closes4403_AndChangesNothing()
    {
        await using var gateway = await TestGateway.StartAsync(ClaimSettings());
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob", options: TestTokens.Bearer(Tokens.For("bob", ["*"])));
        await bob.JoinAsync("notes", "secret");

        await using var alice = await TestPeer.ConnectAsync(gateway, "alice", options: TestTokens.Bearer(Tokens.For("alice", ["notes"])));
        await alice.JoinAsync("notes", "secret");
        var (status, _) = await alice.Socket.ReceiveCloseAsync();
        Assert.Equal(RelayCloseCodes.Forbidden, (int)status!);

        // Had alice's Join applied, bob's next message would introduce her; it introduces carol.
        await using var carol = await TestPeer.ConnectAsync(gateway, "carol", options: TestTokens.Bearer(Tokens.For("carol", ["notes"])));
        await carol.JoinAsync("notes");
        await bob.ExpectIntroductionAsync("carol", "notes");
    }

    [Fact]
    public async Task Join_WithoutTheClaim_IsForbidden_EvenWithoutPeerBinding()
    {
        var settings = ClaimSettings();
        settings["Relay:Identity:PeerIdClaim"] = null;
        await using var gateway = await TestGateway.StartAsync(settings);
        await using var anonymous = await TestPeer.ConnectAsync(gateway, "anonymous");
        await anonymous.JoinAsync("notes");
        Assert.Equal(RelayCloseCodes.Forbidden, (int)(await anonymous.Socket.ReceiveCloseAsync()).Status!);
    }

    [Fact]
    public async Task Connection_OnAForbiddenDocument_Is403_AndOnAnAllowedOne_Pairs()
    {
        await using var gateway = await TestGateway.StartAsync(ClaimSettings());
        var alices = TestTokens.Bearer(Tokens.For("alice", ["notes"]));
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/connection/alice/bob/secret", alices)).Status);

        using var alice = await gateway.ConnectAsync("/connection/alice/bob/notes", alices);
        using var bob = await gateway.ConnectAsync("/connection/bob/alice/notes", TestTokens.Bearer(Tokens.For("bob", ["notes"])));
        await bob.SendTextAsync("hi");
        Assert.Equal("hi", (await alice.ReceiveMessageAsync()).Text);
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    [Fact]
    public async Task DocumentPolicy_OfTheApp_DecidesWithItsOwnHandler()
    {
        var settings = Tokens.GatewaySettings();
        settings["Relay:Identity:DocumentPolicy"] = "own-folder";
        await using var gateway = await TestGateway.StartAsync(settings, builder =>
        {
            builder.Services.AddSingleton<IAuthorizationHandler, OwnFolderHandler>();
            builder.Services.AddAuthorization(options =>
                options.AddPolicy("own-folder", policy => policy.AddRequirements(new OwnFolderRequirement())));
        });

        await using var alice = await TestPeer.ConnectAsync(gateway, "alice", options: TestTokens.Bearer(Tokens.For("alice")));
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob", options: TestTokens.Bearer(Tokens.For("bob")));
        await alice.JoinAsync("alice:notes");
        await bob.JoinAsync("bob:notes", "alice:notes");
        Assert.Equal(RelayCloseCodes.Forbidden, (int)(await bob.Socket.ReceiveCloseAsync()).Status!);

        var (status, _) = await gateway.RefusedHandshakeAsync("/connection/bob/alice/alice:notes", TestTokens.Bearer(Tokens.For("bob")));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        using var own = await gateway.ConnectAsync("/connection/alice/bob/alice:notes", TestTokens.Bearer(Tokens.For("alice")));
        Assert.Equal(WebSocketState.Open, own.State);
        await own.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Origins_FromABrowserOnAnotherSite_Are403_WhileAllowedOnesAndNonBrowsersConnect()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:AllowedOrigins:0"] = "https://app.example.com",
            ["Relay:AllowedOrigins:1"] = "http://localhost:5173/",
        });

        static Action<ClientWebSocketOptions> From(string origin) => options => options.SetRequestHeader("Origin", origin);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/introduction/alice", From("https://evil.example.net"))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/connection/a/b/doc", From("https://app.example.com.evil.net"))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/introduction/alice", From("null"))).Status);

        using var allowed = await gateway.ConnectAsync("/introduction/alice", From("https://APP.example.com"));
        using var local = await gateway.ConnectAsync("/introduction/bob", From("http://localhost:5173"));
        using var server = await gateway.ConnectAsync("/introduction/carol");
        Assert.All([allowed, local, server], socket => Assert.Equal(WebSocketState.Open, socket.State));
        await Task.WhenAll(allowed.CloseQuietlyAsync(), local.CloseQuietlyAsync(), server.CloseQuietlyAsync());
    }

    private sealed class OwnFolderRequirement : IAuthorizationRequirement;

    /// <summary>An app's rule: a peer may use the documents under its own name.</summary>
    private sealed class OwnFolderHandler : AuthorizationHandler<OwnFolderRequirement, string>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, OwnFolderRequirement requirement, string documentId)
        {
            if (context.User.FindFirst("sub")?.Value is { } subject && documentId.StartsWith(subject + ":", StringComparison.Ordinal))
            {
                context.Succeed(requirement);
            }

            return Task.CompletedTask;
        }
    }
}
