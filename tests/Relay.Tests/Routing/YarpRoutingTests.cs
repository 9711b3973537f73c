using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Routing;

/// <summary>Relay routes are YARP routes: match, host, and authorization policy apply to them as to proxied routes.</summary>
public sealed class YarpRoutingTests
{
    [Fact]
    public async Task RelayRoutes_UnderPathPrefix_ServeThereAndNotAtTheRoot()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:relay-introduction:Match:Path"] = "/relay/introduction/{peerId}",
            ["ReverseProxy:Routes:relay-connection:Match:Path"] = "/relay/connection/{localPeerId}/{remotePeerId}/{documentId}",
        });

        await using var alice = await TestPeer.ConnectAsync(gateway, "alice", prefix: "/relay");
        await using var bob = await TestPeer.ConnectAsync(gateway, "bob", prefix: "/relay");
        await alice.JoinAsync("doc");
        await bob.JoinAsync("doc");
        await alice.ExpectIntroductionAsync("bob", "doc");

        using var a = await gateway.ConnectAsync("/relay/connection/alice/bob/doc");
        using var b = await gateway.ConnectAsync("/relay/connection/bob/alice/doc");
        await a.SendTextAsync("under a prefix");
        Assert.Equal("under a prefix", (await b.ReceiveMessageAsync()).Text);
        await WebSocketTestExtensions.ClosePairAsync(a, b);

        using var root = await gateway.Http.GetAsync("/introduction/carol");
        Assert.Equal(HttpStatusCode.NotFound, root.StatusCode);
    }

    [Fact]
    public async Task RelayRoute_WithHosts_ServesOnlyThoseHosts()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:relay-introduction:Match:Hosts:0"] = "relay.test",
        });

        using var matching = await ConnectWithHostAsync(gateway, "relay.test", "/introduction/alice");
        Assert.Equal(WebSocketState.Open, matching.State);
        await matching.CloseQuietlyAsync();

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => ConnectWithHostAsync(gateway, "other.test", "/introduction/alice"));
        Assert.Contains("404", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthorizationPolicy_AppliesToRelayAndProxiedRoutesAlike()
    {
        await using var backend = await TestBackend.StartAsync();
        var settings = backend.GatewaySettings();
        settings["ReverseProxy:Routes:relay-introduction:AuthorizationPolicy"] = "members";
        settings["ReverseProxy:Routes:relay-connection:AuthorizationPolicy"] = "members";
        settings["ReverseProxy:Routes:api:AuthorizationPolicy"] = "members";
        await using var gateway = await TestGateway.StartAsync(settings, builder =>
        {
            builder.Services.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
            builder.Services.AddAuthorizationBuilder().AddPolicy("members", policy => policy.RequireClaim(ClaimTypes.Name));
        });

        // Without credentials: both kinds of route answer 401.
        using (var anonymousApi = await gateway.Http.GetAsync("/api/data"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymousApi.StatusCode);
        }

        using (var anonymous = new ClientWebSocket())
        {
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => anonymous.ConnectAsync(gateway.WebSocketUrl("/introduction/alice"), CancellationToken.None));
            Assert.Contains("401", refused.Message, StringComparison.Ordinal);
        }

        // With credentials: both work.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/data");
        request.Headers.Add(HeaderAuthenticationHandler.Header, "alice");
        using var api = await gateway.Http.SendAsync(request);
        Assert.Equal("backend saw /api/data", await api.Content.ReadAsStringAsync());

        using var a = await gateway.ConnectAsync("/connection/alice/bob/doc", o => o.SetRequestHeader(HeaderAuthenticationHandler.Header, "alice"));
        using var b = await gateway.ConnectAsync("/connection/bob/alice/doc", o => o.SetRequestHeader(HeaderAuthenticationHandler.Header, "bob"));
        await a.SendTextAsync("authorized");
        Assert.Equal("authorized", (await b.ReceiveMessageAsync()).Text);
        await WebSocketTestExtensions.ClosePairAsync(a, b);
    }

    [Fact]
    public async Task ProxiedRoute_KeepsServingWhileRelayTrafficFlows()
    {
        await using var backend = await TestBackend.StartAsync();
        await using var gateway = await TestGateway.StartAsync(backend.GatewaySettings());
        using var a = await gateway.ConnectAsync("/connection/alice/bob/doc");
        using var b = await gateway.ConnectAsync("/connection/bob/alice/doc");
        const int Messages = 2_000;

        var pipe = Task.Run(async () =>
        {
            var payload = new byte[4096];
            for (var i = 0; i < Messages; i++)
            {
                payload[0] = (byte)i;
                await a.SendBinaryAsync(payload);
            }
        });
        var received = Task.Run(async () =>
        {
            for (var i = 0; i < Messages; i++)
            {
                Assert.Equal((byte)i, (await b.ReceiveMessageAsync()).Payload[0]);
            }
        });
        var proxied = Enumerable.Range(0, 50).Select(async i =>
        {
            var body = await gateway.Http.GetStringAsync($"/api/item/{i}");
            Assert.Equal($"backend saw /api/item/{i}", body);
        });

        await Task.WhenAll(proxied.Append(pipe).Append(received));
        await WebSocketTestExtensions.ClosePairAsync(a, b);
    }

    internal static async Task<ClientWebSocket> ConnectWithHostAsync(TestGateway gateway, string host, string path)
    {
        // Resolve any host name to the gateway's loopback address, so the Host header is the name asked for.
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPAddress.Loopback, gateway.HttpUri.Port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var invoker = new HttpMessageInvoker(handler);
        var client = new ClientWebSocket();
        try
        {
            await client.ConnectAsync(new Uri($"ws://{host}:{gateway.HttpUri.Port}{path}"), invoker, CancellationToken.None);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Authenticates whoever names themselves in a header: enough to exercise an authorization policy.</summary>
    private sealed class HeaderAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "TestHeader";
        public const string Header = "X-Test-User";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue(Header, out var user) || string.IsNullOrEmpty(user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user.ToString())], SchemeName);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
        }
    }
}
