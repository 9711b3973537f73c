using System.Net.WebSockets;

namespace Relay.Lifetime;

/// <summary>What every relay socket does the same way, introduction peer or connection half: tell a failure from a bug, and send the close frame.</summary>
internal static class RelaySocket
{
    /// <summary>An exception that means the socket is gone or going (reset, aborted, disposed), not a bug.</summary>
    public static bool IsFailure(Exception ex) =>
        ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException;

    /// <summary>
    /// Sends a close frame if the socket can still send one. A reason is sent only with a status (the
    /// protocol allows none without). If the send fails the socket is aborted, so nothing waits on it. Never
    /// throws for a socket failure.
    /// </summary>
    public static async ValueTask SendCloseAsync(WebSocket socket, WebSocketCloseStatus status, string? reason)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(status, status == WebSocketCloseStatus.Empty ? null : reason, CancellationToken.None)
                    .ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            socket.Abort();
        }
    }

    /// <summary>
    /// After a receive failed: aborts the socket, so a send blocked on it ends too, unless the WebSocket
    /// itself closed it for a protocol error (1002, 1007), whose close frame must get out.
    /// </summary>
    public static void AbortAfterReceiveFailure(WebSocket socket)
    {
        if (socket.State != WebSocketState.CloseSent)
        {
            socket.Abort();
        }
    }
}
