using System.Net;
using System.Net.Sockets;

namespace Relay.Bench.Load;

/// <summary>
/// Opens the load generator's client sockets, spreading them over the loopback source addresses
/// 127.0.0.2 ... so that tens of thousands of connections to one server port do not run out of
/// ephemeral ports (about 28,000 per source address here).
/// </summary>
internal sealed class Dialer
{
    // IP_BIND_ADDRESS_NO_PORT (Linux): bind() picks only the address; the port is chosen at connect(),
    // per destination, so ports are not reserved per source address before they are needed.
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    private readonly IPAddress[] _sources;
    private int _next;

    public Dialer(int sourceAddresses)
    {
        _sources = new IPAddress[Math.Max(1, sourceAddresses)];
        for (var i = 0; i < _sources.Length; i++)
        {
            _sources[i] = new IPAddress(new byte[] { 127, 0, (byte)((i + 2) / 256), (byte)((i + 2) % 256) });
        }
    }

    public int SourceAddresses => _sources.Length;

    public async Task<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
            var source = _sources[(int)((uint)Interlocked.Increment(ref _next) % (uint)_sources.Length)];
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
