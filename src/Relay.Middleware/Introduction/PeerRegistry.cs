namespace Relay.Introduction;

/// <summary>
/// Connected peers and, for every document, the peers that joined it. Indexed by document, so a Join
/// costs what its own documents and their members cost, never what the whole server holds.
/// </summary>
internal sealed class PeerRegistry(RelayOptions options) : IPeerRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PeerSession> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<PeerSession>> _members = new(StringComparer.Ordinal);
    private readonly int _maxDocumentsPerPeer = options.Introduction.MaxDocumentsPerPeer;
    private readonly int _maxPeersPerDocument = options.Introduction.MaxPeersPerDocument;

    public int PeerCount
    {
        get
        {
            lock (_lock)
            {
                return _peers.Count;
            }
        }
    }

    public int DocumentCount
    {
        get
        {
            lock (_lock)
            {
                return _members.Count;
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="session"/> the peer's current session. Returns the session it replaced, if
    /// any, already removed from every document; the caller closes it. If the registered session arrived
    /// later than <paramref name="session"/>, nothing changes and <paramref name="session"/> itself is returned.
    /// </summary>
    public PeerSession? Register(PeerSession session)
    {
        lock (_lock)
        {
            _peers.TryGetValue(session.PeerId, out var replaced);
            if (replaced is not null && replaced.Arrival > session.Arrival)
            {
                // A newer session for this peer id registered first: the arriving one is the stale one.
                return session;
            }

            _peers[session.PeerId] = session;
            if (replaced is not null)
            {
                RemoveAllDocuments(replaced);
            }

            return replaced;
        }
    }

    /// <summary>Removes the session everywhere, unless a newer session for its peer id has replaced it.</summary>
    public void Unregister(PeerSession session)
    {
        lock (_lock)
        {
            if (_peers.TryGetValue(session.PeerId, out var current) && ReferenceEquals(current, session))
            {
                _peers.Remove(session.PeerId);
                RemoveAllDocuments(session);
            }
        }
    }

    /// <summary>
    /// Adds documents to the session and collects one introduction per pair of peers with newly shared
    /// documents: <paramref name="introductions"/> maps each other peer to the documents it now shares
    /// with <paramref name="session"/>. Nothing changes unless every limit allows the whole Join.
    /// </summary>
    public JoinResult Join(PeerSession session, List<string> documentIds, Dictionary<PeerSession, List<string>> introductions) =>
        Join(session, documentIds, introductions, new List<string>(documentIds.Count));

    /// <summary>As the other overload; <paramref name="fresh"/> (empty on entry) receives the documents newly joined.</summary>
    public JoinResult Join(PeerSession session, List<string> documentIds, Dictionary<PeerSession, List<string>> introductions, List<string> fresh)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(session.PeerId, out var current) || !ReferenceEquals(current, session))
            {
                return JoinResult.NotRegistered;
            }

            // Add tentatively, so duplicates inside the message count once, and undo if a limit says no.
            var documents = session.Documents ??= new HashSet<string>(StringComparer.Ordinal);
            foreach (var documentId in documentIds)
            {
                if (documents.Add(documentId))
                {
                    fresh.Add(documentId);
                }
            }

            var refusal = CheckLimits(documents, fresh);
            if (refusal != JoinResult.Joined)
            {
                foreach (var documentId in fresh)
                {
                    documents.Remove(documentId);
                }

                fresh.Clear();
                return refusal;
            }

            foreach (var documentId in fresh)
            {
                if (!_members.TryGetValue(documentId, out var members))
                {
                    members = [];
                    _members.Add(documentId, members);
                }

                foreach (var other in members)
                {
                    if (!introductions.TryGetValue(other, out var shared))
                    {
                        shared = [];
                        introductions.Add(other, shared);
                    }

                    shared.Add(documentId);
                }

                members.Add(session);
            }

            return JoinResult.Joined;
        }
    }

    /// <summary>Removes documents from the session. No introductions follow a Leave.</summary>
    public void Leave(PeerSession session, List<string> documentIds) => Leave(session, documentIds, left: null);

    /// <summary>As the other overload; <paramref name="left"/>, when given, receives the documents the session had joined.</summary>
    public void Leave(PeerSession session, List<string> documentIds, List<string>? left)
    {
        lock (_lock)
        {
            if (session.Documents is not { } documents)
            {
                return;
            }

            foreach (var documentId in documentIds)
            {
                if (documents.Remove(documentId))
                {
                    RemoveMember(documentId, session);
                    left?.Add(documentId);
                }
            }
        }
    }

    /// <summary>The peer's current session on this node, if any.</summary>
    public PeerSession? Find(string peerId)
    {
        lock (_lock)
        {
            return _peers.GetValueOrDefault(peerId);
        }
    }

    /// <summary>A copy of the session's documents, taken under the lock (empty once it is unregistered).</summary>
    public string[] DocumentsOf(PeerSession session)
    {
        lock (_lock)
        {
            return session.Documents is { Count: > 0 } documents ? [.. documents] : [];
        }
    }

    private void RemoveAllDocuments(PeerSession session)
    {
        if (session.Documents is not { } documents)
        {
            return;
        }

        foreach (var documentId in documents)
        {
            RemoveMember(documentId, session);
        }

        documents.Clear();
    }

    private void RemoveMember(string documentId, PeerSession session)
    {
        if (_members.TryGetValue(documentId, out var members) && members.Remove(session) && members.Count == 0)
        {
            _members.Remove(documentId);
        }
    }

    private JoinResult CheckLimits(HashSet<string> documents, List<string> fresh)
    {
        if (documents.Count > _maxDocumentsPerPeer)
        {
            return JoinResult.TooManyDocuments;
        }

        if (_maxPeersPerDocument > 0)
        {
            foreach (var documentId in fresh)
            {
                if (_members.TryGetValue(documentId, out var members) && members.Count >= _maxPeersPerDocument)
                {
                    return JoinResult.DocumentFull;
                }
            }
        }

        return JoinResult.Joined;
    }
}

/// <summary>What became of a Join.</summary>
internal enum JoinResult
{
    Joined,

    /// <summary>The session is no longer the peer's current one; the Join was ignored.</summary>
    NotRegistered,

    /// <summary>The peer would exceed <see cref="RelayIntroductionOptions.MaxDocumentsPerPeer"/>.</summary>
    TooManyDocuments,

    /// <summary>A document already has <see cref="RelayIntroductionOptions.MaxPeersPerDocument"/> peers.</summary>
    DocumentFull,
}
