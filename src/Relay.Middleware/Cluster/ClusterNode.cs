using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>
/// This gateway's membership of the cluster: its identity (new per process, so a restarted node is a new node),
/// the one Redis connection, whether Redis is usable now, and whether this node owes Redis a resynchronisation.
/// Created only when <c>Relay:Cluster:Redis</c> is set.
/// </summary>
internal sealed partial class ClusterNode : IAsyncDisposable
{
    private readonly RelayClusterOptions _options;
    private readonly ILogger<ClusterNode> _logger;
    private ConnectionMultiplexer? _redis;
    private volatile bool _available;
    private long _dirtyVersion;
    private long _nodesAlive;

    public ClusterNode(RelayOptions options, IMeterFactory meterFactory, ILogger<ClusterNode> logger)
    {
        _options = options.Cluster;
        _logger = logger;
        Id = Guid.NewGuid().ToString("N");
        Prefix = _options.KeyPrefix;
        InternalUrl = _options.InternalUrl ?? "";
        Leases = Prefix + "leases";
        Nodes = Prefix + "nodes";
        Epoch = Prefix + "epoch";
        Reapings = Prefix + "reapings";
        Entries = EntriesOf(Id);
        Channel = ChannelOf(Id);
        DocumentPrefixLength = (Prefix + "doc:").Length;
        Metrics = new ClusterMetrics(meterFactory, () => _available ? Volatile.Read(ref _nodesAlive) : 0, () => _available);
    }

    /// <summary>The address published with the lease (Relay:Cluster:InternalUrl, else resolved once the server listens); empty: none.</summary>
    public string InternalUrl { get; set; } = "";

    /// <summary>This incarnation's id: a restart is a new node, and the old one's presence dies with its lease.</summary>
    public string Id { get; }

    public string Prefix { get; }

    public RedisKey Leases { get; }

    public RedisKey Nodes { get; }

    public RedisKey Epoch { get; }

    /// <summary>Sorted set: dead nodes being reaped → when their reaper last made progress.</summary>
    public RedisKey Reapings { get; }

    public RedisKey Entries { get; }

    public RedisChannel Channel { get; }

    public int DocumentPrefixLength { get; }

    public ClusterMetrics Metrics { get; }

    public RelayClusterOptions Options => _options;

    /// <summary>True while Redis answers and this node holds its lease; false: introductions are local only.</summary>
    public bool IsAvailable => _available;

    public long NodesAlive => Volatile.Read(ref _nodesAlive);

    /// <summary>Bumped whenever Redis may have missed something of this node's; a resync clears the version it saw.</summary>
    public long DirtyVersion => Volatile.Read(ref _dirtyVersion);

    public IDatabase Database => _redis!.GetDatabase();

    public ISubscriber Subscriber => _redis!.GetSubscriber();

    public RedisKey DocumentKey(string documentId) => Prefix + "doc:" + documentId;

    public RedisKey PeerKey(string peerId) => Prefix + "peer:" + peerId;

    public RedisKey EntriesOf(string node) => Prefix + "node:" + node + ":entries";

    public RedisKey ReapingOf(string node) => Prefix + "reaping:" + node;

    public RedisChannel ChannelOf(string node) => RedisChannel.Literal(Prefix + "node:" + node);

    /// <summary>Connects without waiting for Redis: a node whose Redis is down starts, degraded.</summary>
    public async Task ConnectAsync()
    {
        var configuration = ConfigurationOptions.Parse(_options.Redis!);
        configuration.AbortOnConnectFail = false;

        // Fail at once while disconnected instead of queueing: a failed write marks this node for a resync,
        // which repairs whatever was missed, and the peer's local introductions never wait on Redis.
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ClientName ??= "relay-" + Id[..8];
        _redis = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        _redis.ConnectionFailed += (_, e) =>
        {
            // Either link lost: writes and published introductions may have been lost with it.
            Unavailable();
            Log.RedisConnectionLost(_logger, e.ConnectionType.ToString(), e.FailureType.ToString(), e.Exception);
        };
        _redis.ConnectionRestored += (_, e) => Log.RedisConnectionRestored(_logger, e.ConnectionType.ToString());
    }

    /// <summary>Something may not have reached Redis: resynchronise when it is back.</summary>
    public void MarkDirty() => Interlocked.Increment(ref _dirtyVersion);

    public void Unavailable()
    {
        _available = false;
        MarkDirty();
    }

    public void Available(long nodesAlive)
    {
        Volatile.Write(ref _nodesAlive, nodesAlive);
        _available = true;
    }

    /// <summary>Clears the dirty mark if nothing went wrong since <paramref name="version"/> was read.</summary>
    public bool TryMarkClean(long version) => Interlocked.CompareExchange(ref _dirtyVersion, 0, version) == version;

    /// <summary>
    /// Starts a script now (so scripts issued one after the other reach Redis in that order), or returns null when
    /// Redis is unavailable. The returned task never faults: a failure is counted, logged and yields null.
    /// </summary>
    public Task<RedisResult?>? Start(ClusterOperation operation, string script, RedisKey[] keys, RedisValue[] values)
    {
        if (!_available)
        {
            Metrics.Failed(operation);
            MarkDirty();
            return null;
        }

        Task<RedisResult> pending;
        try
        {
            pending = Database.ScriptEvaluateAsync(script, keys, values);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed(operation, ex);
            return null;
        }

        return ObserveAsync(operation, pending, Stopwatch.GetTimestamp());
    }

    /// <summary>Awaits <paramref name="pending"/>, timing it; null on failure.</summary>
    public async Task<RedisResult?> ObserveAsync(ClusterOperation operation, Task<RedisResult> pending, long started)
    {
        try
        {
            var result = await pending.ConfigureAwait(false);
            Metrics.Completed(operation, Stopwatch.GetElapsedTime(started));
            return result;
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed(operation, ex);
            return null;
        }
    }

    /// <summary>Publishes to another node's channel; false (and a resync owed) on failure.</summary>
    public async Task<bool> PublishAsync(string node, RedisValue message)
    {
        if (!_available)
        {
            Metrics.Failed(ClusterOperation.Publish);
            MarkDirty();
            return false;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            await Subscriber.PublishAsync(ChannelOf(node), message).ConfigureAwait(false);
            Metrics.Completed(ClusterOperation.Publish, Stopwatch.GetElapsedTime(started));
            return true;
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed(ClusterOperation.Publish, ex);
            return false;
        }
    }

    private void Failed(ClusterOperation operation, Exception exception)
    {
        Metrics.Failed(operation);
        MarkDirty();
        if (exception is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            _available = false;
        }

        Log.OperationFailed(_logger, operation, exception);
    }

    private static bool IsRedisFailure(Exception exception) =>
        exception is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException;

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterRedisLost, LogLevel.Warning, "Lost the Redis {ConnectionType} connection ({FailureType}); introductions are local only until it is back.")]
        public static partial void RedisConnectionLost(ILogger logger, string connectionType, string failureType, Exception? exception);

        [LoggerMessage(RelayEventIds.ClusterRedisRestored, LogLevel.Information, "The Redis {ConnectionType} connection is back.")]
        public static partial void RedisConnectionRestored(ILogger logger, string connectionType);

        [LoggerMessage(RelayEventIds.ClusterOperationFailed, LogLevel.Debug, "Cluster Redis operation {Operation} failed; a resync is owed.")]
        public static partial void OperationFailed(ILogger logger, ClusterOperation operation, Exception exception);
    }
}
