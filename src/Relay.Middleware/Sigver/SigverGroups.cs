using System.Collections.Concurrent;
using Relay.Sigver.Protocol;
using Relay.Telemetry;

namespace Relay.Sigver;

/// <summary>
/// The sigver state machine: groups per key, members, joiners bound to members, and the content routed between
/// them. The in-process implementation below is the only one: on a cluster, a group's peers are all forwarded to
/// one node (<c>Cluster/ClusterSigver</c>), where it runs in-process as on a single node.
/// </summary>
internal interface ISigverGroups
{
    /// <summary>Peers connected (with a valid key).</summary>
    int PeerCount { get; }

    /// <summary>Keys with at least one member.</summary>
    int GroupCount { get; }

    /// <summary>Members of the key's group now (0 if it has none).</summary>
    int MemberCount(string key);

    /// <summary>A new peer: it creates its key's group (isFirst:true) or is bound to a member (isFirst:false).</summary>
    void Join(SigverPeer peer);

    /// <summary><c>tryAnother</c>: the join runs again, against the members the peer has not tried.</summary>
    void TryAnother(SigverPeer peer);

    /// <summary><c>stable</c>: the peer becomes a member (its group is made again if it vanished).</summary>
    void Stable(SigverPeer peer);

    /// <summary>
    /// Content from the peer, to its member (as a joiner) and to the joiner it addresses (as a member). Returns
    /// how many peers it was relayed to (0, 1 or 2).
    /// </summary>
    int Content(SigverPeer peer, Content content);

    /// <summary>The peer's socket is gone: it leaves its group (each side bound to it gets isError) and its key. Idempotent.</summary>
    void Leave(SigverPeer peer);
}

/// <summary>One binding of a joiner to a member: the id the member knows the joiner by, and which directions are open.</summary>
internal sealed class SigverBinding(SigverPeer member, SigverPeer joiner, uint id)
{
    public SigverPeer Member { get; } = member;

    public SigverPeer Joiner { get; } = joiner;

    public uint Id { get; } = id;

    /// <summary>Joiner to member: open until the joiner sends isEnd or either side isError.</summary>
    public bool ToMemberOpen { get; set; } = true;

    /// <summary>Member to joiner: open until the member sends isEnd or either side isError.</summary>
    public bool ToJoinerOpen { get; set; } = true;
}

/// <summary>The peers of one key, and its lock: everything a message of one of them changes is in here.</summary>
internal sealed class SigverKeyEntry(string key)
{
    public Lock Gate { get; } = new();

    public string Key { get; } = key;

    /// <summary>Members, oldest first.</summary>
    public List<SigverPeer> Members { get; } = [];

    /// <summary>Connected peers of this key; at 0 the entry is removed and marked so a late joiner takes a new one.</summary>
    public int Peers { get; set; }

    public bool Removed { get; set; }

    /// <summary>Reused to encode content frames (under <see cref="Gate"/>).</summary>
    public Message Scratch { get; } = new();
}

/// <summary>The in-process groups: one lock per key, so peers of different keys never wait for each other.</summary>
internal sealed class SigverGroups(RelayOptions options) : ISigverGroups
{
    private readonly ConcurrentDictionary<string, SigverKeyEntry> _keys = new(StringComparer.Ordinal);
    private readonly RelaySigverOptions _limits = options.Sigver;
    private int _peers;
    private int _groups;

    public int PeerCount => Volatile.Read(ref _peers);

    public int GroupCount => Volatile.Read(ref _groups);

    public int MemberCount(string key)
    {
        if (!_keys.TryGetValue(key, out var entry))
        {
            return 0;
        }

        lock (entry.Gate)
        {
            return entry.Members.Count;
        }
    }

    public void Join(SigverPeer peer)
    {
        while (true)
        {
            var entry = _keys.GetOrAdd(peer.Key, static key => new SigverKeyEntry(key));
            lock (entry.Gate)
            {
                if (entry.Removed)
                {
                    continue;
                }

                entry.Peers++;
                peer.Entry = entry;
                Interlocked.Increment(ref _peers);
                Bind(entry, peer);
                return;
            }
        }
    }

    public void TryAnother(SigverPeer peer) => Locked(peer, static (groups, entry, peer) => groups.Bind(entry, peer));

