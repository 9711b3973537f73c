using System.Net;
using System.Net.Sockets;
using Relay.Bench.Load;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>Opens P relayed pipes on a fresh target: WebSocket pairings on a relay, or plain TCP through socat for the floor.</summary>
internal static class Pipes
{
    /// <summary>
    /// Opens <paramref name="pairs"/> pipes on a fresh target, runs <paramref name="measure"/> on them, records a
    /// failure if it throws one, and closes everything.
    /// </summary>
    public static async Task MeasureAsync(BenchContext context, string targetName, int pairs, int messageSize, string label,
        Func<Target, List<(IPipeEnd A, IPipeEnd B)>, Task> measure)
    {
        Console.Error.WriteLine($"  {label}");
        var ends = new List<(IPipeEnd A, IPipeEnd B)>();
        Target? target = null;
        try
        {
            target = await OpenAsync(context, targetName, pairs, messageSize, label, ends).ConfigureAwait(false);
            await measure(target, ends).ConfigureAwait(false);
        }
        catch (BenchFailure ex)
        {
            context.Results.AddFailure($"{label}: {ex.Message}");
        }
        finally
        {
            foreach (var (a, b) in ends)
            {
                a.Dispose();
                b.Dispose();
            }

            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<Target> OpenAsync(BenchContext context, string targetName, int pairs, int messageSize, string label,
        List<(IPipeEnd A, IPipeEnd B)> ends)
    {
        return targetName == Target.Floor
            ? await OpenFloorAsync(context, pairs, messageSize, ends).ConfigureAwait(false)
            : await OpenRelayedAsync(context, targetName, pairs, label, ends).ConfigureAwait(false);
    }

    private static async Task<Target> OpenRelayedAsync(BenchContext context, string targetName, int pairs, string label, List<(IPipeEnd, IPipeEnd)> ends)
    {
        var server = await context.StartServerAsync(targetName, label).ConfigureAwait(false);
        try
        {
            using var deadline = BenchContext.Deadline(TimeSpan.FromSeconds(30));
            for (var p = 0; p < pairs; p++)
            {
                // A first, then B: B's request completes the pairing, so nothing is ever held (the reference
                // re-encodes held frames, which would not be a like-for-like pipe).
                var a = await WebSocketPipeEnd.ConnectAsync(context.Dialer, new Uri(server.WebSocketBase, $"/connection/a{p}/b{p}/doc{p}"), deadline.Token).ConfigureAwait(false);
                ends.Add((a, new ClosedPipeEnd()));
                var b = await WebSocketPipeEnd.ConnectAsync(context.Dialer, new Uri(server.WebSocketBase, $"/connection/b{p}/a{p}/doc{p}"), deadline.Token).ConfigureAwait(false);
                ends[^1] = (a, b);
            }

            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<Target> OpenFloorAsync(BenchContext context, int pairs, int messageSize, List<(IPipeEnd, IPipeEnd)> ends)
    {
        var floor = new TcpFloor();
        try
        {
            using var deadline = BenchContext.Deadline(TimeSpan.FromSeconds(30));
            for (var p = 0; p < pairs; p++)
            {
                using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                listener.Listen(1);
                var port = floor.AddRelay(context.Config, (IPEndPoint)listener.LocalEndPoint!);
                var a = await ConnectWithRetryAsync(context.Dialer, new IPEndPoint(IPAddress.Loopback, port), deadline.Token).ConfigureAwait(false);
                ends.Add((new TcpPipeEnd(a, messageSize), new ClosedPipeEnd()));
                var b = await listener.AcceptAsync(deadline.Token).ConfigureAwait(false);
                b.NoDelay = true;
                ends[^1] = (ends[^1].Item1, new TcpPipeEnd(b, messageSize));
            }

            return floor;
        }
        catch
        {
            await floor.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>socat listens a moment after it starts: retry refused connections until the deadline.</summary>
    private static async Task<Socket> ConnectWithRetryAsync(Dialer dialer, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await dialer.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A placeholder for the half of a pipe not yet open, so a failure midway still disposes what was opened.</summary>
    private sealed class ClosedPipeEnd : IPipeEnd
    {
        public int Pending => 0;

        public void Append(ReadOnlySpan<byte> message) => throw new InvalidOperationException();

        public ValueTask FlushAsync(CancellationToken cancellationToken) => throw new InvalidOperationException();

        public ValueTask<(bool Open, ReadOnlyMemory<byte> Message)> ReceiveAsync(int maxSize, CancellationToken cancellationToken) =>
            ValueTask.FromResult((false, ReadOnlyMemory<byte>.Empty));

        public void Dispose()
        {
        }
    }
}
