using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Relay.Lifetime;

/// <summary>
/// Every live relay session, one shared clock for their deadlines, and the graceful drain on shutdown.
/// A single timer sweeps all sessions rather than each session owning timers, which keeps an idle peer
/// small and puts every timeout on one path.
/// </summary>
internal sealed partial class RelaySessions : IDisposable
{
    private readonly ConcurrentDictionary<IRelaySession, byte> _sessions = new();
    private readonly TimeProvider _time;
    private readonly ITimer _sweep;
    private readonly TimeSpan _drainTimeout;
    private readonly ILogger<RelaySessions> _logger;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenRegistration _stoppingRegistration;
    private ITimer? _drainDeadline;
    private volatile bool _stopping;
    private long _arrivals;

    public RelaySessions(RelayOptions options, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<RelaySessions> logger)
    {
        _time = time;
        _logger = logger;
        _drainTimeout = options.DrainTimeout;
        var period = SweepPeriod(options);
        _sweep = time.CreateTimer(static state => ((RelaySessions)state!).Sweep(), this, period, period);
        _stoppingRegistration = lifetime.ApplicationStopping.Register(static state => ((RelaySessions)state!).BeginDrain(), this);
    }

    /// <summary>True once the gateway has begun shutting down: new relay sockets are refused.</summary>
    public bool IsStopping => _stopping;

    public int Count => _sessions.Count;

    public long Now => _time.GetTimestamp();

    /// <summary>Completes when every session that was live at shutdown has ended (or been aborted).</summary>
    public Task Drained => _drained.Task;

    /// <summary>A duration in timestamp ticks; a zero or negative duration means "never" (<see cref="long.MaxValue"/>).</summary>
    public long Ticks(TimeSpan duration) =>
        duration <= TimeSpan.Zero ? long.MaxValue : (long)Math.Min(duration.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 2);

    /// <summary>The timestamp <paramref name="delay"/> from now; "never" for a zero delay.</summary>
    public long DeadlineAfter(TimeSpan delay)
    {
        var ticks = Ticks(delay);
        return ticks == long.MaxValue ? long.MaxValue : _time.GetTimestamp() + ticks;
    }

    public TimeSpan Elapsed(long since) => _time.GetElapsedTime(since);

    /// <summary>
    /// The next request's place in line, taken before its handshake is answered: a client that opened one
    /// socket before another sees them in this order, whichever of the two is registered first.
    /// </summary>
    public long NextArrival() => Interlocked.Increment(ref _arrivals);

    public void Add(IRelaySession session)
    {
        _sessions.TryAdd(session, 0);

        // A session that slipped in while shutdown began is closed like the others.
        if (_stopping)
        {
            session.CloseForShutdown();
        }
    }

    public void Remove(IRelaySession session)
    {
        _sessions.TryRemove(session, out _);
        if (_stopping && _sessions.IsEmpty)
        {
            _drained.TrySetResult();
        }
    }

    private void Sweep()
    {
        var now = _time.GetTimestamp();
        foreach (var (session, _) in _sessions)
        {
            session.OnTick(now);
        }
    }

    private void BeginDrain()
    {
        _stopping = true;
        Log.Draining(_logger, _sessions.Count, _drainTimeout);
        foreach (var (session, _) in _sessions)
        {
            session.CloseForShutdown();
        }

        if (_sessions.IsEmpty)
        {
            _drained.TrySetResult();
            return;
        }

        _drainDeadline = _time.CreateTimer(static state => ((RelaySessions)state!).AbortRemaining(), this, _drainTimeout, Timeout.InfiniteTimeSpan);
    }

    private void AbortRemaining()
    {
        if (_sessions.IsEmpty)
        {
            return;
        }

        Log.DrainTimedOut(_logger, _sessions.Count);
        foreach (var (session, _) in _sessions)
        {
            session.Abort();
        }
    }

    /// <summary>
    /// The sweep runs often enough to honour the shortest configured deadline to within a quarter of
    /// it, between every 10 ms and every second.
    /// </summary>
    internal static TimeSpan SweepPeriod(RelayOptions options)
    {
        var shortest = TimeSpan.FromSeconds(4);
        foreach (var timeout in (ReadOnlySpan<TimeSpan>)[
            options.CloseTimeout,
            options.Introduction.IdleTimeout,
            options.Connection.PendingTimeout,
            options.Connection.StallTimeout,
            options.Connection.MaxPairingDuration,
            options.Rooms.HeartbeatInterval,
            options.Sigver.HeartbeatInterval])
        {
            if (timeout > TimeSpan.Zero && timeout < shortest)
            {
                shortest = timeout;
            }
        }

        var period = shortest / 4;
        return period < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : period;
    }

    public void Dispose()
    {
        _stoppingRegistration.Dispose();
        _sweep.Dispose();
        _drainDeadline?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.Draining, LogLevel.Information, "Draining {Count} relay sockets (closing with 1001, waiting up to {DrainTimeout}).")]
        public static partial void Draining(ILogger logger, int count, TimeSpan drainTimeout);

        [LoggerMessage(RelayEventIds.DrainTimedOut, LogLevel.Warning, "Drain timeout reached; aborting {Count} relay sockets that did not finish closing.")]
        public static partial void DrainTimedOut(ILogger logger, int count);
    }
}