    public void Stable(SigverPeer peer) => Locked(peer, static (groups, entry, peer) =>
    {
        if (peer.IsMember)
        {
            return;
        }

        if (entry.Members.Count == 0)
        {
            groups.TryCreateGroup(entry, peer);
        }
        else if (entry.Members.Count >= groups._limits.MaxMembersPerGroup)
        {
            groups.Refuse(entry, peer, RejectionReason.GroupFull, $"The group already has {groups._limits.MaxMembersPerGroup} members");
        }
        else
        {
            peer.IsMember = true;
            entry.Members.Add(peer);
        }
    });

    public int Content(SigverPeer peer, Content content)
    {
        var entry = peer.Entry;
        if (entry is null)
        {
            return 0;
        }

        lock (entry.Gate)
        {
            var relayed = 0;
            if (peer.Detached)
            {
                return relayed;
            }

            var ends = content.TypeCase != Protocol.Content.TypeOneofCase.Data;
            var error = content.TypeCase == Protocol.Content.TypeOneofCase.IsError;

            // As a joiner: to its member, under the joiner's id (whatever id the joiner wrote).
            if (peer.AsJoiner is { ToMemberOpen: true } up)
            {
                up.Member.Send(SigverFrames.ContentFrame(entry.Scratch, up.Id, content));
                relayed++;
                if (ends)
                {
                    up.ToMemberOpen = false;
                    up.ToJoinerOpen &= !error;
                    Prune(up);
                }
            }

            // As a member: to the joiner it addresses, which sees id 0. An id that is no joiner of this member goes nowhere.
            if (peer.Joiners is { } joiners && joiners.TryGetValue(content.Id, out var down) && down.ToJoinerOpen)
            {
                down.Joiner.Send(SigverFrames.ContentFrame(entry.Scratch, 0, content));
                relayed++;
                if (ends)
                {
                    down.ToJoinerOpen = false;
                    down.ToMemberOpen &= !error;
                    Prune(down);
                }
            }

            return relayed;
        }
    }

    public void Leave(SigverPeer peer)
    {
        var entry = peer.Entry;
        if (entry is null)
        {
            return;
        }

        lock (entry.Gate)
        {
            if (peer.Left)
            {
                return;
            }

            peer.Left = true;
            Detach(entry, peer);
            entry.Peers--;
            Interlocked.Decrement(ref _peers);
            if (entry.Peers == 0)
            {
                entry.Removed = true;
                _keys.TryRemove(KeyValuePair.Create(entry.Key, entry));
            }
        }
    }

    private void Locked(SigverPeer peer, Action<SigverGroups, SigverKeyEntry, SigverPeer> action)
    {
        var entry = peer.Entry;
        if (entry is null)
        {
            return;
        }

        lock (entry.Gate)
        {
            if (!peer.Detached)
            {
                action(this, entry, peer);
            }
        }
    }

    /// <summary>The join: a new group, the lone-member switch, or a binding to the oldest member not yet tried.</summary>
    private void Bind(SigverKeyEntry entry, SigverPeer peer)
    {
        var members = entry.Members;
        if (members.Count == 0)
        {
            if (TryCreateGroup(entry, peer))
            {
                peer.Send(SigverFrames.Fixed(SigverFrames.IsFirstTrue));
            }

            return;
        }

        // One member left, and this joiner already tried it: the member blocks the group. It is closed with 4004
        // (its joiners, this one first among them if still bound, get isError) and the joiner takes its place.
        if (members.Count == 1 && members[0] != peer && peer.Tried?.Contains(members[0]) == true)
        {
            var blocking = members[0];
            peer.IsMember = true;
            members.Add(peer);
            Detach(entry, blocking);
            Unbind(peer);
            blocking.RequestCloseByRelay(RelayCloseCodes.SigverBlockingMember, null, "Prevents other peers from joining the group");
            peer.Send(SigverFrames.Fixed(SigverFrames.IsFirstTrue));
            return;
        }

        var member = SelectMember(members, peer, untriedOnly: true);
        if (member is null)
        {
            peer.Tried?.Clear();
            member = SelectMember(members, peer, untriedOnly: false);
        }

        if (member is null)
        {
            if (peer.IsMember)
            {
                // A member asking for another when there is none (it is alone, or the others are full): it stays a
                // member and is told so. It is never bound to itself (the original's bug for a lone member).
                peer.Send(SigverFrames.Fixed(SigverFrames.IsFirstTrue));
            }
            else
            {
                Refuse(entry, peer, RejectionReason.MemberFull, $"Every member already has {_limits.MaxJoinersPerMember} joiners");
            }

            return;
        }

        Unbind(peer);
        var joiners = member.Joiners ??= [];
        uint id;
        do
        {
            // Random, as the original's, but never 0 (the id a joiner sees) and unique among this member's joiners.
            id = (uint)Random.Shared.NextInt64(1, 1L << 32);
        }
        while (joiners.ContainsKey(id));

        var binding = new SigverBinding(member, peer, id);
        joiners.Add(id, binding);
        peer.AsJoiner = binding;
        (peer.Tried ??= []).Add(member);
        peer.Send(SigverFrames.Fixed(SigverFrames.IsFirstFalse));
    }

