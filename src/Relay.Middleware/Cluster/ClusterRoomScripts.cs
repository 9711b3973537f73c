namespace Relay.Cluster;

/// <summary>
/// The Lua scripts of rooms across nodes. Keys (under the prefix): <c>room:{id}</c> (hash user →
/// <c>node|membership|seq</c>; <c>seq</c>, from the <c>roomseq</c> counter, orders the room's users by join),
/// and <c>r {room} {user}</c> entries in the node's entries set, so a dead node's members are reaped (and their
/// rooms told) like its introduction presence. A member counts only while its node's lease is live. Fan-out is
/// done here: a script publishes one message per other live node holding members, on that node's channel, so a
/// packet costs one Redis call and keeps its sender's order (one connection, scripts run one at a time).
/// </summary>
internal static class ClusterRoomScripts
{
    // Shared head: Redis time, and a memoised lease check of member nodes (KEYS[1] is always the leases).
    private const string Head = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local alive = {}
        local function live(n)
          local ok = alive[n]
          if ok == nil then
            local s = redis.call('ZSCORE', KEYS[1], n)
            ok = (s and tonumber(s) > now) and true or false
            alive[n] = ok
          end
          return ok
        end
        local function mine(v, m) return string.sub(v, 1, #m + 1) == m .. '|' end
        local function others(key, self)
          local members = redis.call('HGETALL', key)
          local nodes, seen = {}, {}
          for j = 2, #members, 2 do
            local n = string.match(members[j], '^([^|]+)|')
            if n and n ~= self and not seen[n] then
              seen[n] = true
              if live(n) then nodes[#nodes + 1] = n end
            end
          end
          return nodes
        end

        """;

    /// <summary>
    /// KEYS: leases, room, entries, seq. ARGV: user, membership (node|n), node, max users per room, room id.
    /// Joins unless the room already has its maximum of other live users. Returns {joined 0/1, the value of the
    /// user's membership it replaced (another socket's) or '', initiator 0/1, the other live nodes with members}.
    /// </summary>
    public const string Join = Head + """
        local user, m, node, max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
        local members = redis.call('HGETALL', KEYS[2])
        local staying, replaced, nodes, seen = 0, '', {}, {}
        for j = 1, #members, 2 do
          local other, v = members[j], members[j + 1]
          local n = string.match(v, '^([^|]+)|')
          if n and live(n) then
            if other == user then
              if not mine(v, m) then replaced = v end
            else
              staying = staying + 1
            end
            if n ~= node and not seen[n] then
              seen[n] = true
              nodes[#nodes + 1] = n
            end
          end
        end
        if staying >= max then return {0, replaced, 0, nodes} end
        local seq = redis.call('INCR', KEYS[4])
        redis.call('HSET', KEYS[2], user, m .. '|' .. seq)
        redis.call('SADD', KEYS[3], 'r ' .. ARGV[5] .. ' ' .. user)
        return {1, replaced, staying == 0 and 1 or 0, nodes}
        """;

    /// <summary>
    /// KEYS: leases, room. ARGV: user, membership, node, channel prefix, message. Publishes the message to every
    /// other live node with members, if the membership is still the user's; returns the nodes told (-1: not a member).
    /// </summary>
    public const string Send = Head + """
        local v = redis.call('HGET', KEYS[2], ARGV[1])
        if (not v) or not mine(v, ARGV[2]) then return -1 end
        local nodes = others(KEYS[2], ARGV[3])
        for _, n in ipairs(nodes) do redis.call('PUBLISH', ARGV[4] .. n, ARGV[5]) end
        return #nodes
        """;

    /// <summary>
    /// KEYS: leases, room, entries. ARGV: user, membership, node, channel prefix, message (<c>D {room} {user}</c>),
    /// room id. Removes exactly this membership (a newer one, on any node, stays) and tells the room's other live
    /// nodes; returns the nodes told (-1: not this membership).
    /// </summary>
    public const string Leave = Head + """
        local v = redis.call('HGET', KEYS[2], ARGV[1])
        local entry = 'r ' .. ARGV[6] .. ' ' .. ARGV[1]
        if (not v) or not mine(v, ARGV[2]) then
          if (not v) or string.match(v, '^([^|]+)|') ~= ARGV[3] then redis.call('SREM', KEYS[3], entry) end
          return -1
        end
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('SREM', KEYS[3], entry)
        local nodes = others(KEYS[2], ARGV[3])
        for _, n in ipairs(nodes) do redis.call('PUBLISH', ARGV[4] .. n, ARGV[5]) end
        return #nodes
        """;

    /// <summary>KEYS: leases, room. The room's live users in join order.</summary>
    public const string Users = Head + """
        local members = redis.call('HGETALL', KEYS[2])
        local rows = {}
        for j = 1, #members, 2 do
          local v = members[j + 1]
          local n, seq = string.match(v, '^([^|]+)|.*|(%d+)$')
          if n and live(n) then rows[#rows + 1] = {tonumber(seq), members[j]} end
        end
        table.sort(rows, function(a, b) return a[1] < b[1] end)
        local out = {}
        for i, row in ipairs(rows) do out[i] = row[2] end
        return out
        """;

    /// <summary>
    /// KEYS: leases, room, entries, seq. ARGV: user, membership, node, room id. Re-publishes a membership after
    /// Redis lost it; returns 0 if a live other node holds the user now (this socket is then replaced), else 1.
    /// </summary>
    public const string Resync = Head + """
        local v = redis.call('HGET', KEYS[2], ARGV[1])
        local entry = 'r ' .. ARGV[4] .. ' ' .. ARGV[1]
        if v and mine(v, ARGV[2]) then
          redis.call('SADD', KEYS[3], entry)
          return 1
        end
        if v then
          local n = string.match(v, '^([^|]+)|')
          if n and n ~= ARGV[3] and live(n) then return 0 end
        end
        local seq = redis.call('INCR', KEYS[4])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. seq)
        redis.call('SADD', KEYS[3], entry)
        return 1
        """;
}
