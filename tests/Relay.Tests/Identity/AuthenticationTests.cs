using System.Net;
using System.Net.WebSockets;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Identity;

/// <summary>
/// JWT bearer tokens bound to relay identities: real HS256 tokens validated from the configuration
/// <c>dotnet user-jwts</c> writes, sent by header, query or route value; each way a token can be wrong is
/// 401 before the handshake, and a token for another peer is 403.
/// </summary>
public sealed class AuthenticationTests
{
    private static readonly TestTokens Tokens = TestTokens.Hs256();

    /// <summary>Routes that carry the token in the path, for clients that only take a base URL.</summary>
    private static Dictionary<string, string?> Settings()
    {
        var settings = Tokens.GatewaySettings();
        settings["ReverseProxy:Routes:t-introduction:Match:Path"] = "/t/{access_token}/introduction/{peerId}";
        settings["ReverseProxy:Routes:t-introduction:Metadata:Relay"] = "Introduction";
        settings["ReverseProxy:Routes:t-connection:Match:Path"] = "/t/{access_token}/connection/{localPeerId}/{remotePeerId}/{documentId}";
        settings["ReverseProxy:Routes:t-connection:Metadata:Relay"] = "Connection";

        // The relay and authentication at Debug, so the tests see that no token reaches their logs. (ASP.NET
        // Core's own routing and hosting Debug lines print request paths; the default configuration keeps
        // them off, and the README says so.)
        settings["Logging:LogLevel:Default"] = "Debug";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Authentication"] = "Debug";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Authorization"] = "Debug";
        settings["Logging:LogLevel:Relay"] = "Debug";
        return settings;
    }

    [Fact]
    public async Task Introduction_WithTokenInHeaderQueryOrRoute_IsThePeerItNames()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        await using var byHeader = await TestPeer.ConnectAsync(gateway, "alice", options: TestTokens.Bearer(Tokens.For("alice")));
        await using var byQuery = new TestPeerSocket(await gateway.ConnectAsync($"/introduction/bob?access_token={Tokens.For("bob")}"));
        await using var byRoute = new TestPeerSocket(await gateway.ConnectAsync($"/t/{Tokens.For("carol")}/introduction/carol"));

        await byHeader.JoinAsync("doc");
        await byQuery.Socket.SendBinaryAsync(MsgPack.Join("doc"));
        await byRoute.Socket.SendBinaryAsync(MsgPack.Join("doc"));

        var introduced = new HashSet<string>();
        for (var i = 0; i < 2; i++)
        {
            introduced.Add((await byHeader.ReceiveIntroductionAsync()).PeerId);
        }

        Assert.Equal(["bob", "carol"], introduced.Order());
    }

    [Fact]
    public async Task Connection_WithTokenForTheLocalPeer_Pairs_AndForAnotherPeer_Is403()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc", TestTokens.Bearer(Tokens.For("alice")));
        using var bob = await gateway.ConnectAsync($"/t/{Tokens.For("bob")}/connection/bob/alice/doc");
        await alice.SendTextAsync("hello bob");
        Assert.Equal("hello bob", (await bob.ReceiveMessageAsync()).Text);

        var (status, _) = await gateway.RefusedHandshakeAsync("/connection/alice/bob/other", TestTokens.Bearer(Tokens.For("bob")));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        await WebSocketTestExtensions.ClosePairAsync(alice, bob);
    }

    public static TheoryData<string, string> WrongTokens()
    {
        var otherKey = TestTokens.Hs256();
        var now = DateTime.UtcNow;
        return new TheoryData<string, string>
        {
            { "expired", Tokens.For("alice", notBefore: now.AddHours(-2), expires: now.AddHours(-1)) },
            { "signed with another key", otherKey.For("alice") },
            { "for another audience", Tokens.For("alice", audience: "someone-else") },
            { "from another issuer", Tokens.For("alice", issuer: "someone-else") },
            { "not yet valid", Tokens.For("alice", notBefore: now.AddHours(1), expires: now.AddHours(2)) },
            { "not a token", "not.a.token" },
        };
    }

    [Theory]
    [MemberData(nameof(WrongTokens))]
    public async Task Handshake_WithAWrongToken_Is401_ByHeaderQueryAndRoute(string what, string token)
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        var (byHeader, headers) = await gateway.RefusedHandshakeAsync("/introduction/alice", TestTokens.Bearer(token));
        var (byQuery, _) = await gateway.RefusedHandshakeAsync($"/introduction/alice?access_token={Uri.EscapeDataString(token)}");
        var (byRoute, _) = await gateway.RefusedHandshakeAsync($"/t/{Uri.EscapeDataString(token)}/connection/alice/bob/doc");

        Assert.True(byHeader == HttpStatusCode.Unauthorized, what);
        Assert.Equal(HttpStatusCode.Unauthorized, byQuery);
        Assert.Equal(HttpStatusCode.Unauthorized, byRoute);
        Assert.StartsWith("Bearer", Assert.Single(headers!["WWW-Authenticate"]), StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Logs.Entries, entry => entry.Message.Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Handshake_WithoutToken_Is401_AndWithAnotherPeersToken_Is403()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/introduction/alice")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/connection/alice/bob/doc")).Status);

        var bobs = Tokens.For("bob");
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync("/introduction/alice", TestTokens.Bearer(bobs))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync($"/introduction/alice?access_token={bobs}")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.RefusedHandshakeAsync($"/t/{bobs}/introduction/alice")).Status);
        Assert.DoesNotContain(gateway.Logs.Entries, entry => entry.Message.Contains(bobs, StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Entries, entry => entry.Message.Contains("/t/***/introduction/alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rs256Token_FromAnOpenIdProvidersDiscoveredKeys_IsAccepted_AndAnotherKeysIsNot()
    {
        var (provider, tokens) = await OidcTestServer.StartAsync();
        await using var _ = provider;
        await using var gateway = await TestGateway.StartAsync(provider.GatewaySettings());

        using var alice = await gateway.ConnectAsync("/connection/alice/bob/doc", TestTokens.Bearer(tokens.For("alice")));
        Assert.Equal(WebSocketState.Open, alice.State);

        var forged = TestTokens.Rs256(provider.Authority, TestTokens.NewRsaKey()).For("alice");
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/introduction/alice", TestTokens.Bearer(forged))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.RefusedHandshakeAsync("/introduction/alice", TestTokens.Bearer(Tokens.For("alice")))).Status);
        await alice.CloseQuietlyAsync();
    }

    [Fact]
    public async Task WithoutBearerConfiguration_TheRelayStaysOpen()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var socket = await gateway.ConnectAsync("/introduction/anyone");
        Assert.Equal(WebSocketState.Open, socket.State);
        await socket.CloseQuietlyAsync();
    }

    /// <summary>A raw introduction socket, disposed with the test.</summary>
    private sealed class TestPeerSocket(ClientWebSocket socket) : IAsyncDisposable
    {
        public ClientWebSocket Socket { get; } = socket;

        public async ValueTask DisposeAsync()
        {
            await Socket.CloseQuietlyAsync();
            Socket.Dispose();
        }
    }
}