    /// <summary>The oldest member other than the peer itself with room for a joiner (and, first, not yet tried).</summary>
    private SigverPeer? SelectMember(List<SigverPeer> members, SigverPeer peer, bool untriedOnly)
    {
        foreach (var member in members)
        {
            if (member != peer
                && (member.Joiners?.Count ?? 0) < _limits.MaxJoinersPerMember
                && !(untriedOnly && peer.Tried?.Contains(member) == true))
            {
                return member;
            }
        }

        return null;
    }

    /// <summary>The peer becomes the first member of its key's group, unless the relay has all the groups it may.</summary>
    private bool TryCreateGroup(SigverKeyEntry entry, SigverPeer peer)
    {
        if (Interlocked.Increment(ref _groups) > _limits.MaxGroups && _limits.MaxGroups > 0)
        {
            Interlocked.Decrement(ref _groups);
            Refuse(entry, peer, RejectionReason.TooManyGroups, $"The relay already has {_limits.MaxGroups} groups");
            return false;
        }

        peer.IsMember = true;
        entry.Members.Add(peer);
        return true;
    }

    /// <summary>Closes a peer for a limit with 4429, taking it out of its group at once.</summary>
    private void Refuse(SigverKeyEntry entry, SigverPeer peer, RejectionReason reason, string description)
    {
        Detach(entry, peer);
        peer.RequestCloseByRelay(RelayCloseCodes.OverLimit, reason, description);
    }

    /// <summary>
    /// Takes the peer out of its group: every open direction towards it ends with isError to the other side, and
    /// it stops being a member. The caller holds the key's lock and settles the peer count.
    /// </summary>
    private void Detach(SigverKeyEntry entry, SigverPeer peer)
    {
        if (peer.Detached)
        {
            return;
        }

        peer.Detached = true;
        if (peer.AsJoiner is { } up)
        {
            if (up.ToMemberOpen)
            {
                up.Member.Send(SigverFrames.ErrorFrame(entry.Scratch, up.Id));
            }

            up.Member.Joiners!.Remove(up.Id);
            peer.AsJoiner = null;
        }

        if (peer.Joiners is { Count: > 0 } joiners)
        {
            foreach (var down in joiners.Values)
            {
                if (down.ToJoinerOpen)
                {
                    down.Joiner.Send(SigverFrames.ErrorFrame(entry.Scratch, 0));
                }

                down.Joiner.AsJoiner = null;
            }

            joiners.Clear();
        }

        if (peer.IsMember)
        {
            peer.IsMember = false;
            entry.Members.Remove(peer);
            if (entry.Members.Count == 0)
            {
                Interlocked.Decrement(ref _groups);
            }
        }
    }

    /// <summary>A new binding replaces the joiner's current one silently, as in the original.</summary>
    private static void Unbind(SigverPeer peer)
    {
        if (peer.AsJoiner is { } current)
        {
            current.Member.Joiners!.Remove(current.Id);
            peer.AsJoiner = null;
        }
    }

    /// <summary>A binding with both directions ended is gone: the member's id for it is free again.</summary>
    private static void Prune(SigverBinding binding)
    {
        if (!binding.ToMemberOpen && !binding.ToJoinerOpen)
        {
            binding.Member.Joiners!.Remove(binding.Id);
            if (binding.Joiner.AsJoiner == binding)
            {
                binding.Joiner.AsJoiner = null;
            }
        }
    }
}
