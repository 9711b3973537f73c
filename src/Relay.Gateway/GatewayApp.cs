using System.Reflection;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;
using Relay;
using Relay.Gateway.Hosting;
using Relay.Gateway.Telemetry;

namespace Relay.Gateway;

/// <summary>
/// Builds the gateway: YARP routes from <c>ReverseProxy</c> (relay routes among them), the relay from
/// <c>Relay</c>, the health and status pages, and metrics (<c>/metrics</c>, OTLP when configured). Tests
/// build it the same way, on real Kestrel.
/// </summary>
internal static partial class GatewayApp
{
    private const string EmbeddedSettings = "Relay.Gateway.appsettings.json";

    /// <summary>JWT bearer validation is on when this section is configured (the section <c>dotnet user-jwts</c> writes).</summary>
    private const string BearerSchemeSection = "Authentication:Schemes:Bearer";

    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        UseEmbeddedSettingsWhenAbsent(builder);
        configure?.Invoke(builder);

        builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));
        builder.Services.AddRelay(builder.Configuration.GetSection(RelayOptions.SectionName));
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.Services.AddHealthChecks();
        AddGatewayOptions(builder.Services, builder.Configuration.GetSection(GatewayOptions.SectionName));
        builder.Services.AddOptions<SocketTransportOptions>().Configure<IOptions<GatewayOptions>>((sockets, gateway) =>
            sockets.UnsafePreferInlineScheduling = gateway.Value.InlineScheduling);
        GatewayTelemetry.Add(builder.Services, builder.Configuration);
        if (builder.Configuration[GatewayOptions.SectionName + ":" + nameof(GatewayOptions.DataProtectionKeys)] is { Length: > 0 } keys)
        {
            // One key ring (and application name) for every node: cookies signed by one are read by all.
            builder.Services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(keys)).SetApplicationName("Relay");
        }

        var authentication = builder.Services.AddAuthentication();
        if (builder.Configuration.GetSection(BearerSchemeSection).Exists())
        {
            authentication.AddRelayJwtBearer();
        }

        builder.Services.AddAuthorization();
        builder.Services.AddCors();

        // Give relay sockets their drain (and the close handshakes after it) before the host gives up.
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<RelayOptions>>((host, relay) =>
        {
            var needed = relay.Value.DrainTimeout + relay.Value.CloseTimeout + TimeSpan.FromSeconds(5);
            if (host.ShutdownTimeout < needed)
            {
                host.ShutdownTimeout = needed;
            }
        });

        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<GatewayOptions>>((forwarded, gateway) =>
        {
            // Only the listed proxies are believed (the defaults, loopback, are replaced), and only their own hop.
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in gateway.Value.ForwardedHeaders.KnownProxies)
            {
                forwarded.KnownProxies.Add(System.Net.IPAddress.Parse(proxy));
            }

            foreach (var network in gateway.Value.ForwardedHeaders.KnownNetworks)
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            }
        });

        var app = builder.Build();
        if (app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.ForwardedHeaders.Enabled)
        {
            // First, so admission, identity and logs all see the client's address.
            app.UseForwardedHeaders();
        }

        app.UseRouting();
        app.UseCors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseRelay();

        var gateway = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        app.MapHealthChecks(gateway.HealthPath);
        GatewayTelemetry.MapScrapeEndpoint(app);
        app.MapGet("/", StatusPage.Render);
        app.MapReverseProxy();
        return app;
    }

    /// <summary>
    /// For the gateway's own process, before it opens a socket: with <see cref="GatewayOptions.InlineScheduling"/>,
    /// the runtime completes socket operations on its event threads too (read once, at the first socket), so
    /// a message goes from the receive to the partner's send on one thread. An explicit
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c> in the environment wins. Not for a host that runs
    /// other code in the process (tests): the setting is process-wide.
    /// </summary>
    public static void PrepareProcess(WebApplication app)
    {
        const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
        if (!app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.InlineScheduling)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        Log.InlineScheduling(app.Logger, Environment.GetEnvironmentVariable(InlineCompletions) == "1");
    }

    /// <summary>
    /// Binds <c>Gateway</c> as <c>Relay</c> is bound: unknown keys are errors (a misspelt setting fails
    /// start-up instead of being ignored) and every invalid value is reported at once.
    /// </summary>
    private static void AddGatewayOptions(IServiceCollection services, IConfigurationSection section)
    {
        services.AddOptions<GatewayOptions>()
            .Bind(section, binder => binder.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
    }

    /// <summary>
    /// The root appsettings.json is embedded in the gateway, so it runs on its default configuration from
    /// any directory. A real appsettings.json in the content root takes its place entirely (not merged,
    /// so removing a route there removes it).
    /// </summary>
    private static void UseEmbeddedSettingsWhenAbsent(WebApplicationBuilder builder)
    {
        if (File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")))
        {
            return;
        }

        var sources = builder.Configuration.Sources;
        var index = 0;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is JsonConfigurationSource { Path: "appsettings.json" })
            {
                index = i;
                break;
            }
        }

        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(EmbeddedSettings)
            ?? throw new InvalidOperationException($"The gateway was built without its embedded {EmbeddedSettings}.");
        sources.Insert(index, new JsonStreamConfigurationSource { Stream = stream });
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Inline scheduling is on (Gateway:InlineScheduling); runtime socket completions inline: {SocketCompletionsInline}.")]
        public static partial void InlineScheduling(ILogger logger, bool socketCompletionsInline);
    }
}
