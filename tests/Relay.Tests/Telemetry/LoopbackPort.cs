using System.Net;
using System.Net.Sockets;

namespace Relay.Tests.Telemetry;

internal static class LoopbackPort
{
    /// <summary>A loopback port free right now (the OS picks it); the caller binds it next.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
