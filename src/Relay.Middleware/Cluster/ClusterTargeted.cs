using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Relay.Protocol;
using Relay.Targeted;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>
/// Targeted signaling across the nodes of a cluster. Registrations (<c>tgt:users</c>, user → token, bounded by
/// <see cref="RelayTargetedOptions.MaxRegistrations"/> cluster-wide) and connected sessions (<c>tgt:active</c>,
/// user → <c>node|n</c>, valid while the node's lease is, reaped with it through <c>t {user}</c> entries) are in
/// Redis; each node also keeps them in its in-process <see cref="TargetedRegistry"/>, which delivers to its own
/// sessions and carries on alone while Redis is unavailable. A message to a user connected on another node is one
/// script that publishes it to that node's channel (<c>T {user} {node|n}\n{message}</c>); a kick is one script that
/// forgets every connected session and tells every live node (<c>K</c>).
/// </summary>
internal sealed partial class ClusterTargeted(ClusterNode node, TargetedRegistry local, RelayOptions options, ILogger<ClusterTargeted> logger)
{
    private const string Head = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function live(n)
          local s = redis.call('ZSCORE', KEYS[1], n)
          return (s and tonumber(s) > now) and true or false
        end

        """;

    /// <summary>KEYS: users. ARGV: user, token, max. 1 registered, 0 taken, 2 full.</summary>
    private const string RegisterScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
        if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 2 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 1
        """;

    /// <summary>KEYS: users. ARGV: user. The registration's token, or nil.</summary>
    private const string TokenScript = "return redis.call('HGET', KEYS[1], ARGV[1])";

    /// <summary>
    /// KEYS: leases, users, active, entries. ARGV: user, token, session (node|n). 0 unauthenticated, 1 connected,
    /// 2 already connected on a live node (that session is untouched).
    /// </summary>
    private const string ConnectScript = Head + """
        if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
        local v = redis.call('HGET', KEYS[3], ARGV[1])
        if v and v ~= ARGV[3] then
          local n = string.match(v, '^([^|]+)|')
          if n and live(n) then return 2 end
        end
        redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
        redis.call('SADD', KEYS[4], 't ' .. ARGV[1])
        return 1
        """;

    /// <summary>KEYS: active, entries. ARGV: user, session. Forgets exactly this session.</summary>
    private const string DisconnectScript = """
        local v = redis.call('HGET', KEYS[1], ARGV[1])
        if v == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
        if (not v) or v == ARGV[2] then redis.call('SREM', KEYS[2], 't ' .. ARGV[1]) end
        return 1
        """;

    /// <summary>KEYS: leases, active. ARGV: target, channel prefix, message, this node. 1 if published to the target's (other, live) node.</summary>
    private const string SendScript = Head + """
        local v = redis.call('HGET', KEYS[2], ARGV[1])
        if not v then return 0 end
        local n = string.match(v, '^([^|]+)|')
        if (not n) or n == ARGV[4] or not live(n) then return 0 end
        redis.call('PUBLISH', ARGV[2] .. n, 'T ' .. ARGV[1] .. ' ' .. v .. '\n' .. ARGV[3])
        return 1
        """;

    /// <summary>KEYS: leases, active. ARGV: channel prefix, this node. Forgets every connected session and tells the other live nodes.</summary>
    private const string KickScript = Head + """
        redis.call('DEL', KEYS[2])
        local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
        for _, n in ipairs(nodes) do
          if n ~= ARGV[2] then redis.call('PUBLISH', ARGV[1] .. n, 'K') end
        end
        return #nodes
        """;

    /// <summary>KEYS: leases, users, active, entries. ARGV: user, token, session or ''. Re-publishes a registration and a session; 0 if a live other node holds the user's session (ours is then closed as a duplicate).</summary>
    private const string ResyncScript = Head + """
        redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
        if ARGV[3] == '' then return 1 end
        local v = redis.call('HGET', KEYS[3], ARGV[1])
        if v and v ~= ARGV[3] then
          local n = string.match(v, '^([^|]+)|')
          if n and live(n) then return 0 end
        end
        redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
        redis.call('SADD', KEYS[4], 't ' .. ARGV[1])
        return 1
        """;

