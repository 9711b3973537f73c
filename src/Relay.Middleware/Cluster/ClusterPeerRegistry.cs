using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Relay.Introduction;
using Relay.Telemetry;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>
/// The introduction registry of a node in a cluster. Peers of this node are introduced to each other by the
/// in-process <see cref="PeerRegistry"/> exactly as on one node, synchronously; presence is also written to
/// Redis (one script per Join, <see cref="ClusterScripts.Join"/>), whose answer names the members of other nodes:
/// this node introduces its joiner to them and publishes their introductions, batched per node, on each node's
/// channel. Every cross-node introduction a local session receives is remembered per document (by the other
/// membership's <c>node|session|stamp</c>), so a resynchronisation, which repeats what it cannot know was made,
/// never introduces twice.
/// </summary>
internal sealed partial class ClusterPeerRegistry(PeerRegistry local, ClusterNode node, RelayMetrics metrics, ILogger<ClusterPeerRegistry> logger)
    : IPeerRegistry
{
    private const int ResyncBatch = 256;

    private readonly ConcurrentDictionary<string, ClusterMember> _members = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Removal> _pendingRemovals = new();
    private readonly Lock _registerLock = new();
    private long _sessions;
    private long _stamps;

    public PeerSession? Register(PeerSession session)
    {
        PeerSession? replaced;
        ClusterMember member;
        ClusterMember? previous = null;
        lock (_registerLock)
        {
            replaced = local.Register(session);
            if (ReferenceEquals(replaced, session))
            {
                // Older than the session already registered here: it never joins the cluster.
                return replaced;
            }

            member = new ClusterMember(session, node.Id + "|" + Interlocked.Increment(ref _sessions).ToString(CultureInfo.InvariantCulture));
            if (replaced is not null && _members.TryGetValue(session.PeerId, out var old) && ReferenceEquals(old.Session, replaced))
            {
                previous = old;
            }

            _members[session.PeerId] = member;
        }

        if (previous is not null)
        {
            Remove(previous);
        }

        lock (member)
        {
            if (node.Start(ClusterOperation.Register, ClusterScripts.Register, RegisterKeys(session.PeerId), RegisterValues(member, resync: false)) is { } pending)
            {
                _ = AfterRegisterAsync(member, pending, resync: false);
            }
        }

        return replaced;
    }

    public void Unregister(PeerSession session)
    {
        local.Unregister(session);
        if (_members.TryGetValue(session.PeerId, out var member) && ReferenceEquals(member.Session, session)
            && _members.TryRemove(new KeyValuePair<string, ClusterMember>(session.PeerId, member)))
        {
            Remove(member);
        }
    }

    public JoinResult Join(PeerSession session, List<string> documentIds, Dictionary<PeerSession, List<string>> introductions)
    {
        if (!_members.TryGetValue(session.PeerId, out var member) || !ReferenceEquals(member.Session, session))
        {
            return local.Join(session, documentIds, introductions);
        }

        var fresh = new List<string>(documentIds.Count);
        var result = local.Join(session, documentIds, introductions, fresh);
        if (result != JoinResult.Joined || fresh.Count == 0)
        {
            return result;
        }

        lock (member)
        {
            if (!member.Gone)
            {
                foreach (var documentId in fresh)
                {
                    member.Stamps[documentId] = Interlocked.Increment(ref _stamps);
                }

                StartJoin(member, fresh);
            }
        }

        return result;
    }

    public void Leave(PeerSession session, List<string> documentIds)
    {
        if (!_members.TryGetValue(session.PeerId, out var member) || !ReferenceEquals(member.Session, session))
        {
            local.Leave(session, documentIds);
            return;
        }

        var left = new List<string>(documentIds.Count);
        local.Leave(session, documentIds, left);
        if (left.Count == 0)
        {
            return;
        }

        lock (member)
        {
            if (member.Gone)
            {
                return;
            }

            var keys = new RedisKey[left.Count + 2];
            var values = new RedisValue[left.Count + 3];
            keys[0] = node.Entries;
            keys[1] = node.PeerKey(member.Session.PeerId);
            values[0] = member.Session.PeerId;
            values[1] = node.DocumentPrefixLength;
            values[2] = "";
            for (var i = 0; i < left.Count; i++)
            {
                member.Stamps.Remove(left[i], out var stamp);
                member.Introduced?.Remove(left[i]);
                keys[i + 2] = node.DocumentKey(left[i]);
                values[i + 3] = member.ValueOf(stamp);
            }

            StartRemoval(new Removal(keys, values));
        }
    }

    /// <summary>A message on this node's channel: introductions (<c>I</c>) and replacements (<c>R</c>), one per line.</summary>
    public void OnMessage(string message)
    {
        foreach (var line in message.AsSpan().EnumerateLines())
        {
            if (line.IsEmpty)
            {
                continue;
            }

            var tokens = line.ToString().Split(' ');
            if (tokens is ["I", var target, var targetSession, var from, ..] && tokens.Length % 2 == 0)
            {
                Deliver(target, targetSession, from, tokens);
            }
            else if (tokens is ["R", var peerId, var session])
            {
                ReplacedElsewhere(peerId, session);
            }
            else
            {
                Log.BadMessage(logger, line.Length);
            }
        }
    }

    /// <summary>
    /// Re-publishes every local peer's presence after Redis lost something of ours (outage, wipe, lost lease):
    /// the removals it missed first, then each session's claim and documents. The joins answer with every member,
    /// so introductions missed meanwhile are made on both sides, and those already made are recognised. True if
    /// all of it reached Redis.
    /// </summary>
    public async Task<bool> ResyncAsync()
    {
        node.Metrics.Resynced();
        var pending = _pendingRemovals.Count;
        for (var i = 0; i < pending && _pendingRemovals.TryDequeue(out var removal); i++)
        {
            if (!await RemoveAsync(removal).ConfigureAwait(false))
            {
                return false;
            }
        }

        var members = _members.Values.ToArray();
        var ok = true;
        for (var start = 0; start < members.Length; start += ResyncBatch)
        {
            var batch = members.AsMemory(start, Math.Min(ResyncBatch, members.Length - start));
            var registers = new List<Task<bool>>(batch.Length);
            foreach (var member in batch.Span)
            {
                lock (member)
                {
                    if (!member.Gone)
                    {
                        var started = node.Start(ClusterOperation.Register, ClusterScripts.Register, RegisterKeys(member.Session.PeerId), RegisterValues(member, resync: true));
                        registers.Add(started is null ? Task.FromResult(false) : AfterRegisterAsync(member, started, resync: true));
                    }
                }
            }

            ok &= (await Task.WhenAll(registers).ConfigureAwait(false)).All(static registered => registered);
            var joins = new List<Task<bool>>(batch.Length);
            foreach (var member in batch.Span)
            {
                lock (member)
                {
                    if (!member.Gone && member.Stamps.Count > 0)
                    {
                        joins.Add(StartJoin(member, [.. member.Stamps.Keys]));
                    }
                }
            }

            ok &= (await Task.WhenAll(joins).ConfigureAwait(false)).All(static joined => joined);
        }

        Log.Resynced(logger, members.Length, ok);
        return ok;
    }

    private RedisKey[] RegisterKeys(string peerId) => [node.Entries, node.PeerKey(peerId), node.Leases];

    private RedisValue[] RegisterValues(ClusterMember member, bool resync) =>
        [member.Session.PeerId, member.SessionValue, node.Id, resync ? "1" : "0"];

    /// <summary>Removes the member's presence: locally gone at once, in Redis in issue order (or at the next resync).</summary>
    private void Remove(ClusterMember member)
    {
        lock (member)
        {
            if (member.Gone)
            {
                return;
            }

            member.Gone = true;
            var keys = new RedisKey[member.Stamps.Count + 2];
            var values = new RedisValue[member.Stamps.Count + 3];
            keys[0] = node.Entries;
            keys[1] = node.PeerKey(member.Session.PeerId);
            values[0] = member.Session.PeerId;
            values[1] = node.DocumentPrefixLength;
            values[2] = member.SessionValue;
            var i = 0;
            foreach (var (documentId, stamp) in member.Stamps)
            {
                keys[i + 2] = node.DocumentKey(documentId);
                values[i + 3] = member.ValueOf(stamp);
                i++;
            }

            member.Stamps.Clear();
            member.Introduced = null;
            StartRemoval(new Removal(keys, values));
        }
    }

    private void StartRemoval(Removal removal)
    {
        if (node.Start(ClusterOperation.Remove, ClusterScripts.Remove, removal.Keys, removal.Values) is { } pending)
        {
            _ = AfterRemovalAsync(removal, pending);
        }
        else
        {
            _pendingRemovals.Enqueue(removal);
        }
    }

    private async Task AfterRemovalAsync(Removal removal, Task<RedisResult?> pending)
    {
        if (await pending.ConfigureAwait(false) is null)
        {
            _pendingRemovals.Enqueue(removal);
        }
    }

    private async Task<bool> RemoveAsync(Removal removal)
    {
        var pending = node.Start(ClusterOperation.Remove, ClusterScripts.Remove, removal.Keys, removal.Values);
        if (pending is null || await pending.ConfigureAwait(false) is null)
        {
            _pendingRemovals.Enqueue(removal);
            return false;
        }

        return true;
    }

    /// <summary>Issues the Join script for <paramref name="documentIds"/> (the caller holds the member's lock, so scripts keep the session's order).</summary>
    private Task<bool> StartJoin(ClusterMember member, List<string> documentIds)
    {
        var keys = new RedisKey[documentIds.Count + 2];
        var values = new RedisValue[documentIds.Count + 3];
        keys[0] = node.Leases;
        keys[1] = node.Entries;
        values[0] = member.Session.PeerId;
        values[1] = node.Id;
        values[2] = node.DocumentPrefixLength;
        for (var i = 0; i < documentIds.Count; i++)
        {
            keys[i + 2] = node.DocumentKey(documentIds[i]);
            values[i + 3] = member.ValueOf(member.Stamps[documentIds[i]]);
        }

        if (node.Start(ClusterOperation.Join, ClusterScripts.Join, keys, values) is not { } pending)
        {
            return Task.FromResult(false);
        }

        // Answers are handled in the order the Joins were made, so a peer hears of its Joins in order.
        var answered = AfterJoinAsync(member, pending, member.LastJoin);
        member.LastJoin = answered;
        return answered;
    }

    private async Task<bool> AfterRegisterAsync(ClusterMember member, Task<RedisResult?> pending, bool resync)
    {
        if (await pending.ConfigureAwait(false) is not { } result)
        {
            return false;
        }

        var reply = (RedisResult[])result!;
        var previous = (string?)reply[0] ?? "";
        var kept = (long)reply[1] == 1;
        if (!kept)
        {
            // Resynchronising, and a live node claimed this peer id meanwhile: its session is the peer's now.
            ReplacedElsewhere(member.Session.PeerId, member.SessionValue);
            return true;
        }

        var bar = previous.IndexOf('|', StringComparison.Ordinal);
        if (bar > 0 && previous != member.SessionValue && previous.AsSpan(0, bar).SequenceEqual(node.Id) is false)
        {
            // The peer id was connected on another node: that session is replaced, as on one node.
            await node.PublishAsync(previous[..bar], $"R {member.Session.PeerId} {previous}").ConfigureAwait(false);
        }

        return true;
    }

    private async Task<bool> AfterJoinAsync(ClusterMember member, Task<RedisResult?> pending, Task<bool> previous)
    {
        await previous.ConfigureAwait(false);
        if (await pending.ConfigureAwait(false) is not { } result)
        {
            return false;
        }

        try
        {
            return await IntroduceAsync(member, result).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidCastException or ArgumentException or FormatException)
        {
            // An answer this node cannot read (someone else's data under our prefix): nothing is introduced from it.
            Log.AnswerFailed(logger, member.Session.PeerId, ex);
            return false;
        }
    }

    /// <summary>Introduces the joiner to the members the Join script returned, and them to it through their nodes.</summary>
    private async Task<bool> IntroduceAsync(ClusterMember member, RedisResult result)
    {
        var rows = (RedisResult[])result!;
        if (rows.Length == 0)
        {
            return true;
        }

        Dictionary<string, StringBuilder>? perNode = null;
        var lines = 0;
        lock (member)
        {
            if (member.Gone)
            {
                return true;
            }

            // Rows come per document; one introduction per other peer names all its documents, as on one node.
            var toJoiner = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            var toOthers = new Dictionary<string, (string Node, string PeerId, List<(string Document, string Value)> Documents)>(StringComparer.Ordinal);
            for (var i = 0; i + 2 < rows.Length; i += 3)
            {
                var documentId = (string)rows[i]!;
                var otherPeer = (string)rows[i + 1]!;
                var otherValue = (string)rows[i + 2]!;
                if (!member.Stamps.TryGetValue(documentId, out var stamp))
                {
                    continue;
                }

                if (member.IntroducedTo(documentId).Add(otherValue))
                {
                    if (!toJoiner.TryGetValue(otherPeer, out var shared))
                    {
                        toJoiner.Add(otherPeer, shared = []);
                    }

                    shared.Add(documentId);
                }

                // Always told, even if the joiner knew already: the other node recognises what it has made.
                var otherSession = otherValue[..otherValue.LastIndexOf('|')];
                if (!toOthers.TryGetValue(otherSession, out var other))
                {
                    toOthers.Add(otherSession, other = (otherValue[..otherValue.IndexOf('|', StringComparison.Ordinal)], otherPeer, []));
                }

                other.Documents.Add((documentId, member.ValueOf(stamp)));
            }

            foreach (var (otherPeer, shared) in toJoiner)
            {
                if (member.Session.TryIntroduce(otherPeer, shared))
                {
                    metrics.IntroductionSent();
                }
            }

            foreach (var (otherSession, other) in toOthers)
            {
                perNode ??= new Dictionary<string, StringBuilder>(StringComparer.Ordinal);
                if (!perNode.TryGetValue(other.Node, out var message))
                {
                    perNode.Add(other.Node, message = new StringBuilder());
                }

                message.Append("I ").Append(other.PeerId).Append(' ').Append(otherSession).Append(' ').Append(member.Session.PeerId);
                foreach (var (documentId, value) in other.Documents)
                {
                    message.Append(' ').Append(documentId).Append(' ').Append(value);
                }

                message.Append('\n');
                lines++;
            }
        }

        var ok = true;
        if (perNode is not null)
        {
            foreach (var (otherNode, message) in perNode)
            {
                ok &= await node.PublishAsync(otherNode, message.ToString()).ConfigureAwait(false);
            }

            node.Metrics.Introduction(ClusterIntroductionResult.Sent, lines);
        }

        return ok;
    }

    private void Deliver(string target, string targetSession, string from, string[] tokens)
    {
        if (!_members.TryGetValue(target, out var member) || member.SessionValue != targetSession)
        {
            node.Metrics.Introduction(ClusterIntroductionResult.Stale);
            return;
        }

        lock (member)
        {
            List<string>? shared = null;
            var known = false;
            for (var i = 4; i + 1 < tokens.Length; i += 2)
            {
                if (member.Gone || !member.Stamps.ContainsKey(tokens[i]))
                {
                    continue;
                }

                if (member.IntroducedTo(tokens[i]).Add(tokens[i + 1]))
                {
                    (shared ??= []).Add(tokens[i]);
                }
                else
                {
                    known = true;
                }
            }

            if (shared is null)
            {
                node.Metrics.Introduction(known ? ClusterIntroductionResult.Duplicate : ClusterIntroductionResult.Stale);
                return;
            }

            if (member.Session.TryIntroduce(from, shared))
            {
                metrics.IntroductionSent();
            }

            node.Metrics.Introduction(ClusterIntroductionResult.Delivered);
        }
    }

    /// <summary>A newer session for the peer id connected on another node: this one is closed with 4409, as on one node.</summary>
    private void ReplacedElsewhere(string peerId, string sessionValue)
    {
        if (!_members.TryGetValue(peerId, out var member) || member.SessionValue != sessionValue
            || !_members.TryRemove(new KeyValuePair<string, ClusterMember>(peerId, member)))
        {
            return;
        }

        local.Unregister(member.Session);
        Remove(member);
        Log.ReplacedElsewhere(logger, peerId);
        metrics.Rejected(RejectionReason.Replaced);
        member.Session.RequestClose((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer session for this peer id");
    }

    /// <summary>One local session's cluster state. Guarded by locking the member itself.</summary>
    private sealed class ClusterMember(PeerSession session, string sessionValue)
    {
        public PeerSession Session { get; } = session;

        /// <summary><c>node|session</c>: this session, cluster-wide.</summary>
        public string SessionValue { get; } = sessionValue;

        /// <summary>Each joined document's membership stamp: leaving and joining again is a new membership.</summary>
        public Dictionary<string, long> Stamps { get; } = new(StringComparer.Ordinal);

        /// <summary>Per document, the other nodes' memberships this session has been introduced to.</summary>
        public Dictionary<string, HashSet<string>>? Introduced { get; set; }

        public bool Gone { get; set; }

        /// <summary>The handling of this session's latest Join answer; the next one waits for it.</summary>
        public Task<bool> LastJoin { get; set; } = Task.FromResult(true);

        public string ValueOf(long stamp) => SessionValue + "|" + stamp.ToString(CultureInfo.InvariantCulture);

        public HashSet<string> IntroducedTo(string documentId)
        {
            Introduced ??= new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            if (!Introduced.TryGetValue(documentId, out var values))
            {
                Introduced.Add(documentId, values = new HashSet<string>(StringComparer.Ordinal));
            }

            return values;
        }
    }

    /// <summary>A Remove script's arguments, kept to retry at the next resync if Redis did not take it.</summary>
    private sealed record Removal(RedisKey[] Keys, RedisValue[] Values);

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterPeerReplaced, LogLevel.Debug, "Peer {PeerId} connected on another node; its session here is closed with 4409.")]
        public static partial void ReplacedElsewhere(ILogger logger, string peerId);

        [LoggerMessage(RelayEventIds.ClusterResynced, LogLevel.Information, "Re-published the presence of {Sessions} sessions to Redis (complete: {Complete}).")]
        public static partial void Resynced(ILogger logger, int sessions, bool complete);

        [LoggerMessage(RelayEventIds.ClusterAnswerFailed, LogLevel.Warning, "Could not read the cluster's answer to a Join of peer {PeerId}.")]
        public static partial void AnswerFailed(ILogger logger, string peerId, Exception exception);

        [LoggerMessage(RelayEventIds.ClusterBadMessage, LogLevel.Warning, "Ignored a malformed {Length}-character line on this node's cluster channel.")]
        public static partial void BadMessage(ILogger logger, int length);
    }
}
