using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>
/// Decides which node a sigver group meets on: the record <c>sigver:{key}</c> names the node (valid while that
/// node's lease is, reaped with it through its <c>g {key}</c> entry); a peer that finds another live node there is
/// forwarded to it, as a pairing half is; while Redis is unavailable, the key is hashed over the live nodes last seen.
/// This node holds the record while any peer of the key is connected here, and removes it (if it still names this
/// node) when the last one leaves. The holds of a key and the scripts that claim or release its record are ordered
/// under one lock, so a release never overtakes the claim of a peer arriving just then.
/// </summary>
internal sealed class ClusterSigver(ClusterPairings pairings)
{
    /// <summary>KEYS: record, this node's entries. ARGV: node, entry. Deletes the record if it still names the node.</summary>
    internal const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        redis.call('SREM', KEYS[2], ARGV[2])
        return 1
        """;

    private readonly Dictionary<string, Hold> _holds = new(StringComparer.Ordinal);

    public bool Enabled => pairings.Enabled;

    /// <summary>
    /// The node the key's group meets on: another node's (node, URL), or (null, null) for this one, which then holds
    /// the key until <see cref="Release"/>. A peer <paramref name="forwarded"/> here by another node is served here
    /// whatever the record says now; the record is claimed if it is free. With <paramref name="unreachable"/>, that
    /// node's record is taken over (it did not answer).
    /// </summary>
    public async ValueTask<(string? Node, string? Url)> PlaceAsync(string key, bool forwarded, string? unreachable = null)
    {
        var node = pairings.Node;
        Hold hold;
        ValueTask<Placed> placing;
        lock (_holds)
        {
            if (!_holds.TryGetValue(key, out hold!))
            {
                _holds[key] = hold = new Hold();
            }

            hold.Count++;

            // The script is sent before PlaceAsync returns: in this lock's order with the key's releases.
            placing = pairings.PlaceAsync(
                new Placement(ClusterOperation.Sigver, node.Prefix + "sigver:" + key, 0, "g " + key, [key]), unreachable);
        }

        var placed = await placing.ConfigureAwait(false);
        if (placed.Url is null || forwarded)
        {
            if (placed.Recorded)
            {
                lock (_holds)
                {
                    hold.Claimed = true;
                }
            }

            return (null, null);
        }

        Release(key);
        return (placed.Node, placed.Url);
    }

    /// <summary>A peer this node held the key for has gone: the last one removes the record, if it names this node.</summary>
    public void Release(string key)
    {
        lock (_holds)
        {
            if (!_holds.TryGetValue(key, out var hold) || --hold.Count > 0)
            {
                return;
            }

            _holds.Remove(key);
            if (hold.Claimed)
            {
                // Not sent while Redis is unavailable: the record then stays, naming this live node (harmless, and
                // reaped with this node's entries when its lease ends).
                var node = pairings.Node;
                _ = node.Start(ClusterOperation.Sigver, ReleaseScript, [node.Prefix + "sigver:" + key, node.Entries], [node.Id, "g " + key]);
            }
        }
    }

    /// <summary>
    /// After Redis lost something of this node's (emptied, or this node's lease lapsed and was reaped): the record of
    /// every key held here is claimed again if it is free. A key a live other node took meanwhile stays its (the two
    /// groups go on until one empties). True if every script reached Redis.
    /// </summary>
    public async Task<bool> ResyncAsync()
    {
        var node = pairings.Node;
        List<(Hold Hold, Task<RedisResult?>? Pending)> claims = [];
        lock (_holds)
        {
            foreach (var (key, hold) in _holds)
            {
                // Claimed before the answer, so a release in between is sent (compare-and-delete: harmless if not ours).
                hold.Claimed = true;
                claims.Add((hold, node.Start(
                    ClusterOperation.Sigver, ClusterPairings.PlaceScript,
                    [node.Prefix + "sigver:" + key, node.Leases, node.Nodes, node.Entries], [node.Id, "", "", "g " + key])));
            }
        }

        var ok = true;
        foreach (var (_, pending) in claims)
        {
            ok &= pending is not null && await pending.ConfigureAwait(false) is not null;
        }

        return ok;
    }

    /// <summary>This node's peers of one key, and whether this node recorded itself as the key's group node.</summary>
    private sealed class Hold
    {
        public int Count;
        public bool Claimed;
    }
}
