using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Relay.Telemetry;

namespace Relay.Admission;

/// <summary>
/// The <c>relay</c> rate limiter policy: a cap on open relay sockets overall and per client IP, and a
/// token bucket on new sockets per client IP, from <see cref="RelayAdmissionOptions"/>. Being an ordinary
/// ASP.NET Core policy, it applies wherever a route names it, relay or not.
/// </summary>
internal sealed partial class RelayAdmissionPolicy : IRateLimiterPolicy<string>, IDisposable
{
    private readonly RelayAdmissionOptions _options;
    private readonly ConcurrencyLimiter? _global;
    private readonly RelayMetrics _metrics;
    private readonly Cluster.PairingForwarder _forwarder;
    private readonly ILogger<RelayAdmissionPolicy> _logger;

    public RelayAdmissionPolicy(RelayOptions options, RelayMetrics metrics, Cluster.PairingForwarder forwarder, ILogger<RelayAdmissionPolicy> logger)
    {
        _forwarder = forwarder;
        _options = options.Admission;
        _metrics = metrics;
        _logger = logger;
        if (_options.MaxConcurrentSockets > 0)
        {
            _global = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = _options.MaxConcurrentSockets, QueueLimit = 0 });
        }

        OnRejected = RejectAsync;
    }

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; }

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        var client = httpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown";

        // A socket another node forwarded was admitted (and counted) there; its address is that node's, not a client's.
        if (_forwarder.OriginOf(httpContext) == Cluster.ForwardedOrigin.Node)
        {
            return RateLimitPartition.GetNoLimiter("cluster node");
        }

        if (_global is null && _options.MaxConcurrentSocketsPerClient == 0 && _options.NewSocketsPerSecondPerClient == 0)
        {
            return RateLimitPartition.GetNoLimiter(client);
        }

        return RateLimitPartition.Get(client, _ => RelayClientLimiter.Create(_global, _options));
    }

    public void Dispose() => _global?.Dispose();

    private ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        _metrics.Rejected(RejectionReason.OverLimit);
        Log.Refused(_logger, http.Connection.RemoteIpAddress?.ToString(), http.Request.Path);
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            http.Response.Headers[HeaderNames.RetryAfter] = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        http.Response.ContentType = "text/plain; charset=utf-8";
        return new ValueTask(http.Response.WriteAsync("Too many relay sockets from this client or in total; try again later.", cancellationToken));
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.AdmissionRefused, LogLevel.Debug, "Refused a relay socket from {Client} to {Path} with 429: over an admission limit.")]
        public static partial void Refused(ILogger logger, string? client, PathString path);
    }
}
