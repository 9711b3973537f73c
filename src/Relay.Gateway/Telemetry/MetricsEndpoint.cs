using System.Globalization;
using Microsoft.Extensions.Options;

namespace Relay.Gateway.Telemetry;

/// <summary>Where <c>/metrics</c> is served and who may read it (configuration under <c>Gateway</c>).</summary>
internal sealed class MetricsEndpointOptions
{
    public const string DefaultPath = "/metrics";

    private static readonly string[] Keys = ["RequireHost", "LocalPort", "AuthorizationPolicy"];

    /// <summary><c>Gateway:MetricsPath</c>: the scrape path; empty to serve no metrics endpoint.</summary>
    public string Path { get; init; } = DefaultPath;

    /// <summary>
    /// <c>Gateway:Metrics:RequireHost</c>: host patterns (<c>RequireHost</c> syntax, e.g. <c>*:9464</c>,
    /// <c>metrics.internal</c>) the request's Host header must match. The client chooses that header, so
    /// on its own this hides the endpoint rather than protecting it; use LocalPort or a policy for that.
    /// </summary>
    public IReadOnlyList<string> RequireHost { get; init; } = [];

    /// <summary>
    /// <c>Gateway:Metrics:LocalPort</c>: serve only to connections accepted on this local port (one of the
    /// gateway's listening addresses, e.g. an internal-only <c>http://10.0.0.5:9464</c>); 0 for any.
    /// </summary>
    public int LocalPort { get; init; }

    /// <summary>
    /// <c>Gateway:Metrics:AuthorizationPolicy</c>: an authorization policy name the request must satisfy
    /// (<c>default</c> for the default policy), as YARP routes name theirs; empty for none.
    /// </summary>
    public string? AuthorizationPolicy { get; init; }

    /// <summary>Reads the options, reporting every invalid value at once.</summary>
    public static MetricsEndpointOptions FromConfiguration(IConfiguration configuration)
    {
        var gateway = configuration.GetSection("Gateway");
        var section = gateway.GetSection("Metrics");
        var errors = new List<string>();

        foreach (var child in section.GetChildren())
        {
            if (!Keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"Gateway:Metrics:{child.Key} is not a setting (known: {string.Join(", ", Keys)}).");
            }
        }

        var path = gateway["MetricsPath"] ?? DefaultPath;
        if (path.Length > 0 && !path.StartsWith('/'))
        {
            errors.Add($"Gateway:MetricsPath must start with '/' (or be empty to serve no metrics), not '{path}'.");
        }

        // One pattern, or several: a list in JSON, or separated by ';' or ',' in a single value (environment variables).
        var hostSection = section.GetSection("RequireHost");
        string[] hosts = [.. hostSection.GetChildren().Select(c => c.Value ?? "").Append(hostSection.Value ?? "")
            .SelectMany(v => v.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

        var port = 0;
        if (section["LocalPort"] is { Length: > 0 } portText
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            errors.Add($"Gateway:Metrics:LocalPort must be a port number (1-65535), or 0 for any, not '{portText}'.");
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException("Gateway:Metrics", typeof(MetricsEndpointOptions), errors);
        }

        return new MetricsEndpointOptions
        {
            Path = path,
            RequireHost = hosts,
            LocalPort = port,
            AuthorizationPolicy = string.IsNullOrWhiteSpace(section["AuthorizationPolicy"]) ? null : section["AuthorizationPolicy"]!.Trim(),
        };
    }
}

/// <summary>Registers the gateway's telemetry and maps the Prometheus scrape endpoint.</summary>
internal static class MetricsEndpoint
{
    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<GatewayTelemetry>();
        services.AddHostedService(static sp => sp.GetRequiredService<GatewayTelemetry>());
        return services;
    }

    /// <summary>Maps <c>GET {Gateway:MetricsPath}</c> with the configured restrictions; nothing when the path is empty.</summary>
    public static IEndpointConventionBuilder? MapGatewayMetrics(this IEndpointRouteBuilder endpoints, IConfiguration configuration)
    {
        var options = MetricsEndpointOptions.FromConfiguration(configuration);
        if (options.Path.Length == 0)
        {
            return null;
        }

        var localPort = options.LocalPort;
        var endpoint = endpoints.MapGet(options.Path, (HttpContext context, GatewayTelemetry telemetry) => ScrapeAsync(context, telemetry, localPort))
            .WithDisplayName("Prometheus metrics")
            .ExcludeFromDescription();

        if (options.RequireHost.Count > 0)
        {
            endpoint.RequireHost([.. options.RequireHost]);
        }

        switch (options.AuthorizationPolicy)
        {
            case null:
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

    private static async Task ScrapeAsync(HttpContext context, GatewayTelemetry telemetry, int localPort)
    {
        if (localPort != 0 && context.Connection.LocalPort != localPort)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = PrometheusTextWriter.ContentType;
        context.Response.Headers.CacheControl = "no-store";
        if (telemetry.Prometheus is not { } exporter || !await exporter.ScrapeAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false))
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        }
    }
}
