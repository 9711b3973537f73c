using System.Buffers;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Relay.Admission;
using Relay.Configuration;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// Serves <c>/connection/{localPeerId}/{remotePeerId}/{documentId}</c>. The first half waits, holding
/// what it sends; the reciprocal request completes the pairing. Each half's handler then pumps its own
/// socket into its partner, fragment by fragment through one pooled buffer, and lives exactly as long
/// as its own socket.
/// </summary>
internal sealed partial class ConnectionHandler(
    PairingBroker broker,
    RelaySessions sessions,
    RelaySocketAcceptor acceptor,
    RelayIdPolicy ids,
    RelayOptions options,
    RelayMetrics metrics,
    ILogger<ConnectionHandler> logger)
{
    private readonly RelayConnectionOptions _limits = options.Connection;

    public async Task HandleAsync(HttpContext context, string? localPeerId, string? remotePeerId, string? documentId)
    {
        if (!await acceptor.AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        if (!ids.IsValid(localPeerId) || !ids.IsValid(remotePeerId) || !ids.IsValid(documentId))
        {
            await acceptor.RefuseAsync(context, StatusCodes.Status400BadRequest, RejectionReason.InvalidId,
                "Invalid peer or document id.").ConfigureAwait(false);
            return;
        }

        using var socket = await acceptor.AcceptAsync(context).ConfigureAwait(false);
        var half = new ConnectionHalf(new PairingKey(localPeerId!, remotePeerId!, documentId!), socket, sessions, broker, options);
        var buffer = ArrayPool<byte>.Shared.Rent(_limits.BufferSize);
        sessions.Add(half);
        try
        {
            await RunAsync(half, buffer).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            sessions.Remove(half);
            half.Pairing?.HalfFinished();
        }
    }

    private async Task RunAsync(ConnectionHalf half, byte[] buffer)
    {
        var partner = broker.Arrive(half, out var replaced);
        if (replaced is not null)
        {
            Log.ConnectionReplaced(logger, half.Key.Local, half.Key.Remote, half.Key.DocumentId);
            replaced.EndWait((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer request for this pairing",
                PairingResult.Replaced, RejectionReason.Replaced);
        }

        ValueTask<ValueWebSocketReceiveResult> receive;
        HeldFrames? held = null;
        if (partner is not null)
        {
            StartPairing(first: partner, second: half);
            if (sessions.IsStopping)
            {
                // The drain may have passed both halves while neither was waiting nor paired yet.
                partner.CloseForShutdown();
                half.CloseForShutdown();
            }

            receive = half.Socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
        }
        else
        {
            Log.ConnectionPending(logger, half.Key.Local, half.Key.Remote, half.Key.DocumentId);
            if (sessions.IsStopping)
            {
                half.CloseForShutdown();
            }

            held = new HeldFrames(_limits.MaxHeldBytes, _limits.MaxHeldFrames);
            var (inFlight, abandoned) = await WaitForPartnerAsync(half, buffer, held).ConfigureAwait(false);
            partner = await half.Partner.ConfigureAwait(false);
            if (partner is null)
            {
                Release(held);
                await EndWaitAsync(half, buffer, inFlight, abandoned).ConfigureAwait(false);
                return;
            }

            receive = new ValueTask<ValueWebSocketReceiveResult>(inFlight);
        }

        var (forwarding, messageBytes) = (true, 0L);
        if (held is not null)
        {
            // Deliver what the first half sent while it waited, then let the memory go.
            (forwarding, messageBytes) = await FlushHeldAsync(held, partner, half.Pairing!).ConfigureAwait(false);
            Release(held);
        }

        await PumpAsync(half, partner, buffer, receive, forwarding, messageBytes).ConfigureAwait(false);

        // Our peer has finished sending. Stay until its close handshake completes (the partner's close
        // is passed on to it, or the relay's own), so the socket is not torn down under it.
        await half.CloseSent.ConfigureAwait(false);
    }

    private void StartPairing(ConnectionHalf first, ConnectionHalf second)
    {
        var pairing = new Pairing(first, second, sessions.Now, broker, metrics);
        metrics.WaitEnded(PairingResult.Paired, sessions.Elapsed(first.ArrivedAt));
        broker.PairingStarted();
        Log.ConnectionPaired(logger, second.Key.Local, second.Key.Remote, second.Key.DocumentId);

        // The second half is paired before the first learns of it, so a pump never sees a half without its pairing.
        second.Pair(pairing);
        first.Pair(pairing);
    }

    /// <summary>
    /// Reads the waiting half into <paramref name="held"/> until its wait ends. Returns the receive still
    /// to be consumed (in flight, or completed with a frame that is in <paramref name="buffer"/> but not
    /// held), and whether the half itself ended the wait (its peer closed or failed, or it sent too much).
    /// </summary>
    private async Task<(Task<ValueWebSocketReceiveResult> InFlight, bool Abandoned)> WaitForPartnerAsync(
        ConnectionHalf half, byte[] buffer, HeldFrames held)
    {
        var socket = half.Socket;
        var receive = socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask();
        while (true)
        {
            if (!receive.IsCompleted)
            {
                await Task.WhenAny(receive, half.Partner).ConfigureAwait(false);
                if (!receive.IsCompleted)
                {
                    return (receive, false);
                }
            }

            if (!receive.IsCompletedSuccessfully || receive.Result.MessageType == WebSocketMessageType.Close)
            {
                // The peer left while waiting, unless a partner took it at this very moment: then the
                // pump passes the close on.
                if (broker.TryRemove(half))
                {
                    half.EndWait(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription ?? "",
                        PairingResult.Abandoned, rejection: null);
                    return (receive, true);
                }

                return (receive, false);
            }

            var result = receive.Result;
            if (held.TryAdd(buffer.AsSpan(0, result.Count), result.MessageType, result.EndOfMessage))
            {
                broker.HeldBytesChanged(result.Count);
            }
            else
            {
                if (broker.TryRemove(half))
                {
                    half.EndWait((WebSocketCloseStatus)RelayCloseCodes.MessageTooBig,
                        $"More than {_limits.MaxHeldBytes} bytes or {_limits.MaxHeldFrames} frames sent before the partner arrived",
                        PairingResult.Abandoned, RejectionReason.HeldTooMuch);
                    return (receive, false);
                }

                return (receive, false);
            }

            receive = socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask();
        }
    }

    /// <summary>The wait ended without a partner: count it, close the socket with the reason, and finish the handshake.</summary>
    private async Task EndWaitAsync(ConnectionHalf half, byte[] buffer, Task<ValueWebSocketReceiveResult> inFlight, bool abandoned)
    {
        var (status, reason, result, rejection) = half.WaitEnd;
        metrics.WaitEnded(result, sessions.Elapsed(half.ArrivedAt));
        if (rejection is { } rejected)
        {
            metrics.Rejected(rejected);
            Log.ConnectionClosedByRelay(logger, half.Key.Local, half.Key.Remote, half.Key.DocumentId, (int)status, reason);
        }
        else
        {
            Log.ConnectionAbandoned(logger, half.Key.Local, half.Key.Remote, half.Key.DocumentId);
        }

        await half.SendCloseAsync(status, reason).ConfigureAwait(false);
        if (!abandoned)
        {
            // Let the in-flight read finish, then read until the peer answers our close frame.
            try
            {
                if ((await inFlight.ConfigureAwait(false)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
            catch (Exception ex) when (RelaySocket.IsFailure(ex))
            {
                return;
            }

            await DrainUntilClosedAsync(half.Socket, buffer).ConfigureAwait(false);
        }
    }

    /// <summary>Sends the held frames; returns whether forwarding may go on, and the length of a message still open.</summary>
    private async Task<(bool Forwarding, long MessageBytes)> FlushHeldAsync(HeldFrames held, ConnectionHalf destination, Pairing pairing)
    {
        long messageBytes = 0;
        foreach (var (payload, type, endOfMessage) in held.Frames())
        {
            if (!Admit(pairing, payload.Length, endOfMessage, ref messageBytes)
                || !await destination.SendAsync(payload, type, endOfMessage).ConfigureAwait(false))
            {
                return (false, messageBytes);
            }

            metrics.Relayed(payload.Length, endOfMessage);
        }

        return (true, messageBytes);
    }

    /// <summary>
    /// Forwards everything <paramref name="source"/> sends to <paramref name="destination"/>, each
    /// fragment as it arrives, with its type and end-of-message flag. Returns when the source has sent
    /// its close frame (passed on) or failed (the destination is closed with 1001). If the destination
    /// goes away first, the source is still read, and its data dropped, until it closes.
    /// </summary>
    private async Task PumpAsync(
        ConnectionHalf source,
        ConnectionHalf destination,
        byte[] buffer,
        ValueTask<ValueWebSocketReceiveResult> receive,
        bool forwarding,
        long messageBytes)
    {
        var pairing = source.Pairing!;
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                result = await receive.ConfigureAwait(false);
            }
            catch (Exception ex) when (RelaySocket.IsFailure(ex))
            {
                Log.ConnectionSocketFailed(logger, source.Key.Local, source.Key.Remote, source.Key.DocumentId, ex);
                var (status, reason) = pairing.RelayEnd ?? (WebSocketCloseStatus.EndpointUnavailable, (string?)"Partner disconnected");
                await destination.SendCloseAsync(status, reason).ConfigureAwait(false);
                source.Failed();
                return;
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                var (status, reason) = pairing.RelayEnd ?? (source.Socket.CloseStatus ?? WebSocketCloseStatus.Empty, source.Socket.CloseStatusDescription);
                await destination.SendCloseAsync(status, reason).ConfigureAwait(false);
                return;
            }

            if (forwarding)
            {
                forwarding = Admit(pairing, result.Count, result.EndOfMessage, ref messageBytes)
                    && await destination.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage).ConfigureAwait(false);
                if (forwarding)
                {
                    metrics.Relayed(result.Count, result.EndOfMessage);
                }
            }

            receive = source.Socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
        }
    }

    private void Release(HeldFrames held)
    {
        broker.HeldBytesChanged(-held.Bytes);
        held.Dispose();
    }

    /// <summary>
    /// Checks a fragment against the pairing's limits before it is forwarded. Past a limit the relay
    /// ends the pairing (both halves get the close code) and the fragment is not delivered.
    /// </summary>
    private bool Admit(Pairing pairing, int bytes, bool endOfMessage, ref long messageBytes)
    {
        messageBytes += bytes;
        if (_limits.MaxMessageBytes > 0 && messageBytes > _limits.MaxMessageBytes)
        {
            pairing.End(RelayCloseCodes.MessageTooBig, $"Message larger than {_limits.MaxMessageBytes} bytes", RejectionReason.MessageTooBig);
            return false;
        }

        if (endOfMessage)
        {
            messageBytes = 0;
        }

        if (_limits.MaxBytesPerPairing > 0 && pairing.AddBytes(bytes) > _limits.MaxBytesPerPairing)
        {
            pairing.End(RelayCloseCodes.OverLimit, $"Pairing relayed more than {_limits.MaxBytesPerPairing} bytes", RejectionReason.PairingLimit);
            return false;
        }

        return true;
    }

    /// <summary>Reads and drops frames until the peer's close frame arrives or the socket fails.</summary>
    private static async Task DrainUntilClosedAsync(WebSocket socket, byte[] buffer)
    {
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if ((await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
        }
    }

    // Refusals and limit closes log at Debug: each is counted in relay.rejected_connections, and an
    // attack that provokes them must not flood the log.
    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ConnectionPending, LogLevel.Debug, "{Local} waits for {Remote} on document {DocumentId}.")]
        public static partial void ConnectionPending(ILogger logger, string local, string remote, string documentId);

        [LoggerMessage(RelayEventIds.ConnectionPaired, LogLevel.Debug, "{Local} and {Remote} are piped together on document {DocumentId}.")]
        public static partial void ConnectionPaired(ILogger logger, string local, string remote, string documentId);

        [LoggerMessage(RelayEventIds.ConnectionReplaced, LogLevel.Debug, "A newer request from {Local} for {Remote} on document {DocumentId} replaces the waiting one (closed with 4409).")]
        public static partial void ConnectionReplaced(ILogger logger, string local, string remote, string documentId);

        [LoggerMessage(RelayEventIds.ConnectionClosedByRelay, LogLevel.Debug, "Closing the waiting request from {Local} for {Remote} on document {DocumentId} with {CloseCode}: {Reason}.")]
        public static partial void ConnectionClosedByRelay(ILogger logger, string local, string remote, string documentId, int closeCode, string reason);

        [LoggerMessage(RelayEventIds.ConnectionAbandoned, LogLevel.Debug, "{Local} stopped waiting for {Remote} on document {DocumentId}.")]
        public static partial void ConnectionAbandoned(ILogger logger, string local, string remote, string documentId);

        [LoggerMessage(RelayEventIds.ConnectionSocketFailed, LogLevel.Debug, "The connection socket of {Local} (to {Remote} on document {DocumentId}) failed.")]
        public static partial void ConnectionSocketFailed(ILogger logger, string local, string remote, string documentId, Exception exception);
    }
}
