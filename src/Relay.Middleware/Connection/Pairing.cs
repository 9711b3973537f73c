using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// One pairing's whole life: the first request's wait (holding what its peer sends), the pairing with
/// the reciprocal request, the held frames' delivery, both pumps, and the close. Each half's handler runs
/// its own side here (<see cref="RunFirstAsync"/>, <see cref="RunSecondAsync"/>) and lives exactly as long
/// as its own socket. How the wait ended and how the pairing ended are each decided once, as an end
/// reason, and counted where they are decided. The pairing is one session for the relay's clock and
/// drain, from the first request's wait until both halves are done.
/// </summary>
internal sealed partial class Pairing : IRelaySession
{
    private const int Live = -1;

    private readonly PairingServices _services;
    private readonly TaskCompletionSource<WaitEndReason> _waitEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _arrivedAt;
    private long _pendingDeadline;

    // What the first half sent while waiting: written and released only by the first half's task.
    private HeldFrames? _held;
    private ConnectionHalf? _second;
    private long _startedAt;
    private long _bytes;
    private int _end = Live;
    private int _liveHalves = 1;

    public Pairing(PairingKey key, ConnectionHalf first, PairingServices services, long arrival)
    {
        Key = key;
        First = first;
        Arrival = arrival;
        _services = services;
        _arrivedAt = services.Sessions.Now;
        _pendingDeadline = services.Sessions.DeadlineAfter(services.PendingTimeout);
    }

    /// <summary>The first request's key: the broker files the waiting pairing under it.</summary>
    public PairingKey Key { get; }

    /// <summary>The half that waited.</summary>
    public ConnectionHalf First { get; }

    /// <summary>When the first request's handshake was about to be answered (<see cref="RelaySessions.NextArrival"/>): of two requests with one key, the later wins.</summary>
    public long Arrival { get; }

    private ILogger Logger => _services.Logger;

    /// <summary>
    /// The first half's side, once the broker has filed this pairing as waiting: holds what the peer sends
    /// until the wait ends; then delivers the held frames and pumps this peer into its partner, or closes
    /// with the reason the wait ended. Returns when this half's socket is done.
    /// </summary>
    public async Task RunFirstAsync()
    {
        Log.ConnectionPending(Logger, Key.Local, Key.Remote, Key.DocumentId);

        // While shutdown is under way, Add closes the pairing at once (its wait just began, so it ends).
        _services.Sessions.Add(this);
        try
        {
            var receive = await WaitAsync().ConfigureAwait(false);

            // Whoever took the pairing out of the broker ends the wait; that may be a moment after WaitAsync saw it go.
            var reason = await _waitEnded.Task.ConfigureAwait(false);
            if (reason != WaitEndReason.Paired)
            {
                await CloseAfterWaitAsync(reason, receive).ConfigureAwait(false);
                return;
            }

            var second = _second!;
            var (forwarding, messageBytes) = await FlushHeldAsync(second).ConfigureAwait(false);
            await PumpAsync(First, second, new ValueTask<ValueWebSocketReceiveResult>(receive), forwarding, messageBytes).ConfigureAwait(false);

            // Our peer has finished sending. Stay until its close handshake completes (the partner's close
            // is passed on to it, or the relay's own), so the socket is not torn down under it.
            await First.CloseSent.ConfigureAwait(false);
        }
        finally
        {
            ReleaseHeld();
            Finished(First);
        }
    }

    /// <summary>The reciprocal request's side, after the broker took this pairing out for it: pairs, and pumps its peer into the first.</summary>
    public async Task RunSecondAsync(ConnectionHalf second)
    {
        Join(second);
        if (_services.Sessions.IsStopping)
        {
            // The drain may have passed this pairing while it was neither waiting nor paired.
            CloseForShutdown();
        }

        try
        {
            await PumpAsync(second, First, second.ReceiveAsync(), forwarding: true, messageBytes: 0).ConfigureAwait(false);
            await second.CloseSent.ConfigureAwait(false);
        }
        finally
        {
            Finished(second);
        }
    }

