using System.Buffers;

namespace Relay.Connection;

/// <summary>
/// The pooled buffers connection sockets are read into. A half rents one only to read a fragment and
/// gives it back before it waits for more, so an idle half, waiting or paired, holds none. The count of
/// buffers out is kept so that this can be seen (and tested); it changes only when a socket goes idle or
/// wakes, never per frame on a busy pipe.
/// </summary>
internal sealed class PipeBuffers(RelayOptions options)
{
    private readonly int _size = options.Connection.BufferSize;
    private int _rented;

    /// <summary>Buffers rented and not yet returned.</summary>
    public int Rented => Volatile.Read(ref _rented);

    public byte[] Rent()
    {
        Interlocked.Increment(ref _rented);
        return ArrayPool<byte>.Shared.Rent(_size);
    }

    public void Return(byte[] buffer)
    {
        ArrayPool<byte>.Shared.Return(buffer);
        Interlocked.Decrement(ref _rented);
    }
}
