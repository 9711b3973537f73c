using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using Relay.Lifetime;

namespace Relay.Connection;

/// <summary>
/// One side of a pairing: its socket, its wait for a partner, and the gate every send to it passes
/// through. Data reaches this socket only from the partner's pump; the relay's own close frames
/// (limits, shutdown) take the same gate, so sends never overlap.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The send gate's SemaphoreSlim owns no unmanaged resource unless AvailableWaitHandle is used, which it never is; a close still in flight may touch it after the handler ends.")]
internal sealed class ConnectionHalf : IRelaySession
{
    private readonly TaskCompletionSource<ConnectionHalf?> _partner = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly RelaySessions _sessions;
    private readonly PairingBroker _broker;
    private readonly TimeSpan _closeTimeout;
    private readonly long _stallTicks;
    private readonly long _maxPairingTicks;
    private long _pendingDeadline;
    private long _closeDeadline = long.MaxValue;
    private long _sendStartedAt;
    private int _closing;

    public ConnectionHalf(PairingKey key, WebSocket socket, RelaySessions sessions, PairingBroker broker, RelayOptions options)
    {
        Key = key;
        Socket = socket;
        _sessions = sessions;
        _broker = broker;
        _closeTimeout = options.CloseTimeout;
        _stallTicks = sessions.Ticks(options.Connection.StallTimeout);
        _maxPairingTicks = sessions.Ticks(options.Connection.MaxPairingDuration);
        ArrivedAt = sessions.Now;
        _pendingDeadline = sessions.DeadlineAfter(options.Connection.PendingTimeout);
    }

    public PairingKey Key { get; }

    public WebSocket Socket { get; }

    public long ArrivedAt { get; }

    public Pairing? Pairing { get; private set; }

    /// <summary>Completes with the partner, or with null when the wait ended some other way (see <see cref="WaitEnd"/>).</summary>
    public Task<ConnectionHalf?> Partner => _partner.Task;

    /// <summary>Why the wait ended without a partner: the close code this half gets and the metric result.</summary>
    public (WebSocketCloseStatus Status, string Reason, Telemetry.PairingResult Result, Telemetry.RejectionReason? Rejection) WaitEnd { get; private set; }

    /// <summary>Completes once a close frame has been sent on this socket (or the socket is gone).</summary>
    public Task CloseSent => _closeSent.Task;

    public void Pair(Pairing pairing)
    {
        Pairing = pairing;
        _pendingDeadline = long.MaxValue;
        _partner.TrySetResult(pairing.PartnerOf(this));
    }

    /// <summary>Ends the wait without a partner. The caller has already removed the half from the broker.</summary>
    public void EndWait(WebSocketCloseStatus status, string reason, Telemetry.PairingResult result, Telemetry.RejectionReason? rejection)
    {
        WaitEnd = (status, reason, result, rejection);
        _partner.TrySetResult(null);
    }

    /// <summary>Sends one frame to this socket; false if it is closing or the send failed.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, bool endOfMessage)
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _closing) != 0)
            {
                return false;
            }

            Volatile.Write(ref _sendStartedAt, _sessions.Now);
            await Socket.SendAsync(payload, type, endOfMessage, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            MarkClosed();
            return false;
        }
        finally
        {
            Volatile.Write(ref _sendStartedAt, 0);
            _sendGate.Release();
        }
    }

    /// <summary>Sends a close frame to this socket unless one was already sent. Never throws.</summary>
    public async Task SendCloseAsync(WebSocketCloseStatus status, string? reason)
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Interlocked.Exchange(ref _closing, 1) != 0)
            {
                return;
            }

            Volatile.Write(ref _closeDeadline, _sessions.DeadlineAfter(_closeTimeout));
            await RelaySocket.SendCloseAsync(Socket, status, reason).ConfigureAwait(false);
        }
        finally
        {
            _closeSent.TrySetResult();
            _sendGate.Release();
        }
    }

    public void OnTick(long now)
    {
        if (now >= Volatile.Read(ref _closeDeadline))
        {
            // The peer did not answer our close frame in time.
            Abort();
            return;
        }

        if (now >= Volatile.Read(ref _pendingDeadline) && _broker.TryRemove(this))
        {
            EndWait((WebSocketCloseStatus)RelayCloseCodes.Timeout, "No partner arrived in time",
                Telemetry.PairingResult.Expired, Telemetry.RejectionReason.PendingTimeout);
            return;
        }

        var sendStartedAt = Volatile.Read(ref _sendStartedAt);
        if (sendStartedAt != 0 && now - sendStartedAt >= _stallTicks && Pairing is { } stalled)
        {
            // This peer stopped reading while its partner kept writing: end the pairing, and abort this
            // socket, whose send gate the stuck send holds.
            stalled.End(RelayCloseCodes.Timeout, "Partner stopped reading", Telemetry.RejectionReason.StalledReader);
            Abort();
            return;
        }

        if (Pairing is { } pairing && ReferenceEquals(pairing.First, this) && now - pairing.StartedAt >= _maxPairingTicks)
        {
            pairing.End(RelayCloseCodes.Timeout, "Pairing lasted its maximum duration", Telemetry.RejectionReason.PairingLimit);
        }
    }

    public void CloseForShutdown()
    {
        if (_broker.TryRemove(this))
        {
            EndWait(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down",
                Telemetry.PairingResult.Abandoned, Telemetry.RejectionReason.ShuttingDown);
        }
        else if (Pairing is not null)
        {
            _ = SendCloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");
        }
    }

    /// <summary>
    /// This half's socket failed while receiving. Aborts it, unless the WebSocket itself closed it for a
    /// protocol error (1002, 1007), whose close frame must get out.
    /// </summary>
    public void Failed()
    {
        if (Socket.State != WebSocketState.CloseSent)
        {
            Socket.Abort();
        }

        MarkClosed();
    }

    public void Abort()
    {
        Socket.Abort();
        MarkClosed();
    }

    private void MarkClosed()
    {
        Volatile.Write(ref _closing, 1);
        _closeSent.TrySetResult();
    }
}
