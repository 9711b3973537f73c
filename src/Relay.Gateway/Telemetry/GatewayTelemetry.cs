using System.Diagnostics.Metrics;
using System.Reflection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Relay.Gateway.Telemetry;

/// <summary>
/// Owns the OpenTelemetry SDK for the gateway's lifetime (built on start, flushed and shut down on
/// stop): the relay's meter beside the ASP.NET Core, Kestrel, HttpClient and .NET runtime meters, read by
/// the Prometheus pull exporter behind <c>/metrics</c> and, when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is
/// set, pushed over OTLP as well.
/// </summary>
internal sealed partial class GatewayTelemetry(
    IMeterFactory meterFactory,
    IConfiguration configuration,
    ILogger<GatewayTelemetry> logger)
    : IHostedService, IDisposable
{
    public const string DefaultServiceName = "relay-gateway";

    /// <summary>The meters exported. All are built into .NET 10 except the relay's own.</summary>
    public static readonly string[] Meters =
    [
        RelayMeter.Name,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.RateLimiting",
        "System.Net.Http",
        "System.Runtime",
    ];

    private static readonly TimeSpan ScrapeCollectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private OpenTelemetrySdk? _sdk;

    /// <summary>The exporter behind <c>/metrics</c>; null until the host has started and after it stopped.</summary>
    public PrometheusPullExporter? Prometheus { get; private set; }

    /// <summary>The SDK's provider while the host runs (tests look for its exporters).</summary>
    internal MeterProvider? MeterProvider => _sdk?.MeterProvider;

    /// <summary>True when OTLP export is on: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or its metrics-only form) is set.</summary>
    public bool OtlpEnabled { get; } =
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var prometheus = new PrometheusPullExporter(ScrapeCollectTimeout, (metric, why) => Log.MetricDropped(logger, metric, why));
        _sdk = OpenTelemetrySdk.Create(otel =>
        {
            // The SDK reads the standard OTEL_* settings (OTLP endpoint, protocol and headers, export
            // interval, service name, resource attributes) from the host's configuration, which includes
            // the environment.
            otel.Services.AddSingleton(configuration);
            otel.ConfigureResource(resource => resource
                .Clear()
                .AddService(DefaultServiceName, serviceVersion: typeof(GatewayTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion)
                .AddTelemetrySdk()
                .AddEnvironmentVariableDetector());
            otel.WithMetrics(metrics =>
            {
                metrics
                    .AddMeter(Meters)
                    .AddView(instrument => IsFromAnotherHost(instrument) ? MetricStreamConfiguration.Drop : null)
                    .AddReader(new BaseExportingMetricReader(prometheus));
                if (OtlpEnabled)
                {
                    metrics.AddOtlpExporter();
                }
            });
        });

        Prometheus = prometheus;
        Log.Started(logger, OtlpEnabled);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Prometheus = null;

        // Shutting the provider down makes the OTLP reader export one last time.
        _sdk?.MeterProvider.Shutdown((int)ShutdownTimeout.TotalMilliseconds);
        return Task.CompletedTask;
    }

    public void Dispose() => _sdk?.Dispose();

    /// <summary>
    /// The SDK listens to meters by name across the process, but meters made by <see cref="IMeterFactory"/>
    /// belong to one host: several gateways in one process (tests, or an app hosting two) must each
    /// export only their own. Meters made without a factory (the runtime's) are process-wide and shared.
    /// </summary>
    private bool IsFromAnotherHost(Instrument instrument) =>
        instrument.Meter.Scope is IMeterFactory owner && !ReferenceEquals(owner, meterFactory);

    private static partial class Log
    {
        [LoggerMessage(TelemetryEventIds.Started, LogLevel.Debug, "Metrics export started (Prometheus pull; OTLP push: {OtlpEnabled}).")]
        public static partial void Started(ILogger logger, bool otlpEnabled);

        [LoggerMessage(TelemetryEventIds.MetricDropped, LogLevel.Warning, "Metric {Metric} is not exported to Prometheus: {Reason}.")]
        public static partial void MetricDropped(ILogger logger, string metric, string reason);
    }
}

/// <summary>Event ids of the gateway's telemetry log messages (continuing the relay's table, which ends at 4xx).</summary>
internal static class TelemetryEventIds
{
    public const int Started = 500;
    public const int MetricDropped = 501;
}
