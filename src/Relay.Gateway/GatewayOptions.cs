using System.Globalization;
using Microsoft.Extensions.Options;

namespace Relay.Gateway;

/// <summary>The gateway's own endpoints (configuration section <c>Gateway</c>), validated at start-up.</summary>
internal sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary><c>Gateway:HealthPath</c>: the readiness endpoint (200 once the gateway serves).</summary>
    public string HealthPath { get; set; } = "/healthz";

    /// <summary><c>Gateway:MetricsPath</c>: the Prometheus scrape path; empty to serve no metrics endpoint.</summary>
    public string MetricsPath { get; set; } = "/metrics";

    /// <summary><c>Gateway:Metrics</c>: who may read the scrape endpoint.</summary>
    public GatewayMetricsOptions Metrics { get; set; } = new();

    /// <summary>
    /// <c>Gateway:InlineScheduling</c>: run request and socket continuations on the thread that completed the
    /// socket operation instead of handing each to the thread pool (Kestrel's
    /// <c>UnsafePreferInlineScheduling</c>, and the runtime's inline socket completions when the gateway runs
    /// as its own process). A relayed message then costs no thread hop: measured, it halves the gateway's CPU
    /// per message under Node <c>ws</c> clients. Turn it off if you add middleware that blocks a thread (sync
    /// I/O, <c>.Result</c>): it would stall every connection served by that I/O thread.
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary><c>Gateway:ForwardedHeaders</c>: the proxies in front of the gateway whose forwarded headers it believes.</summary>
    public GatewayForwardedHeadersOptions ForwardedHeaders { get; set; } = new();

    /// <summary>
    /// <c>Gateway:DataProtectionKeys</c>: a directory holding the ASP.NET Core Data Protection key ring, shared
    /// by every node of a cluster (a volume they all mount), so a cookie signed on one node (targeted signaling's
    /// <c>user_session</c>) is read on every other. Unset: the framework's default, one ring per machine/user.
    /// </summary>
    public string? DataProtectionKeys { get; set; }
}

/// <summary>
/// Trusted proxies (<c>Gateway:ForwardedHeaders</c>). Behind a balancer every request comes from the balancer's
/// address, so per-client admission caps would count all clients as one and logs would name the balancer.
/// Requests from the addresses listed here have the client address and scheme taken from their
/// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> (the last hop only); from anywhere else those headers
/// are ignored. Both lists empty (the default): no forwarded header is believed.
/// </summary>
internal sealed class GatewayForwardedHeadersOptions
{
    /// <summary><c>Gateway:ForwardedHeaders:KnownProxies</c>: proxy addresses (<c>10.0.0.2</c>, <c>::1</c>).</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary><c>Gateway:ForwardedHeaders:KnownNetworks</c>: proxy networks in CIDR notation (<c>10.0.0.0/8</c>).</summary>
    public List<string> KnownNetworks { get; set; } = [];

    public bool Enabled => KnownProxies.Count > 0 || KnownNetworks.Count > 0;
}

/// <summary>Restrictions on the scrape endpoint (<c>Gateway:Metrics</c>).</summary>
internal sealed class GatewayMetricsOptions
{
    /// <summary>
    /// <c>Gateway:Metrics:RequireHost</c>: host patterns (<c>RequireHost</c> syntax, e.g. <c>*:9464</c>,
    /// <c>metrics.internal</c>) the request's Host header must match (from the environment:
    /// <c>Gateway__Metrics__RequireHost__0</c>, <c>__1</c>, ...). The client chooses that header, so on its
    /// own this hides the endpoint rather than protecting it; use LocalPort or a policy for that.
    /// </summary>
    public List<string> RequireHost { get; set; } = [];

    /// <summary>
    /// <c>Gateway:Metrics:LocalPort</c>: serve only to connections accepted on this local port (one of the
    /// gateway's listening addresses, e.g. an internal-only <c>http://10.0.0.5:9464</c>); 0 for any.
    /// </summary>
    public int LocalPort { get; set; }

    /// <summary>
    /// <c>Gateway:Metrics:AuthorizationPolicy</c>: an authorization policy the request must satisfy
    /// (<c>default</c> for the default policy), as YARP routes name theirs; empty for none.
    /// </summary>
    public string? AuthorizationPolicy { get; set; }
}

/// <summary>Reports every invalid gateway setting at once.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        if (!options.HealthPath.StartsWith('/'))
        {
            errors.Add($"Gateway:HealthPath must start with '/', not '{options.HealthPath}'.");
        }

        if (options.MetricsPath.Length > 0 && !options.MetricsPath.StartsWith('/'))
        {
            errors.Add($"Gateway:MetricsPath must start with '/' (or be empty to serve no metrics), not '{options.MetricsPath}'.");
        }

        if (options.Metrics.LocalPort is < 0 or > 65535)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture,
                $"Gateway:Metrics:LocalPort must be a port number (1-65535), or 0 for any, not {options.Metrics.LocalPort}."));
        }

        foreach (var proxy in options.ForwardedHeaders.KnownProxies)
        {
            if (!System.Net.IPAddress.TryParse(proxy, out _))
            {
                errors.Add($"Gateway:ForwardedHeaders:KnownProxies: '{proxy}' is not an IP address.");
            }
        }

        foreach (var network in options.ForwardedHeaders.KnownNetworks)
        {
            if (!System.Net.IPNetwork.TryParse(network, out _))
            {
                errors.Add($"Gateway:ForwardedHeaders:KnownNetworks: '{network}' is not a network in CIDR notation (such as 10.0.0.0/8).");
            }
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
