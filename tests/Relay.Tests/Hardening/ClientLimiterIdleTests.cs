using System.Threading.RateLimiting;
using Relay.Admission;

namespace Relay.Tests.Hardening;

/// <summary>
/// The partitioned limiter drops a client's limiters once they report idle, and with them its count of
/// open sockets: a client holding sockets must never report idle, however full its token bucket is.
/// </summary>
public sealed class ClientLimiterIdleTests
{
    [Fact]
    public void ClientHoldingSockets_IsNotIdle_WhileItsRateLimiterIs()
    {
        using var sockets = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 0 });
        using var limiter = new RelayClientLimiter(new RefilledBucket(), sockets, global: null);

        using (var lease = limiter.AttemptAcquire())
        {
            Assert.True(lease.IsAcquired);
            Assert.Null(limiter.IdleDuration);
        }

        Assert.NotNull(limiter.IdleDuration);
    }

    [Fact]
    public void ClientWithoutSockets_IsIdle_OnlyWhenItsBucketIs()
    {
        using var sockets = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 0 });
        using var limiter = new RelayClientLimiter(new RefilledBucket { IsIdle = false }, sockets, global: null);

        Assert.Null(limiter.IdleDuration);
    }

    [Fact]
    public void SharedGlobalCap_DoesNotKeepAClientAlive()
    {
        using var global = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 10, QueueLimit = 0 });
        using var otherClientsSocket = global.AttemptAcquire();
        using var sockets = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 0 });
        using var limiter = new RelayClientLimiter(new RefilledBucket(), sockets, global);

        Assert.NotNull(limiter.IdleDuration);
    }

    /// <summary>A token bucket that has refilled (idle) and grants every request.</summary>
    private sealed class RefilledBucket : RateLimiter
    {
        public bool IsIdle { get; init; } = true;

        public override TimeSpan? IdleDuration => IsIdle ? TimeSpan.FromMinutes(1) : null;

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => Granted.Instance;

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            ValueTask.FromResult<RateLimitLease>(Granted.Instance);

        private sealed class Granted : RateLimitLease
        {
            public static readonly Granted Instance = new();

            public override bool IsAcquired => true;

            public override IEnumerable<string> MetadataNames => [];

            public override bool TryGetMetadata(string metadataName, out object? metadata)
            {
                metadata = null;
                return false;
            }
        }
    }
}
