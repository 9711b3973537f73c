using System.Diagnostics.Metrics;
using System.Reflection;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Relay.Gateway.Telemetry;

/// <summary>
/// The gateway's metrics, the standard OpenTelemetry way: the hosted SDK with the relay's meter beside the
/// ASP.NET Core, Kestrel, HttpClient and .NET runtime meters, scraped by Prometheus at
/// <c>Gateway:MetricsPath</c> and, when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, pushed over OTLP too.
/// </summary>
internal sealed class GatewayTelemetry(bool otlpEnabled)
{
    public const string DefaultServiceName = "relay-gateway";

    /// <summary>The meters exported beside the runtime's. All are built into .NET 10 except the relay's own.</summary>
    public static readonly string[] Meters =
    [
        RelayMeter.Name,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.RateLimiting",
        "System.Net.Http",
    ];

    /// <summary>True when OTLP export is on: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or its metrics-only form) is set.</summary>
    public bool OtlpEnabled { get; } = otlpEnabled;

    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]);
        services.AddSingleton(new GatewayTelemetry(otlp));

        // The SDK reads the standard OTEL_* settings (OTLP endpoint, protocol and headers, export interval,
        // service name, resource attributes) from the host's configuration, which includes the environment;
        // the environment detector comes last so OTEL_SERVICE_NAME wins over the default name.
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .Clear()
                .AddService(DefaultServiceName, serviceVersion: typeof(GatewayTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion)
                .AddTelemetrySdk()
                .AddEnvironmentVariableDetector())
            .WithMetrics(metrics =>
            {
                metrics
                    .AddMeter(Meters)
                    .AddRuntimeInstrumentation()
                    .AddPrometheusExporter(static prometheus =>
                    {
                        // Every scrape collects afresh: a collection is cheap, and a cached answer would show
                        // a scraper (or an operator's curl) counts that are already out of date.
                        prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                    });
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        services.ConfigureOpenTelemetryMeterProvider(static (provider, metrics) =>
        {
            var factory = provider.GetRequiredService<IMeterFactory>();
            metrics.AddView(instrument => IsFromAnotherHost(instrument, factory) ? MetricStreamConfiguration.Drop : null);
        });
    }

    /// <summary>
    /// Maps the Prometheus scrape endpoint at <c>Gateway:MetricsPath</c> with the configured restrictions;
    /// nothing when the path is empty.
    /// </summary>
    public static IEndpointConventionBuilder? MapScrapeEndpoint(IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<GatewayOptions>>().Value;
        if (options.MetricsPath.Length == 0)
        {
            return null;
        }

        var localPort = options.Metrics.LocalPort;
        var endpoint = endpoints.MapPrometheusScrapingEndpoint(
            options.MetricsPath,
            meterProvider: null,
            configureBranchedPipeline: localPort == 0 ? null : branch => branch.Use(next => context =>
            {
                if (context.Connection.LocalPort != localPort)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }

                return next(context);
            }),
            optionsName: null)
            .WithDisplayName("Prometheus metrics");

        if (options.Metrics.RequireHost.Count > 0)
        {
            endpoint.RequireHost([.. options.Metrics.RequireHost]);
        }

        switch (options.Metrics.AuthorizationPolicy)
        {
            case null or "":
                break;
            case var policy when policy.Equals("default", StringComparison.OrdinalIgnoreCase):
                endpoint.RequireAuthorization();
                break;
            case var policy when policy.Equals("anonymous", StringComparison.OrdinalIgnoreCase):
                endpoint.AllowAnonymous();
                break;
            case var policy:
                endpoint.RequireAuthorization(policy);
                break;
        }

        return endpoint;
    }

    /// <summary>
    /// The SDK listens to meters by name across the process, but meters made by <see cref="IMeterFactory"/>
    /// belong to one host: several gateways in one process (tests, or an app hosting two) must each
    /// export only their own. Meters made without a factory (the runtime's) are process-wide and shared.
    /// </summary>
    private static bool IsFromAnotherHost(Instrument instrument, IMeterFactory factory) =>
        instrument.Meter.Scope is IMeterFactory owner && !ReferenceEquals(owner, factory);
}
