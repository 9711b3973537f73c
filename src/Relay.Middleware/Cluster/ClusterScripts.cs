namespace Relay.Cluster;

/// <summary>
/// The Lua scripts the cluster runs in Redis. Each runs atomically, so two Joins of one document on two nodes
/// are ordered there: the later one sees the earlier and makes the introduction, exactly once.
/// <para>
/// Keys (all under <see cref="RelayClusterOptions.KeyPrefix"/>): <c>leases</c> (sorted set node → lease expiry,
/// Redis time in ms), <c>nodes</c> (hash node → internal URL), <c>epoch</c> (a random id; a different or
/// missing one means Redis lost its data), <c>doc:{id}</c> (hash peer → <c>node|session|stamp</c>),
/// <c>peer:{id}</c> (<c>node|session</c> of the peer's current session), <c>node:{id}:entries</c> (set of the
/// node's entries, <c>d {doc} {peer}</c>, <c>p {peer}</c>, room members <c>r {room} {user}</c>, targeted sessions <c>t {user}</c> and sigver group records <c>g {key}</c>, so a dead node's presence can be reaped). Ids never
/// contain whitespace, so a space separates them. A value counts only while its node's lease is live.
/// </para>
/// </summary>
internal static class ClusterScripts
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    /// <summary>
    /// KEYS: leases, epoch, nodes, reapings. ARGV: node, timeout ms, epoch candidate, internal URL (or empty).
    /// Renews the lease; returns {lease was lost (expired, reaped or wiped): 0/1, epoch, live nodes, expired nodes,
    /// reapings whose reaper has made no progress for twice the timeout (it died: another takes over)}.
    /// </summary>
    public const string Lease = Now + """

        local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
        local lost = 0
        if (not had) or tonumber(had) <= now then lost = 1 end
        redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
        redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
        local epoch = redis.call('GET', KEYS[2])
        if not epoch then
          redis.call('SET', KEYS[2], ARGV[3])
          epoch = ARGV[3]
        end
        local alive = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
        local stalled = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - 2 * tonumber(ARGV[2]), 'LIMIT', 0, 16)
        return {lost, epoch, alive, expired, stalled}
        """;

    /// <summary>KEYS: leases, nodes. ARGV: node. Ends the node's lease at once (graceful stop): others reap what is left.</summary>
    public const string Resign = """
        redis.call('ZADD', KEYS[1], 0, ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        return 1
        """;

    /// <summary>
    /// KEYS: entries, peer key, leases. ARGV: peer, value (node|session), node, mode (0: a new session, always
    /// takes the id; 1: resynchronising, keeps a live other node's newer claim). Returns {previous value or '', kept 0/1}.
    /// </summary>
    public const string Register = Now + """

        local old = redis.call('GET', KEYS[2])
        if ARGV[4] == '1' and old and old ~= ARGV[2] then
          local n = string.match(old, '^([^|]+)|')
          if n ~= ARGV[3] then
            local s = redis.call('ZSCORE', KEYS[3], n)
            if s and tonumber(s) > now then return {old, 0} end
          end
        end
        redis.call('SET', KEYS[2], ARGV[2])
        redis.call('SADD', KEYS[1], 'p ' .. ARGV[1])
        return {old or '', 1}
        """;

    /// <summary>
    /// KEYS: leases, entries, doc hashes. ARGV: peer, node, length of the doc key prefix, one value per doc.
    /// Adds the peer to each document and returns the members of live other nodes as flat
    /// {doc, peer, value, ...}: work in proportion to the documents joined and their members.
    /// </summary>
    public const string Join = Now + """

        local peer, node, plen = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local alive = {}
        alive[node] = false
        local out = {}
        for i = 3, #KEYS do
          local doc = string.sub(KEYS[i], plen + 1)
          local members = redis.call('HGETALL', KEYS[i])
          for j = 1, #members, 2 do
            local other, v = members[j], members[j + 1]
            if other ~= peer then
              local n = string.match(v, '^([^|]+)|')
              local ok = alive[n]
              if ok == nil then
                local s = redis.call('ZSCORE', KEYS[1], n)
                ok = (s and tonumber(s) > now) and true or false
                alive[n] = ok
              end
              if ok then
                out[#out + 1] = doc
                out[#out + 1] = other
                out[#out + 1] = v
              end
            end
          end
          redis.call('HSET', KEYS[i], peer, ARGV[i + 1])
          redis.call('SADD', KEYS[2], 'd ' .. doc .. ' ' .. peer)
        end
        return out
        """;

    /// <summary>
    /// KEYS: entries, peer key, doc hashes. ARGV: peer, length of the doc key prefix, peer value (node|session, or
    /// empty to leave the peer key alone), one value per doc. Removes exactly these values: a newer session's
    /// entries (on any node) stay.
    /// </summary>
    public const string Remove = """
        local peer, plen = ARGV[1], tonumber(ARGV[2])
        for i = 3, #KEYS do
          local v = redis.call('HGET', KEYS[i], peer)
          if v == ARGV[i + 1] then redis.call('HDEL', KEYS[i], peer) end
          if (not v) or v == ARGV[i + 1] then
            redis.call('SREM', KEYS[1], 'd ' .. string.sub(KEYS[i], plen + 1) .. ' ' .. peer)
          end
        end
        if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
          redis.call('DEL', KEYS[2])
          redis.call('SREM', KEYS[1], 'p ' .. peer)
        end
        return 1
        """;

    /// <summary>
    /// KEYS: leases, nodes, the dead node's entries, its reaping set, reapings. ARGV: dead node, timeout ms. Claims the
    /// reaping of a node whose lease expired, or of one whose reaper stalled (one node wins): 1 if this caller reaps it.
    /// </summary>
    public const string ClaimReap = Now + """

        local claimed = redis.call('ZSCORE', KEYS[5], ARGV[1])
        if claimed then
          if tonumber(claimed) > now - 2 * tonumber(ARGV[2]) then return 0 end
          redis.call('ZADD', KEYS[5], now, ARGV[1])
          return 1
        end
        local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if (not s) or tonumber(s) > now then return 0 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[4]) end
        redis.call('ZADD', KEYS[5], now, ARGV[1])
        return 1
        """;

    /// <summary>
    /// KEYS: the reaping set, leases, reapings. ARGV: dead node, batch size, key prefix. Removes a batch of the dead node's
    /// entries that still hold its values; returns {entries removed, entries taken from the set}. A node that holds
    /// a lease again (it was cut off, not dead) is left alone: it re-publishes its own presence.
    /// </summary>
    public const string Reap = Now + """

        local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
        if s and tonumber(s) > now then
          redis.call('DEL', KEYS[1])
          redis.call('ZREM', KEYS[3], ARGV[1])
          return {0, 0}
        end
        local entries = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
        if #entries == 0 then
          redis.call('ZREM', KEYS[3], ARGV[1])
          return {0, 0}
        end
        -- Progress: the claim stays fresh, so no other node takes over a reaping that moves.
        redis.call('ZADD', KEYS[3], now, ARGV[1])
        local mark = ARGV[1] .. '|'
        local removed = 0
        for _, e in ipairs(entries) do
          local kind, a, b = string.match(e, '^(%a) (%S+) ?(%S*)$')
          if string.sub(e, 1, 2) == 'g ' then
            -- A sigver group's record (ClusterSigver): its value is the node alone, and its key may be any text.
            local key = ARGV[3] .. 'sigver:' .. string.sub(e, 3)
            if redis.call('GET', key) == ARGV[1] then
              redis.call('DEL', key)
              removed = removed + 1
            end
          elseif kind == 'd' then
            local key = ARGV[3] .. 'doc:' .. a
            local v = redis.call('HGET', key, b)
            if v and string.sub(v, 1, #mark) == mark then
              redis.call('HDEL', key, b)
              removed = removed + 1
            end
          elseif kind == 'p' then
            local key = ARGV[3] .. 'peer:' .. a
            local v = redis.call('GET', key)
            if v and string.sub(v, 1, #mark) == mark then
              redis.call('DEL', key)
              removed = removed + 1
            end
          elseif kind == 't' then
            -- A connected targeted-signaling session (ClusterTargeted).
            local key = ARGV[3] .. 'tgt:active'
            local v = redis.call('HGET', key, a)
            if v and string.sub(v, 1, #mark) == mark then
              redis.call('HDEL', key, a)
              removed = removed + 1
            end
          elseif kind == 'r' then
            -- A room member (ClusterRoomScripts): the room's live nodes are told it left, as on one node.
            local key = ARGV[3] .. 'room:' .. a
            local v = redis.call('HGET', key, b)
            if v and string.sub(v, 1, #mark) == mark then
              redis.call('HDEL', key, b)
              removed = removed + 1
              local members, told = redis.call('HGETALL', key), {}
              for j = 2, #members, 2 do
                local n = string.match(members[j], '^([^|]+)|')
                if n and not told[n] then
                  told[n] = true
                  local ls = redis.call('ZSCORE', KEYS[2], n)
                  if ls and tonumber(ls) > now then redis.call('PUBLISH', ARGV[3] .. 'node:' .. n, 'D ' .. a .. ' ' .. b) end
                end
              end
            end
          end
        end
        return {removed, #entries}
        """;
}
