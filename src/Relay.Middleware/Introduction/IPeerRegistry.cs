namespace Relay.Introduction;

/// <summary>
/// Who is connected and which documents they joined, as the introduction handler sees it. On one node this
/// is the in-process <see cref="PeerRegistry"/>; with <c>Relay:Cluster:Redis</c> set, the cluster registry
/// wraps it and shares presence with the other nodes.
/// </summary>
internal interface IPeerRegistry
{
    /// <summary>
    /// Makes the session its peer's current one; returns the session that lost its place on this node, if any
    /// (the caller closes it): the one it replaced, or the session itself when a newer one (by
    /// <see cref="PeerSession.Arrival"/>) is already registered.
    /// </summary>
    PeerSession? Register(PeerSession session);

    /// <summary>Removes the session everywhere, unless a newer session for its peer id has replaced it.</summary>
    void Unregister(PeerSession session);

    /// <summary>
    /// Adds documents to the session; <paramref name="introductions"/> receives the introductions to make now
    /// (peers of this node). Peers on other nodes are introduced when the cluster answers.
    /// </summary>
    JoinResult Join(PeerSession session, List<string> documentIds, Dictionary<PeerSession, List<string>> introductions);

    /// <summary>Removes documents from the session.</summary>
    void Leave(PeerSession session, List<string> documentIds);
}
