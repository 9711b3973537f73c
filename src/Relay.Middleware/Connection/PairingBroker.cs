namespace Relay.Connection;

/// <summary>
/// Matches requests by key: the pairings waiting for their partner, filed under the first request's
/// key, so a reciprocal request finds its own in O(1). It decides nothing else; the counts it keeps
/// are the ones the relay's status and level metrics read.
/// </summary>
internal sealed class PairingBroker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<PairingKey, Pairing> _waiting = [];
    private int _activePairings;
    private long _heldBytes;

    /// <summary>Requests waiting for their partner.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Pairings whose halves are piped together and not both finished.</summary>
    public int ActivePairings => Volatile.Read(ref _activePairings);

    /// <summary>Bytes waiting requests have sent that wait for their partners.</summary>
    public long HeldBytes => Interlocked.Read(ref _heldBytes);

    /// <summary>
    /// A request arrives as a pairing of one. Returns the pairing its partner waits in, taken out of the
    /// broker, for the request to join; or, if none waits, files <paramref name="waiting"/> and returns
    /// null. Of two requests with the same key the later arrival wins: an older one waiting is taken out and
    /// returned in <paramref name="replaced"/>; if the one waiting arrived later (its handshake was answered
    /// first, this one's registration ran late), <paramref name="waiting"/> itself is returned there and not
    /// filed. Ending the replaced one's wait is the caller's.
    /// </summary>
    public Pairing? Arrive(Pairing waiting, out Pairing? replaced)
    {
        lock (_lock)
        {
            if (_waiting.Remove(waiting.Key.Reciprocal, out var partner))
            {
                replaced = null;
                return partner;
            }

            if (_waiting.TryGetValue(waiting.Key, out var current) && current.Arrival > waiting.Arrival)
            {
                replaced = waiting;
                return null;
            }

            _waiting.Remove(waiting.Key, out replaced);
            _waiting.Add(waiting.Key, waiting);
            return null;
        }
    }

    /// <summary>
    /// Takes <paramref name="pairing"/> out if it still waits. Only the one that takes it out may end its
    /// wait; false means someone else did (it paired, was replaced, or its wait already ended).
    /// </summary>
    public bool TryRemove(Pairing pairing)
    {
        lock (_lock)
        {
            if (_waiting.TryGetValue(pairing.Key, out var current) && ReferenceEquals(current, pairing))
            {
                _waiting.Remove(pairing.Key);
                return true;
            }

            return false;
        }
    }

    public void HeldBytesChanged(long delta) => Interlocked.Add(ref _heldBytes, delta);

    public void PairingStarted() => Interlocked.Increment(ref _activePairings);

    public void PairingEnded() => Interlocked.Decrement(ref _activePairings);
}
