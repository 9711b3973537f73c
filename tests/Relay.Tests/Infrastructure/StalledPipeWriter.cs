using System.Net.WebSockets;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// Writes 64 KiB messages into a pipe whose other end never reads, until the relay closes the writer.
/// TCP slows the writer down long before that, so <see cref="Sent"/> is bounded by socket and pipe buffers.
/// </summary>
internal sealed class StalledPipeWriter
{
    private readonly Task _writing;
    private long _sent;

    public StalledPipeWriter(WebSocket writer)
    {
        Closed = writer.ReceiveCloseAsync();
        var chunk = new byte[64 * 1024];
        _writing = Task.Run(async () =>
        {
            try
            {
                while (!Closed.IsCompleted)
                {
                    await writer.SendBinaryAsync(chunk);
                    Interlocked.Add(ref _sent, chunk.Length);
                }
            }
            catch (WebSocketException)
            {
                // The relay ended the pairing while a send was blocked.
            }
        });
    }

    /// <summary>Completes with the close the relay sent the writer.</summary>
    public Task<(WebSocketCloseStatus? Status, string? Description)> Closed { get; }

    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>The close the writer got, once its last send has returned too.</summary>
    public async Task<(WebSocketCloseStatus? Status, string? Description)> CompletionAsync()
    {
        var close = await Closed;
        await _writing;
        return close;
    }
}
