namespace Relay.Connection;

/// <summary>One side's request: <c>local</c> wants <c>remote</c> about <c>document</c>. Ordinal equality.</summary>
internal readonly record struct PairingKey(string Local, string Remote, string DocumentId)
{
    /// <summary>The request the partner makes for the same pairing.</summary>
    public PairingKey Reciprocal => new(Remote, Local, DocumentId);

    // The record's generated ToString would print Reciprocal, whose Reciprocal it would print, and so on until the
    // stack overflows: a key formatted in a log line or an assertion would take the process down.
    public override string ToString() => $"{Local} -> {Remote} on {DocumentId}";
}
