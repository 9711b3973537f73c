namespace Relay.Connection;

/// <summary>Waiting halves by request, so a reciprocal request finds its partner in O(1).</summary>
internal sealed class PairingBroker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<PairingKey, ConnectionHalf> _pending = [];
    private int _activePairings;
    private long _heldBytes;

    /// <summary>Pairings whose halves are piped together and not both finished.</summary>
    public int ActivePairings => Volatile.Read(ref _activePairings);

    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Takes the waiting partner of <paramref name="half"/> if there is one; otherwise makes
    /// <paramref name="half"/> wait, and returns in <paramref name="replaced"/> an older waiting request
    /// with the same key, which the caller closes.
    /// </summary>
    public ConnectionHalf? Arrive(ConnectionHalf half, out ConnectionHalf? replaced)
    {
        lock (_lock)
        {
            if (_pending.Remove(half.Key.Reciprocal, out var partner))
            {
                replaced = null;
                return partner;
            }

            _pending.Remove(half.Key, out replaced);
            _pending.Add(half.Key, half);
            return null;
        }
    }

    /// <summary>Bytes waiting halves have sent that wait for their partners.</summary>
    public long HeldBytes => Interlocked.Read(ref _heldBytes);

    public void HeldBytesChanged(long delta) => Interlocked.Add(ref _heldBytes, delta);

    public void PairingStarted() => Interlocked.Increment(ref _activePairings);

    public void PairingEnded() => Interlocked.Decrement(ref _activePairings);

    /// <summary>Stops <paramref name="half"/> waiting; false if it already left (paired, replaced or removed).</summary>
    public bool TryRemove(ConnectionHalf half)
    {
        lock (_lock)
        {
            if (_pending.TryGetValue(half.Key, out var current) && ReferenceEquals(current, half))
            {
                _pending.Remove(half.Key);
                return true;
            }

            return false;
        }
    }
}
