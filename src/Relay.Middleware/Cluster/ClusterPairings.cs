using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Relay.Connection;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>What must meet on one node (a pairing, a sigver group).</summary>
/// <param name="Operation">What its script is counted as (<c>relay.cluster.operation</c>).</param>
/// <param name="Record">The key of its record, naming its node.</param>
/// <param name="LifetimeMilliseconds">The record's lifetime; 0: none, it is valid while its node's lease is (then give an <paramref name="Entry"/>).</param>
/// <param name="Entry">The entry added to this node's entries set when the record names this node, so a dead node's record is reaped; or empty.</param>
/// <param name="HashInputs">What rendezvous hashing hashes (with each node's id) while Redis is unavailable.</param>
internal readonly record struct Placement(ClusterOperation Operation, RedisKey Record, long LifetimeMilliseconds, string Entry, string[] HashInputs);

/// <summary>Where a placement runs: another node (and its URL), or this one (null), and whether Redis records this node for it.</summary>
internal readonly record struct Placed(string? Node, string? Url, bool Recorded);

/// <summary>
/// Decides which node a pairing runs on, so its two halves meet wherever they arrive: the first half records its
/// node in Redis (<c>pair:{doc} {a} {b}</c>, for as long as a half may wait), and a half that finds another live
/// node there is forwarded to it. Sigver groups are placed alike (<see cref="ClusterSigver"/>). A record whose node is dead is taken over. While Redis is unavailable, the node
/// is chosen by rendezvous hashing of the pairing over the live nodes last seen, which both halves compute alike.
/// It also keeps that list of live nodes and the forwarding secret fresh, once per lease interval.
/// </summary>
internal sealed partial class ClusterPairings(
    RelayOptions options,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    ILogger<ClusterPairings> logger) : BackgroundService
{
    /// <summary>
    /// KEYS: record, leases, nodes, this node's entries (read only with an entry). ARGV: node, record lifetime ms
    /// ('': none, the record is valid while its node's lease is), a node whose record to take over regardless (it
    /// could not be reached) or '', an entry to add to this node's entries (so a dead node's record is reaped) or ''.
    /// Returns {node the record names, its internal URL ('' when it is this one)}.
    /// </summary>
    internal const string PlaceScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local cur = redis.call('GET', KEYS[1])
        if cur and cur ~= ARGV[1] and cur ~= ARGV[3] then
          local s = redis.call('ZSCORE', KEYS[2], cur)
          if s and tonumber(s) > now then
            return {cur, redis.call('HGET', KEYS[3], cur) or ''}
          end
        end
        if ARGV[2] == '' then
          redis.call('SET', KEYS[1], ARGV[1])
        else
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        end
        if ARGV[4] ~= '' then redis.call('SADD', KEYS[4], ARGV[4]) end
        return {ARGV[1], ''}
        """;

    /// <summary>
    /// KEYS: leases, nodes, secret. ARGV: a secret to keep if none is kept yet, or '' (configured secret).
    /// Returns {kept secret or '', live node, its URL, ...}.
    /// </summary>
    internal const string MembersScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local secret = false
        if ARGV[1] ~= '' then
          redis.call('SET', KEYS[3], ARGV[1], 'NX')
          secret = redis.call('GET', KEYS[3])
        end
        local out = {secret or ''}
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
          out[#out + 1] = id
          out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
        end
        return out
        """;

    private readonly long _recordMilliseconds = (long)(options.Connection.PendingTimeout + options.Cluster.LeaseInterval).TotalMilliseconds;
    private ClusterNode? _node;
    private volatile (string Id, string Url)[] _liveNodes = [];
    private volatile byte[]? _secret = options.Cluster.Secret is { } secret ? System.Text.Encoding.UTF8.GetBytes(secret) : null;

    public bool Enabled { get; } = options.Cluster.Redis is not null;

    /// <summary>The key that signs forwarded requests; null until read from Redis (when not configured).</summary>
    public byte[]? Secret => _secret;

    public ClusterNode Node => _node ??= services.GetRequiredService<ClusterNode>();

    /// <summary>
    /// The internal URL of the node <paramref name="key"/>'s pairing runs on, or null for this node. With
    /// <paramref name="unreachable"/>, that node's record is taken over (it did not answer).
    /// </summary>
    public async ValueTask<(string? Node, string? Url)> PlaceAsync(PairingKey key, string? unreachable = null)
    {
        var (first, second) = Ordered(key);
        var placed = await PlaceAsync(
            new Placement(ClusterOperation.Pair, Node.Prefix + "pair:" + key.DocumentId + " " + first + " " + second, _recordMilliseconds, "", [key.DocumentId, first, second]),
            unreachable).ConfigureAwait(false);
        return (placed.Node, placed.Url);
    }

    /// <summary>
    /// Where something that must meet on one node (a pairing, a sigver group) runs: the live node its record names,
    /// else this node, which records itself; by rendezvous hashing while Redis is unavailable. The script is sent
    /// before this returns, so callers may order it against their other scripts (under a lock). With
    /// <paramref name="unreachable"/>, that node's record is taken over (it did not answer).
    /// </summary>
    internal async ValueTask<Placed> PlaceAsync(Placement placement, string? unreachable = null)
    {
        var node = Node;
        if (node.IsAvailable
            && node.Start(
                placement.Operation,
                PlaceScript,
                [placement.Record, node.Leases, node.Nodes, node.Entries],
                [node.Id, placement.LifetimeMilliseconds > 0 ? (RedisValue)placement.LifetimeMilliseconds : "", unreachable ?? "", placement.Entry]) is { } pending
            && await pending.ConfigureAwait(false) is { } result)
        {
            var reply = (RedisResult[])result!;
            var owner = (string)reply[0]!;
            var url = (string?)reply[1];
            if (owner == node.Id)
            {
                return new Placed(null, null, Recorded: true);
            }

            if (string.IsNullOrEmpty(url))
            {
                Log.NoInternalUrl(logger, owner);
                return new Placed(null, null, Recorded: false);
            }

            return new Placed(owner, url, Recorded: false);
        }

        var (best, bestUrl) = ByHash(node.Id, placement.HashInputs, unreachable);
        return new Placed(best, bestUrl, Recorded: false);
    }

    /// <summary>Rendezvous hashing: the live node with the highest hash of (inputs, node), so every node agrees on it while their lists agree.</summary>
    private (string? Node, string? Url) ByHash(string self, string[] inputs, string? unreachable)
    {
        string? best = null;
        string? bestUrl = null;
        ulong bestScore = 0;
        foreach (var (id, url) in _liveNodes)
        {
            if (id == unreachable || (id != self && url.Length == 0))
            {
                continue;
            }

            var score = Hash(inputs, id);
            if (best is null || score > bestScore)
            {
                (best, bestUrl, bestScore) = (id, url, score);
            }
        }

        return best is null || best == self ? (null, null) : (best, bestUrl);
    }

    internal static ulong Hash(ReadOnlySpan<string> inputs, string node)
    {
        // FNV-1a over the strings (stable across processes, unlike string.GetHashCode), then a finalizer.
        var hash = 14695981039346656037UL;
        foreach (var part in inputs)
        {
            hash = Mix(hash, part);
        }

        hash = Mix(hash, node);
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        return hash;
    }

    private static ulong Mix(ulong hash, string part)
    {
        foreach (var c in part)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return (hash ^ 0xFFFF) * 1099511628211UL;
    }

    private static (string First, string Second) Ordered(PairingKey key) =>
        string.CompareOrdinal(key.Local, key.Remote) <= 0 ? (key.Local, key.Remote) : (key.Remote, key.Local);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            await started.Task.ConfigureAwait(false);
        }

        var node = Node;
        if (node.InternalUrl.Length == 0)
        {
            node.InternalUrl = ResolveInternalUrl() ?? "";
            if (node.InternalUrl.Length == 0)
            {
                Log.NoInternalUrlHere(logger);
            }
        }

        var unannounced = node.InternalUrl.Length > 0;
        var candidate = options.Cluster.Secret is null ? Convert.ToHexString(RandomNumberGenerator.GetBytes(32)) : "";
        using var timer = new PeriodicTimer(options.Cluster.LeaseInterval);
        do
        {
            if (!node.IsAvailable)
            {
                continue;
            }

            try
            {
                if (unannounced)
                {
                    // Published now rather than at the next lease, so partners are forwarded here from now on.
                    await node.Database.HashSetAsync(node.Nodes, node.Id, node.InternalUrl).ConfigureAwait(false);
                    Log.Forwarding(logger, node.Id, node.InternalUrl);
                    unannounced = false;
                }

                var reply = (RedisResult[])(await node.Database.ScriptEvaluateAsync(
                    MembersScript, [node.Leases, node.Nodes, node.Prefix + "secret"], [candidate]).ConfigureAwait(false))!;
                if (candidate.Length > 0 && (string?)reply[0] is { Length: > 0 } kept)
                {
                    _secret = System.Text.Encoding.UTF8.GetBytes(kept);

                    // Offered from now on: if Redis comes back empty, whichever node writes first puts the same secret
                    // back, so the nodes never sign with different ones (forwarded requests would be refused with 403).
                    candidate = kept;
                }

                var live = new (string, string)[(reply.Length - 1) / 2];
                for (var i = 0; i < live.Length; i++)
                {
                    live[i] = ((string)reply[1 + (2 * i)]!, (string?)reply[2 + (2 * i)] ?? "");
                }

                // Sorted, so a node's list is the same whatever order Redis kept.
                Array.Sort(live, static (a, b) => string.CompareOrdinal(a.Item1, b.Item1));
                if (live.Length != _liveNodes.Length)
                {
                    Log.LiveNodes(logger, live.Length);
                }

                _liveNodes = live;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
            {
                // The last list stays: that is what pairing by hash needs while Redis is away.
                Log.MembersFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>The first address the server listens on that names a host other nodes can reach (not a wildcard).</summary>
    private string? ResolveInternalUrl()
    {
        var addresses = services.GetService<Microsoft.AspNetCore.Hosting.Server.IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses)
        {
            if (Uri.TryCreate(address, UriKind.Absolute, out var uri)
                && uri.Host is not ("0.0.0.0" or "[::]" or "::" or "+" or "*")
                && uri.Scheme is "http" or "https")
            {
                return uri.GetLeftPart(UriPartial.Authority);
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterNoInternalUrl, LogLevel.Warning, "Cluster node {NodeId} holds a pairing or sigver group but published no internal URL; the socket is served here and may not meet its partner.")]
        public static partial void NoInternalUrl(ILogger logger, string nodeId);

        [LoggerMessage(RelayEventIds.ClusterNoInternalUrlHere, LogLevel.Warning, "This node listens on no address other nodes can reach: set Relay:Cluster:InternalUrl, or pairings that start here cannot be forwarded to it.")]
        public static partial void NoInternalUrlHere(ILogger logger);

        [LoggerMessage(RelayEventIds.ClusterForwarding, LogLevel.Information, "Cluster node {NodeId} takes forwarded pairings at '{Url}'.")]
        public static partial void Forwarding(ILogger logger, string nodeId, string url);

        [LoggerMessage(RelayEventIds.ClusterLiveNodes, LogLevel.Information, "Live nodes known for pairing by hash (while Redis is unavailable): {Count}.")]
        public static partial void LiveNodes(ILogger logger, int count);

        [LoggerMessage(RelayEventIds.ClusterMembersFailed, LogLevel.Debug, "Reading the live nodes failed; pairing by hash keeps the last list.")]
        public static partial void MembersFailed(ILogger logger, Exception exception);
    }
}
