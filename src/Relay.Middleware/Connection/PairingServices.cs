using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// What every pairing shares: the broker, the clock, the pipe buffers, metrics and log, and the
/// connection limits, read once from the options (durations as clock ticks, close reasons as strings), so
/// a pairing carries one reference instead of a copy of each.
/// </summary>
internal sealed class PairingServices
{
    private readonly string _heldTooMuch;
    private readonly string _messageTooBig;
    private readonly string _pairingLimit;

    public PairingServices(PairingBroker broker, RelaySessions sessions, PipeBuffers buffers, RelayMetrics metrics, RelayOptions options, ILogger logger)
    {
        var limits = options.Connection;
        Broker = broker;
        Sessions = sessions;
        Buffers = buffers;
        Metrics = metrics;
        Logger = logger;
        PendingTimeout = limits.PendingTimeout;
        CloseTimeout = options.CloseTimeout;
        StallTicks = sessions.Ticks(limits.StallTimeout);
        MaxPairingTicks = sessions.Ticks(limits.MaxPairingDuration);
        MaxHeldBytes = limits.MaxHeldBytes;
        MaxHeldFrames = limits.MaxHeldFrames;
        MaxMessageBytes = limits.MaxMessageBytes;
        MaxBytesPerPairing = limits.MaxBytesPerPairing;
        _heldTooMuch = $"More than {limits.MaxHeldBytes} bytes or {limits.MaxHeldFrames} frames sent before the partner arrived";
        _messageTooBig = $"Message larger than {limits.MaxMessageBytes} bytes";
        _pairingLimit = $"Pairing relayed more than {limits.MaxBytesPerPairing} bytes";
    }

    public PairingBroker Broker { get; }

    public RelaySessions Sessions { get; }

    public PipeBuffers Buffers { get; }

    public RelayMetrics Metrics { get; }

    public ILogger Logger { get; }

    public TimeSpan PendingTimeout { get; }

    public TimeSpan CloseTimeout { get; }

    public long StallTicks { get; }

    public long MaxPairingTicks { get; }

    public int MaxHeldBytes { get; }

    public int MaxHeldFrames { get; }

    /// <summary>0: unlimited.</summary>
    public long MaxMessageBytes { get; }

    /// <summary>0: unlimited.</summary>
    public long MaxBytesPerPairing { get; }

    /// <summary>The close frame the relay sends when it ends a wait (not for <see cref="WaitEndReason.Abandoned"/>: the peer's own close is echoed).</summary>
    public (WebSocketCloseStatus Status, string Reason) CloseFor(WaitEndReason reason) => reason switch
    {
        WaitEndReason.Replaced => ((WebSocketCloseStatus)RelayCloseCodes.Replaced, "Replaced by a newer request for this pairing"),
        WaitEndReason.PendingTimeout => ((WebSocketCloseStatus)RelayCloseCodes.Timeout, "No partner arrived in time"),
        WaitEndReason.HeldTooMuch => ((WebSocketCloseStatus)RelayCloseCodes.MessageTooBig, _heldTooMuch),
        WaitEndReason.ShuttingDown => (WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"),
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    /// <summary>The close frame the relay sends for a pairing's end (not for <see cref="PairingEndReason.PeerClosed"/>: the peer's own close is passed on).</summary>
    public (WebSocketCloseStatus Status, string Reason) CloseFor(PairingEndReason reason) => reason switch
    {
        PairingEndReason.PeerFailed => (WebSocketCloseStatus.EndpointUnavailable, "Partner disconnected"),
        PairingEndReason.MessageTooBig => ((WebSocketCloseStatus)RelayCloseCodes.MessageTooBig, _messageTooBig),
        PairingEndReason.PairingLimit => ((WebSocketCloseStatus)RelayCloseCodes.OverLimit, _pairingLimit),
        PairingEndReason.MaxDuration => ((WebSocketCloseStatus)RelayCloseCodes.Timeout, "Pairing lasted its maximum duration"),
        PairingEndReason.StalledReader => ((WebSocketCloseStatus)RelayCloseCodes.Timeout, "Partner stopped reading"),
        PairingEndReason.ShuttingDown => (WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"),
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };
}