    private readonly RedisKey _users = node.Prefix + "tgt:users";
    private readonly RedisKey _active = node.Prefix + "tgt:active";
    private readonly RedisValue _channelPrefix = node.Prefix + "node:";
    private readonly int _maxRegistrations = options.Targeted.MaxRegistrations;
    private readonly ConcurrentDictionary<TargetedSession, string> _sessions = new();
    private readonly ConcurrentQueue<(string Username, string Value)> _pendingDisconnects = new();
    private long _counter;

    /// <summary>True for a message on this node's channel that is targeted signaling's.</summary>
    public static bool Handles(ReadOnlySpan<byte> message) => (message.Length == 1 && message[0] == (byte)'K') || (message.Length > 1 && message[0] == (byte)'T' && message[1] == (byte)' ');

    /// <summary>Registers cluster-wide (the local registry keeps a copy); per node while Redis does not answer.</summary>
    public async ValueTask<(RegistrationResult Result, string? Token)> RegisterAsync(string username)
    {
        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        var pending = node.Start(ClusterOperation.TargetedRegister, RegisterScript, [_users], [username, token, _maxRegistrations]);
        if (pending is null || await pending.ConfigureAwait(false) is not { } result)
        {
            var fallback = local.Register(username, out var localToken);
            return (fallback, localToken);
        }

        switch ((long)result)
        {
            case 0:
                return (RegistrationResult.Taken, null);
            case 2:
                return (RegistrationResult.Full, null);
        }

        local.Adopt(username, token);
        return (RegistrationResult.Registered, token);
    }

    /// <summary>Whether the signed cookie's registration exists on this node or in Redis.</summary>
    public async ValueTask<bool> IsRegisteredAsync(string username, string token)
    {
        if (local.IsRegistered(username, token))
        {
            return true;
        }

        var pending = node.Start(ClusterOperation.TargetedRegister, TokenScript, [_users], [username]);
        if (pending is null || await pending.ConfigureAwait(false) is not { } result || (string?)result != token)
        {
            return false;
        }

        local.Adopt(username, token);
        return true;
    }

    /// <summary>Makes the session its user's, unless the user has one on any live node (ALREADY_EXISTS).</summary>
    public async ValueTask<ConnectResult> ConnectAsync(TargetedSession session, string token)
    {
        var value = node.Id + "|" + Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture);
        var pending = node.Start(ClusterOperation.TargetedConnect, ConnectScript, [node.Leases, _users, _active, node.Entries], [session.Username, token, value]);
        if (pending is null || await pending.ConfigureAwait(false) is not { } result)
        {
            return Connected(session, value, local.Connect(session, token));
        }

        switch ((long)result)
        {
            case 0:
                return ConnectResult.Unauthenticated;
            case 2:
                return ConnectResult.AlreadyExists;
        }

        local.Adopt(session.Username, token);
        var connected = Connected(session, value, local.Connect(session, token));
        if (connected != ConnectResult.Connected)
        {
            StartDisconnect(session.Username, value);
        }