    /// <summary>
    /// Ends the wait: the one place it is counted and logged. The waiting half's task then pumps or
    /// closes. Only the caller that took this pairing out of the broker may call it.
    /// </summary>
    public void EndWait(WaitEndReason reason)
    {
        Volatile.Write(ref _pendingDeadline, long.MaxValue);
        var metrics = _services.Metrics;
        metrics.WaitEnded(reason.ToResult(), _services.Sessions.Elapsed(_arrivedAt));
        if (reason.ToRejection() is { } rejection)
        {
            metrics.Rejected(rejection);
        }

        switch (reason)
        {
            case WaitEndReason.Paired:
                Log.ConnectionPaired(Logger, Key.Local, Key.Remote, Key.DocumentId);
                break;
            case WaitEndReason.Replaced:
                Log.ConnectionReplaced(Logger, Key.Local, Key.Remote, Key.DocumentId);
                break;
            case WaitEndReason.Abandoned:
                Log.ConnectionAbandoned(Logger, Key.Local, Key.Remote, Key.DocumentId);
                break;
            default:
                var (status, description) = _services.CloseFor(reason);
                Log.ConnectionClosedByRelay(Logger, Key.Local, Key.Remote, Key.DocumentId, (int)status, description);
                break;
        }

        _waitEnded.TrySetResult(reason);
    }

    public void OnTick(long now)
    {
        // A peer that did not answer the relay's close frame in time is aborted.
        var second = Volatile.Read(ref _second);
        if (First.CloseTimedOut(now))
        {
            First.Abort();
        }

        if (second is null)
        {
            if (now >= Volatile.Read(ref _pendingDeadline) && _services.Broker.TryRemove(this))
            {
                EndWait(WaitEndReason.PendingTimeout);
            }

            return;
        }

        if (second.CloseTimedOut(now))
        {
            second.Abort();
        }

        var (firstStalled, secondStalled) = (First.IsStalled(now), second.IsStalled(now));
        if (firstStalled || secondStalled)
        {
            // A peer stopped reading while its partner kept writing: end the pairing, and abort that peer's
            // socket, whose send gate the stuck send holds (its close frame could never go out).
            EndByRelay(PairingEndReason.StalledReader);
            if (firstStalled)
            {
                First.Abort();
            }

            if (secondStalled)
            {
                second.Abort();
            }
        }
        else if (now - _startedAt >= _services.MaxPairingTicks && Volatile.Read(ref _end) == Live)
        {
            EndByRelay(PairingEndReason.MaxDuration);
        }
    }

    public void CloseForShutdown()
    {
        if (_services.Broker.TryRemove(this))
        {
            EndWait(WaitEndReason.ShuttingDown);
        }
        else if (Volatile.Read(ref _second) is { } second)
        {
            // Every socket not closing yet gets 1001, whatever ended the pairing first. Not counted: a
            // pairing already served is not refused.
            TryEnd(PairingEndReason.ShuttingDown);
            var (status, description) = _services.CloseFor(PairingEndReason.ShuttingDown);
            _ = First.SendCloseAsync(status, description);
            _ = second.SendCloseAsync(status, description);
        }
    }

    public void Abort()
    {
        First.Abort();
        Volatile.Read(ref _second)?.Abort();
    }

    private void Join(ConnectionHalf second)
    {
        Interlocked.Increment(ref _liveHalves);
        _startedAt = _services.Sessions.Now;

        // A full fence: the drain sets IsStopping and then reads _second (in CloseForShutdown); this sets
        // _second and then reads IsStopping (in RunSecondAsync). One of the two sees the other.
        Interlocked.Exchange(ref _second, second);
        _services.Broker.PairingStarted();
        EndWait(WaitEndReason.Paired);
    }

    /// <summary>
    /// Holds what the waiting peer sends until the wait ends. Returns the receive still to be consumed:
    /// in flight, or completed with what arrived as the wait ended. When paired, the pump takes it after
    /// the held frames, so nothing is lost or reordered; a buffer it reads into is the half's, and goes with it.
    /// </summary>
    private async Task<Task<ValueWebSocketReceiveResult>> WaitAsync()
    {
        var receive = First.ReceiveAsync().AsTask();
        while (true)
        {
            if (!receive.IsCompleted)
            {
                await Task.WhenAny(receive, _waitEnded.Task).ConfigureAwait(false);
            }

            if (!receive.IsCompleted || _waitEnded.Task.IsCompleted)
            {
                return receive;
            }

            if (!receive.IsCompletedSuccessfully || receive.Result.MessageType == WebSocketMessageType.Close)
            {
                // The peer left while waiting, unless a partner took the pairing at this very moment: then
                // the pump passes the close on.
                if (_services.Broker.TryRemove(this))
                {
                    EndWait(WaitEndReason.Abandoned);
                }

                return receive;
            }

            if (!TryHold(receive.Result))
            {
                // Not held: dropped with the close, or, if a partner took the pairing just now, forwarded by the pump.
                if (_services.Broker.TryRemove(this))
                {
                    EndWait(WaitEndReason.HeldTooMuch);
                }

                return receive;
            }

            receive = First.ReceiveAsync().AsTask();
        }
    }

