using System.Threading.RateLimiting;

namespace Relay.Admission;

/// <summary>
/// One client's limiters (new-socket rate, open-socket cap) chained with the shared global cap. It owns
/// (and disposes) only its own: the partitioned limiter disposes idle partitions, and the global cap must
/// outlive them.
/// </summary>
internal sealed class RelayClientLimiter : RateLimiter
{
    private readonly RateLimiter[] _own;
    private readonly RateLimiter _chain;

    public RelayClientLimiter(RateLimiter? rate, RateLimiter? sockets, RateLimiter? global)
    {
        _own = [.. new[] { rate, sockets }.OfType<RateLimiter>()];
        _chain = CreateChained([.. _own, .. global is null ? Array.Empty<RateLimiter>() : [global]]);
    }

    public static RelayClientLimiter Create(RateLimiter? global, RelayAdmissionOptions options)
    {
        var rate = options.NewSocketsPerSecondPerClient > 0
            ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = options.NewSocketsBurstPerClient,
                TokensPerPeriod = options.NewSocketsPerSecondPerClient,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            })
            : null;
        var sockets = options.MaxConcurrentSocketsPerClient > 0
            ? new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = options.MaxConcurrentSocketsPerClient, QueueLimit = 0 })
            : null;
        return new RelayClientLimiter(rate, sockets, global);
    }

    /// <summary>
    /// Idle only when every limiter of this client's is. A chained limiter in .NET 10 reports idle as soon
    /// as any one of its limiters is (dotnet/runtime#126158): a refilled token bucket would let the
    /// partitioned limiter drop this client's open-socket count while its sockets are still open.
    /// </summary>
    public override TimeSpan? IdleDuration
    {
        get
        {
            if (_own.Length == 0)
            {
                return _chain.IdleDuration;
            }

            var idle = TimeSpan.MaxValue;
            foreach (var limiter in _own)
            {
                if (limiter.IdleDuration is not { } duration)
                {
                    return null;
                }

                idle = duration < idle ? duration : idle;
            }

            return idle;
        }
    }

    public override RateLimiterStatistics? GetStatistics() => _chain.GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(int permitCount) => _chain.AttemptAcquire(permitCount);

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        _chain.AcquireAsync(permitCount, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chain.Dispose();
            foreach (var limiter in _own)
            {
                limiter.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
