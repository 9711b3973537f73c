using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary><c>/metrics</c> on the real gateway: what it serves, where, and to whom.</summary>
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Metrics_WhenScraped_ServesRelayAspNetCoreKestrelAndRuntimeFamilies()
    {
        await using var gateway = await TestGateway.StartAsync();
        using (await gateway.Http.GetAsync("/healthz"))
        {
        }

        var scrape = await Scrape.FromAsync(gateway);

        foreach (var family in new[]
        {
            "relay_active_peers", "relay_introductions_total", "relay_documents", "relay_pending_connections",
            "relay_active_pairings", "relay_pairings_total", "relay_relayed_bytes_total", "relay_relayed_messages_total",
            "relay_rejected_connections_total", "relay_protocol_errors_total",
            "http_server_request_duration_seconds", "http_server_active_requests", "kestrel_active_connections",
            "dotnet_process_cpu_time_seconds_total", "dotnet_process_memory_working_set_bytes", "dotnet_gc_collections_total",
            "target_info",
        })
        {
            Assert.True(scrape.HasFamily(family), $"/metrics has no {family} family.");
        }

        Assert.Equal(0, scrape.Value("relay_active_peers"));
        Assert.Equal(0, scrape.Value("relay_rejected_connections_total", ("error_type", "pending_timeout")));
        Assert.Equal("Relay", scrape.Of("relay_active_peers").Single().Labels["otel_scope_name"]);
        Assert.Equal("relay-gateway", scrape.Of("target_info").Single().Labels["service_name"]);
        Assert.Contains(scrape.Of("http_server_request_duration_seconds_count"), s => s.Labels["http_route"] == "/healthz");
    }

    [Fact]
    public async Task TwoGateways_InOneProcess_EachExportOnlyTheirOwnRelayMetrics()
    {
        await using var busy = await TestGateway.StartAsync();
        await using var idle = await TestGateway.StartAsync();
        using var peer = await busy.ConnectAsync("/introduction/alice");
        await Eventually.TrueAsync(() => busy.GetService<IRelayStatus>().GetSnapshot().Peers == 1, "the peer is registered");

        Assert.Equal(1, (await Scrape.FromAsync(busy)).Value("relay_active_peers"));
        Assert.Equal(0, (await Scrape.FromAsync(idle)).Value("relay_active_peers"));
        await peer.CloseQuietlyAsync();
    }

    [Fact]
    public async Task MetricsAndHealthPaths_AreConfigurable()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:MetricsPath"] = "/internal/prometheus",
            ["Gateway:HealthPath"] = "/internal/live",
        });

        Assert.True((await Scrape.FromAsync(gateway, "/internal/prometheus")).HasFamily("relay_active_peers"));
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(gateway, "/internal/live"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusOfAsync(gateway, "/metrics"));
    }

    [Fact]
    public async Task MetricsPath_Empty_ServesNoMetrics()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Gateway:MetricsPath"] = "" });

        Assert.Equal(HttpStatusCode.NotFound, await StatusOfAsync(gateway, "/metrics"));
    }

    [Fact]
    public async Task RequireHost_Configured_ServesOnlyThatHost()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Metrics:RequireHost:0"] = "metrics.internal",
        });

        Assert.Equal(HttpStatusCode.NotFound, await StatusOfAsync(gateway, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(gateway, "/metrics", host: "metrics.internal"));
    }

    [Theory]
    [InlineData(true, HttpStatusCode.OK)]
    [InlineData(false, HttpStatusCode.NotFound)]
    public async Task LocalPort_Configured_ServesOnlyConnectionsOnThatPort(bool samePort, HttpStatusCode expected)
    {
        var port = LoopbackPort.Free();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string?> { ["Gateway:Metrics:LocalPort"] = (samePort ? port : port == 65535 ? 1 : port + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            builder => builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port)));

        Assert.Equal(expected, await StatusOfAsync(gateway, "/metrics"));
    }

    [Fact]
    public async Task AuthorizationPolicy_Configured_ChallengesUntilThePolicyIsMet()
    {
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string?> { ["Gateway:Metrics:AuthorizationPolicy"] = "metrics-readers" },
            builder =>
            {
                builder.Services.AddAuthentication(HeaderAuthentication.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.SchemeName, null);
                builder.Services.AddAuthorization(options => options.AddPolicy("metrics-readers", policy => policy.RequireClaim("role", "metrics")));
            });

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOfAsync(gateway, "/metrics"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusOfAsync(gateway, "/metrics", role: "other"));
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(gateway, "/metrics", role: "metrics"));
    }

    [Fact]
    public async Task InvalidGatewaySettings_FailStartup_ListingEveryError()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:MetricsPath"] = "metrics",
            ["Gateway:HealthPath"] = "healthz",
            ["Gateway:Metrics:LocalPort"] = "70000",
        }));

        Assert.Equal(3, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.Contains("Gateway:MetricsPath", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:HealthPath", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Metrics:LocalPort", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Gateway:Metrics:RequireHosts", "x", "RequireHosts")]
    [InlineData("Gateway:Metrics:LocalPort", "http", "LocalPort")]
    public async Task MisspeltOrUnparsableGatewaySetting_FailsStartup_NamingIt(string key, string value, string named)
    {
        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => TestGateway.StartAsync(new Dictionary<string, string?> { [key] = value }));

        Assert.Contains(named, error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> StatusOfAsync(TestGateway gateway, string path, string? host = null, string? role = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        if (role is not null)
        {
            request.Headers.Add(HeaderAuthentication.Header, role);
        }

        using var response = await gateway.Http.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>Authenticates a request that carries a role header; the policy under test checks the role.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "TestHeader";
        public const string Header = "X-Test-Role";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue(Header, out var role))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim("role", role.ToString())], SchemeName);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
        }
    }
}
