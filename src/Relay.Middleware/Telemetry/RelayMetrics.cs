using System.Diagnostics.Metrics;

namespace Relay.Telemetry;

/// <summary>
/// The relay's instruments, on one <see cref="Meter"/> named <c>Relay</c> created through
/// <see cref="IMeterFactory"/>. Names follow OpenTelemetry conventions; every instrument has a unit.
/// Up/down counters are always decremented with the tags they were incremented with.
/// </summary>
internal sealed class RelayMetrics
{
    public const string MeterName = "Relay";

    /// <summary>The OpenTelemetry convention for "why it failed", used by the rejection and protocol-error counters.</summary>
    public const string ErrorTypeTag = "error.type";

    public const string PairingResultTag = "relay.pairing.result";

    private readonly UpDownCounter<long> _activePeers;
    private readonly Counter<long> _introductions;
    private readonly UpDownCounter<long> _pendingConnections;
    private readonly UpDownCounter<long> _activePairings;
    private readonly Counter<long> _pairings;
    private readonly Histogram<double> _pairingWait;
    private readonly Counter<long> _relayedBytes;
    private readonly Counter<long> _relayedMessages;
    private readonly Counter<long> _rejectedConnections;
    private readonly UpDownCounter<long> _trackedDocuments;
    private readonly Counter<long> _protocolErrors;

    public RelayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);

        _activePeers = meter.CreateUpDownCounter<long>(
            "relay.active_peers", "{peer}", "Peers connected to an introduction endpoint.");
        _introductions = meter.CreateCounter<long>(
            "relay.introductions", "{introduction}", "Introductions made: one per peer told of another peer sharing its documents.");
        _trackedDocuments = meter.CreateUpDownCounter<long>(
            "relay.documents", "{document}", "Documents at least one connected peer has joined.");
        _pendingConnections = meter.CreateUpDownCounter<long>(
            "relay.pending_connections", "{connection}", "Connection requests waiting for their partner.");
        _activePairings = meter.CreateUpDownCounter<long>(
            "relay.active_pairings", "{pairing}", "Pairs of connection sockets currently piped together.");
        _pairings = meter.CreateCounter<long>(
            "relay.pairings", "{pairing}", "Connection requests that ended their wait, by result.");
        _pairingWait = meter.CreateHistogram<double>(
            "relay.pairing.wait", "s", "How long the first half of a completed pairing waited for its partner.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120] });
        _relayedBytes = meter.CreateCounter<long>(
            "relay.relayed_bytes", "By", "Payload bytes delivered through connection pipes, held frames included.");
        _relayedMessages = meter.CreateCounter<long>(
            "relay.relayed_messages", "{message}", "Complete messages delivered through connection pipes.");
        _rejectedConnections = meter.CreateCounter<long>(
            "relay.rejected_connections", "{connection}", "Relay requests and sockets refused or closed by a limit, by reason.");
        _protocolErrors = meter.CreateCounter<long>(
            "relay.protocol_errors", "{message}", "Introduction messages ignored because they were malformed, by reason.");
    }

    /// <summary>
    /// Records 0 on every up/down counter, every untagged counter, and every counter for each tag value
    /// the relay can produce, so each series exists (at 0) before its first event. Without it a counter's
    /// first increase is invisible to <c>rate()</c> and a panel shows "no data" instead of 0. Call after
    /// metric listeners have started (measurements before that reach no one); calling again adds nothing.
    /// </summary>
    public void RecordZeros()
    {
        _activePeers.Add(0);
        _introductions.Add(0);
        _trackedDocuments.Add(0);
        _pendingConnections.Add(0);
        _activePairings.Add(0);
        _relayedBytes.Add(0);
        _relayedMessages.Add(0);
        foreach (var result in PairingResults.All)
        {
            _pairings.Add(0, new KeyValuePair<string, object?>(PairingResultTag, result));
        }

        foreach (var reason in RejectionReasons.All)
        {
            _rejectedConnections.Add(0, new KeyValuePair<string, object?>(ErrorTypeTag, reason));
        }

        foreach (var reason in ProtocolErrorReasons.All)
        {
            _protocolErrors.Add(0, new KeyValuePair<string, object?>(ErrorTypeTag, reason));
        }
    }

    public void PeerConnected() => _activePeers.Add(1);

    public void PeerDisconnected() => _activePeers.Add(-1);

    public void IntroductionSent() => _introductions.Add(1);

    public void DocumentTracked() => _trackedDocuments.Add(1);

    public void DocumentUntracked() => _trackedDocuments.Add(-1);

    public void ConnectionPending() => _pendingConnections.Add(1);

    /// <summary>A waiting half stopped waiting: paired, replaced, expired or abandoned.</summary>
    public void ConnectionPendingEnded(string result, TimeSpan waited)
    {
        _pendingConnections.Add(-1);
        _pairings.Add(1, new KeyValuePair<string, object?>(PairingResultTag, result));
        if (string.Equals(result, PairingResults.Paired, StringComparison.Ordinal))
        {
            _pairingWait.Record(waited.TotalSeconds);
        }
    }

    public void PairingStarted() => _activePairings.Add(1);

    public void PairingEnded() => _activePairings.Add(-1);

    public void Relayed(int bytes, bool endOfMessage)
    {
        _relayedBytes.Add(bytes);
        if (endOfMessage)
        {
            _relayedMessages.Add(1);
        }
    }

    public void Rejected(string reason) =>
        _rejectedConnections.Add(1, new KeyValuePair<string, object?>(ErrorTypeTag, reason));

    public void ProtocolError(string reason) =>
        _protocolErrors.Add(1, new KeyValuePair<string, object?>(ErrorTypeTag, reason));
}