    private bool TryHold(ValueWebSocketReceiveResult fragment)
    {
        var held = _held ??= new HeldFrames(_services.MaxHeldBytes, _services.MaxHeldFrames);
        if (!held.TryAdd(First.Received(fragment.Count).Span, fragment.MessageType, fragment.EndOfMessage))
        {
            return false;
        }

        _services.Broker.HeldBytesChanged(fragment.Count);
        return true;
    }

    private void ReleaseHeld()
    {
        if (_held is { } held)
        {
            _held = null;
            _services.Broker.HeldBytesChanged(-held.Bytes);
            held.Dispose();
        }
    }

    /// <summary>The wait ended without a partner (counted where it ended): close with the reason, and finish the handshake.</summary>
    private async Task CloseAfterWaitAsync(WaitEndReason reason, Task<ValueWebSocketReceiveResult> receive)
    {
        ReleaseHeld();
        if (reason == WaitEndReason.Abandoned)
        {
            // The peer closed (its close is echoed, which completes the handshake) or failed.
            if (receive.IsCompletedSuccessfully)
            {
                await First.SendCloseAsync(First.Socket.CloseStatus ?? WebSocketCloseStatus.Empty, First.Socket.CloseStatusDescription).ConfigureAwait(false);
            }
            else
            {
                First.Failed();
            }

            return;
        }

        var (status, description) = _services.CloseFor(reason);
        await First.SendCloseAsync(status, description).ConfigureAwait(false);
        try
        {
            // Let the receive in flight finish, then read until the peer answers the close frame (or the close timeout aborts it).
            if ((await receive.ConfigureAwait(false)).MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            while (First.Socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if ((await First.ReceiveAsync().ConfigureAwait(false)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
        }
    }

    /// <summary>Sends the held frames; returns whether forwarding may go on, and the length of a message still open.</summary>
    private async Task<(bool Forwarding, long MessageBytes)> FlushHeldAsync(ConnectionHalf destination)
    {
        long messageBytes = 0;
        if (_held is not { } held)
        {
            return (true, messageBytes);
        }

        try
        {
            foreach (var (payload, type, endOfMessage) in held.Frames())
            {
                if (!Admit(payload.Length, endOfMessage, ref messageBytes)
                    || !await destination.SendAsync(payload, type, endOfMessage).ConfigureAwait(false))
                {
                    return (false, messageBytes);
                }

                _services.Metrics.Relayed(payload.Length, endOfMessage);
            }

            return (true, messageBytes);
        }
        finally
        {
            // Delivered: the memory goes now, not when the pairing ends.
            ReleaseHeld();
        }
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
        ValueTask<ValueWebSocketReceiveResult> receive,
        bool forwarding,
        long messageBytes)
    {
        var metrics = _services.Metrics;
        while (true)
        {
            if (!receive.IsCompleted)
            {
                // Nothing more at hand: what this source sent so far leaves now, in one write.
                await destination.FlushAsync().ConfigureAwait(false);
            }

            ValueWebSocketReceiveResult result;
            try
            {
                result = await receive.ConfigureAwait(false);
            }
            catch (Exception ex) when (RelaySocket.IsFailure(ex))
            {
                var key = KeyOf(source);
                Log.ConnectionSocketFailed(Logger, key.Local, key.Remote, key.DocumentId, ex);
                var (failedStatus, failedReason) = CloseToPassOn(source, PairingEndReason.PeerFailed);
                await destination.SendCloseAsync(failedStatus, failedReason).ConfigureAwait(false);
                source.Failed();
                return;
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                var (status, reason) = CloseToPassOn(source, PairingEndReason.PeerClosed);
                await destination.SendCloseAsync(status, reason).ConfigureAwait(false);
                return;
            }

            if (forwarding)
            {
                forwarding = Admit(result.Count, result.EndOfMessage, ref messageBytes)
                    && await destination.SendAsync(source.Received(result.Count), result.MessageType, result.EndOfMessage).ConfigureAwait(false);
                if (forwarding)
                {
                    metrics.Relayed(result.Count, result.EndOfMessage);
                }
            }

            receive = source.ReceiveAsync();
        }
    }

    /// <summary>
    /// Checks a fragment against the pairing's limits before it is forwarded. Past a limit the relay
    /// ends the pairing (both halves get the close code) and the fragment is not delivered.
    /// </summary>
    private bool Admit(int bytes, bool endOfMessage, ref long messageBytes)
    {
        messageBytes += bytes;
        if (_services.MaxMessageBytes > 0 && messageBytes > _services.MaxMessageBytes)
        {
            EndByRelay(PairingEndReason.MessageTooBig);
            return false;
        }

        if (endOfMessage)
        {
            messageBytes = 0;
        }

        if (_services.MaxBytesPerPairing > 0 && Interlocked.Add(ref _bytes, bytes) > _services.MaxBytesPerPairing)
        {
            EndByRelay(PairingEndReason.PairingLimit);
            return false;
        }

        return true;
    }

    /// <summary>Ends the live pairing for <paramref name="reason"/> unless something ended it already: the one place its end is counted.</summary>
    private bool TryEnd(PairingEndReason reason)
    {
        if (Interlocked.CompareExchange(ref _end, (int)reason, Live) != Live)
        {
            return false;
        }

        if (reason.ToRejection() is { } rejection)
        {
            _services.Metrics.Rejected(rejection);
        }

        return true;
    }

    /// <summary>Ends the pairing on the relay's initiative: both halves are sent its close frame.</summary>
    private void EndByRelay(PairingEndReason reason)
    {
        if (!TryEnd(reason))
        {
            return;
        }

        var (status, description) = _services.CloseFor(reason);
        Log.PairingClosedByRelay(Logger, Key.Local, Key.Remote, Key.DocumentId, (int)status, description);
        _ = First.SendCloseAsync(status, description);
        _ = _second!.SendCloseAsync(status, description);
    }

    /// <summary>
    /// What a source's close or failure passes on to its partner: the relay's close if the relay ended the
    /// pairing (its close frames have gone out, so this one is a no-op), else the peer's own close, or 1001
    /// for a failure.
    /// </summary>
    private (WebSocketCloseStatus Status, string? Reason) CloseToPassOn(ConnectionHalf source, PairingEndReason happened)
    {
        TryEnd(happened);
        var end = (PairingEndReason)Volatile.Read(ref _end);
        if (end.IsByRelay() || happened == PairingEndReason.PeerFailed)
        {
            return _services.CloseFor(end.IsByRelay() ? end : happened);
        }

        return (source.Socket.CloseStatus ?? WebSocketCloseStatus.Empty, source.Socket.CloseStatusDescription);
    }

    /// <summary>Called as each half's handler finishes; the pairing is over when both have (or the first has, unpaired).</summary>
    private void Finished(ConnectionHalf half)
    {
        half.Release();
        if (Interlocked.Decrement(ref _liveHalves) != 0)
        {
            return;
        }

        if (_second is not null)
        {
            _services.Broker.PairingEnded();
            Log.PairingEnded(Logger, Key.Local, Key.Remote, Key.DocumentId, (PairingEndReason)Volatile.Read(ref _end));
        }

        _services.Sessions.Remove(this);
    }

    private PairingKey KeyOf(ConnectionHalf half) => ReferenceEquals(half, First) ? Key : Key.Reciprocal;

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

        [LoggerMessage(RelayEventIds.PairingClosedByRelay, LogLevel.Debug, "Closing the pairing of {Local} and {Remote} on document {DocumentId} with {CloseCode}: {Reason}.")]
        public static partial void PairingClosedByRelay(ILogger logger, string local, string remote, string documentId, int closeCode, string reason);

        [LoggerMessage(RelayEventIds.PairingEnded, LogLevel.Debug, "The pairing of {Local} and {Remote} on document {DocumentId} ended: {Reason}.")]
        public static partial void PairingEnded(ILogger logger, string local, string remote, string documentId, PairingEndReason reason);
    }
}