        return connected;
    }

    /// <summary>The session ended, was kicked or replaced: forgotten in Redis if it is still the user's there.</summary>
    public void Disconnect(TargetedSession session)
    {
        if (_sessions.TryRemove(session, out var value))
        {
            StartDisconnect(session.Username, value);
        }
    }

    /// <summary>A message for a user not connected here: published to the node holding its session. False: not connected anywhere (or Redis unavailable).</summary>
    public async ValueTask<bool> SendAsync(string target, ReadOnlyMemory<byte> message)
    {
        var pending = node.Start(ClusterOperation.TargetedSend, SendScript, [node.Leases, _active], [target, _channelPrefix, message, node.Id]);
        return pending is not null && await pending.ConfigureAwait(false) is { } result && (long)result == 1;
    }

    /// <summary>Kicks every session on every node: those of other nodes through Redis (here: the caller's).</summary>
    public async ValueTask KickAsync()
    {
        // Each kicked session forgets itself as it ends; the script has emptied tgt:active already.
        if (node.Start(ClusterOperation.TargetedSend, KickScript, [node.Leases, _active], [_channelPrefix, node.Id]) is { } pending)
        {
            await pending.ConfigureAwait(false);
        }
    }

    /// <summary>A targeted message on this node's channel.</summary>
    public void OnMessage(byte[] message)
    {
        if (message is [(byte)'K'])
        {
            var kicked = local.RemoveAllActive();
            foreach (var kickedSession in kicked)
            {
                kickedSession.Kick("KICKED");
            }

            Log.Kicked(logger, kicked.Count);
            return;
        }

        var newline = Array.IndexOf(message, (byte)'\n');
        var header = newline < 0 ? [] : Encoding.UTF8.GetString(message, 0, newline).Split(' ');
        if (header is not ["T", var target, var value])
        {
            Log.BadMessage(logger, message.Length);
            return;
        }

        // Only the session the sender's node saw: a newer one (after a reconnect) is not sent what was meant for the old.
        if (local.FindActive(target) is { } session && _sessions.TryGetValue(session, out var current) && current == value)
        {
            var length = message.Length - newline - 1;
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            message.AsSpan(newline + 1).CopyTo(buffer);
            if (!session.TrySend(new OutboundMessage(buffer, length, WebSocketMessageType.Text)))
            {
                local.Disconnect(session);
                Disconnect(session);
            }
        }
    }

    /// <summary>After Redis lost something of this node's: registrations and connected sessions again. True if all of it reached Redis.</summary>
    public async Task<bool> ResyncAsync()
    {
        // The sessions that ended while Redis was away first, so they do not block their users' reconnects.
        var ok = true;
        var count = _pendingDisconnects.Count;
        for (var i = 0; i < count && _pendingDisconnects.TryDequeue(out var ended); i++)
        {
            var started = node.Start(ClusterOperation.TargetedDisconnect, DisconnectScript, [_active, node.Entries], [ended.Username, ended.Value]);
            if (started is null || await started.ConfigureAwait(false) is null)
            {
                _pendingDisconnects.Enqueue(ended);
                ok = false;
            }
        }

        var resyncs = new List<Task<bool>>();
        foreach (var (username, token) in local.Registrations())
        {
            var session = local.FindActive(username);
            var value = session is not null && _sessions.TryGetValue(session, out var held) ? held : "";
            var pending = node.Start(ClusterOperation.TargetedConnect, ResyncScript, [node.Leases, _users, _active, node.Entries], [username, token, value]);
            resyncs.Add(pending is null ? Task.FromResult(false) : AfterResyncAsync(session, pending));
        }

        ok &= (await Task.WhenAll(resyncs).ConfigureAwait(false)).All(static done => done);
        Log.Resynced(logger, resyncs.Count, ok);
        return ok;
    }

    private async Task<bool> AfterResyncAsync(TargetedSession? session, Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is not { } result)
        {
            return false;
        }

        if ((long)result == 0 && session is not null)
        {
            // Both nodes took the user while Redis was away: the session Redis kept stays, this one ends as a duplicate.
            local.Disconnect(session);
            _sessions.TryRemove(session, out _);
            session.Kick("ALREADY_EXISTS");
        }

        return true;
    }

    private ConnectResult Connected(TargetedSession session, string value, ConnectResult result)
    {
        if (result == ConnectResult.Connected)
        {
            _sessions[session] = value;
        }

        return result;
    }

    private void StartDisconnect(string username, string value)
    {
        if (node.Start(ClusterOperation.TargetedDisconnect, DisconnectScript, [_active, node.Entries], [username, value]) is { } pending)
        {
            _ = AfterDisconnectAsync(username, value, pending);
        }
        else
        {
            _pendingDisconnects.Enqueue((username, value));
        }
    }

    private async Task AfterDisconnectAsync(string username, string value, Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is null)
        {
            _pendingDisconnects.Enqueue((username, value));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterTargetedKicked, LogLevel.Information, "Kicked {Count} targeted-signaling sessions at another node's request.")]
        public static partial void Kicked(ILogger logger, int count);

        [LoggerMessage(RelayEventIds.ClusterTargetedResynced, LogLevel.Information, "Re-published {Registrations} targeted registrations and their sessions to Redis (complete: {Complete}).")]
        public static partial void Resynced(ILogger logger, int registrations, bool complete);

        [LoggerMessage(RelayEventIds.ClusterTargetedBadMessage, LogLevel.Warning, "Ignored a malformed {Length}-byte targeted message on this node's cluster channel.")]
        public static partial void BadMessage(ILogger logger, int length);
    }
}
