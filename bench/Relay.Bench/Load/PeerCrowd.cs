using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;

namespace Relay.Bench.Load;

/// <summary>
/// N introduction peers. Peers 2k and 2k+1 share document k, so after everyone has joined, each peer
/// must have received exactly one Introduction naming its partner and that document; anything else
/// (missing, duplicated or wrong introductions) fails the run.
/// </summary>
internal sealed class PeerCrowd : IAsyncDisposable
{
    // Raw WebSocket clients with small buffers: tens of thousands of peers stay cheap for the load generator.
    private const int ReadBufferSize = 1024;
    private const int SendBufferSize = 256;
    private const int MaxMessage = 512;

    private readonly Peer[] _peers;
    private readonly TaskCompletionSource _allIntroduced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _receiveLoops = [];
    private int _introduced;
    private long _lastIntroductionAt;
    private volatile bool _closing;
    private string? _error;

    public PeerCrowd(int count, string prefix)
    {
        _peers = new Peer[count];
        for (var i = 0; i < count; i++)
        {
            _peers[i] = new Peer($"{prefix}p{i}", $"{prefix}p{i ^ 1}", $"{prefix}d{i / 2}");
        }

        if (count % 2 != 0)
        {
            throw new ArgumentException("Peers come in pairs.", nameof(count));
        }
    }

    public int Count => _peers.Length;

    public int Introduced => Volatile.Read(ref _introduced);

    public string? Error => Volatile.Read(ref _error);

    /// <summary>Completes when every peer has its introduction (or faults on the first wrong one).</summary>
    public Task AllIntroduced => _allIntroduced.Task;

    public long LastIntroductionAt => Volatile.Read(ref _lastIntroductionAt);

    /// <summary>Connects every peer to <c>/introduction/{peerId}</c>, <paramref name="concurrency"/> handshakes at a time.</summary>
    public async Task ConnectAsync(Dialer dialer, Uri server, int concurrency, CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(_peers, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (peer, ct) =>
            {
                try
                {
                    peer.Socket = await WebSocketPipeEnd.ConnectAsync(dialer, new Uri(server, $"/introduction/{peer.Id}"), ct,
                        ReadBufferSize, SendBufferSize).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is WebSocketException or SocketException or IOException)
                {
                    throw new BenchFailure($"peer {peer.Id} could not connect: {ex.Message}");
                }

                var loop = ReceiveLoopAsync(peer);
                lock (_receiveLoops)
                {
                    _receiveLoops.Add(loop);
                }
            }).ConfigureAwait(false);
    }

    /// <summary>Sends every peer's Join, in peer order, as fast as the sockets take them.</summary>
    public async Task SendJoinsAsync(CancellationToken cancellationToken)
    {
        foreach (var peer in _peers)
        {
            peer.Socket!.Append(peer.Join);
            await peer.Socket.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReceiveLoopAsync(Peer peer)
    {
        try
        {
            while (true)
            {
                var (open, message) = await peer.Socket!.ReceiveAsync(MaxMessage, CancellationToken.None).ConfigureAwait(false);
                if (!open)
                {
                    if (!_closing)
                    {
                        Fail($"peer {peer.Id} was closed by the server");
                    }

                    return;
                }

                if (!IntroductionMessages.IsIntroduction(message, peer.PartnerUtf8, peer.DocumentUtf8))
                {
                    Fail($"peer {peer.Id} received an unexpected message ({Convert.ToHexString(message.Span[..Math.Min(message.Length, 64)])})");
                    return;
                }

                if (++peer.Introductions != 1)
                {
                    Fail($"peer {peer.Id} was introduced to {peer.Partner} {peer.Introductions} times");
                    return;
                }

                Volatile.Write(ref _lastIntroductionAt, Stopwatch.GetTimestamp());
                if (Interlocked.Increment(ref _introduced) == _peers.Length)
                {
                    _allIntroduced.TrySetResult();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            if (!_closing)
            {
                Fail($"peer {peer.Id} lost its socket: {ex.Message}");
            }
        }
    }

    private void Fail(string error)
    {
        Interlocked.CompareExchange(ref _error, error, null);
        _allIntroduced.TrySetException(new BenchFailure(error));
    }

    public async ValueTask DisposeAsync()
    {
        _closing = true;
        foreach (var peer in _peers)
        {
            peer.Socket?.Dispose();
        }

        Task[] loops;
        lock (_receiveLoops)
        {
            loops = [.. _receiveLoops];
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    private sealed class Peer(string id, string partner, string document)
    {
        public string Id { get; } = id;

        public string Partner { get; } = partner;

        public byte[] PartnerUtf8 { get; } = Encoding.UTF8.GetBytes(partner);

        public byte[] DocumentUtf8 { get; } = Encoding.UTF8.GetBytes(document);

        public byte[] Join { get; } = IntroductionMessages.Join(document);

        public WebSocketPipeEnd? Socket { get; set; }

        public int Introductions { get; set; }
    }
}
