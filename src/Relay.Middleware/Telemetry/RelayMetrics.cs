using System.Diagnostics.Metrics;
using Relay.Connection;
using Relay.Introduction;
using Relay.Rooms;
using Relay.Targeted;
using Relay.Sigver;

namespace Relay.Telemetry;

/// <summary>
/// The relay's instruments, on one <see cref="Meter"/> named <see cref="RelayMeter.Name"/> created through
/// <see cref="IMeterFactory"/>. Names follow OpenTelemetry conventions; every instrument has a unit.
/// Levels (peers, documents, pending requests, pairings, held bytes) are observed from their owners, the
/// registry and the broker, so no count is kept twice. Totals are kept here and observed too: every series,
/// each tag value included, is exported from the first collection on (at 0), whichever host listens and
/// whenever it starts, so <c>rate()</c> sees a counter's first increase and a panel shows 0, not "no data".
/// </summary>
internal sealed class RelayMetrics
{
    /// <summary>The OpenTelemetry convention for "why it failed", used by the rejection and protocol-error counters.</summary>
    public const string ErrorTypeTag = "error.type";

    public const string PairingResultTag = "relay.pairing.result";

    public const string RoomEventTag = "relay.rooms.event";

    public const string TargetedResultTag = "relay.targeted.result";

    public const string TargetedCloseReasonTag = "relay.targeted.close_reason";
    /// <summary>The WebSocket close code the relay sent, on <c>relay.sigver.closes</c>.</summary>
    public const string CloseCodeTag = "relay.close.code";

    private static readonly RejectionReason[] RejectionReasons = Enum.GetValues<RejectionReason>();
    private static readonly ProtocolErrorReason[] ProtocolErrorReasons = Enum.GetValues<ProtocolErrorReason>();
    private static readonly PairingResult[] PairingResults = Enum.GetValues<PairingResult>();
    private static readonly BadPacketReason[] BadPacketReasons = Enum.GetValues<BadPacketReason>();
    private static readonly RoomEvent[] RoomEvents = Enum.GetValues<RoomEvent>();
    private static readonly TargetedRegistrationResult[] RegistrationResults = Enum.GetValues<TargetedRegistrationResult>();
    private static readonly TargetedMessageResult[] MessageResults = Enum.GetValues<TargetedMessageResult>();
    private static readonly TargetedCloseReason[] CloseReasons = Enum.GetValues<TargetedCloseReason>();

    private readonly long[] _rejections = new long[RejectionReasons.Length];
    private readonly long[] _protocolErrors = new long[ProtocolErrorReasons.Length];
    private readonly long[] _pairings = new long[PairingResults.Length];
    private readonly long[] _badRoomPackets = new long[BadPacketReasons.Length];
    private readonly long[] _roomPackets = new long[RoomEvents.Length];
    private readonly long[] _registrations = new long[RegistrationResults.Length];
    private readonly long[] _targetedMessages = new long[MessageResults.Length];
    private readonly long[] _targetedCloses = new long[CloseReasons.Length];
    private readonly Histogram<double> _pairingWait;
    private long _introductions;
    private long _relayedBytes;
    private long _relayedMessages;
    private long _connectionWrites;
    private readonly long[] _sigverCloses = new long[SigverCloseCodes.All.Length];
    private long _sigverMessages;
    private long _sigverBytes;

    public RelayMetrics(IMeterFactory meterFactory, PeerRegistry peers, PairingBroker broker, IRoomRegistry rooms, ITargetedRegistry targeted, ISigverGroups sigver)
    {
        var meter = meterFactory.Create(RelayMeter.Name);

        meter.CreateObservableUpDownCounter(
            "relay.active_peers", () => (long)peers.PeerCount, "{peer}", "Peers connected to an introduction endpoint.");
        meter.CreateObservableUpDownCounter(
            "relay.documents", () => (long)peers.DocumentCount, "{document}", "Documents at least one connected peer has joined.");
        meter.CreateObservableUpDownCounter(
            "relay.pending_connections", () => (long)broker.PendingCount, "{connection}", "Connection requests waiting for their partner.");
        meter.CreateObservableUpDownCounter(
            "relay.active_pairings", () => (long)broker.ActivePairings, "{pairing}", "Pairs of connection sockets currently piped together.");
        meter.CreateObservableUpDownCounter(
            "relay.held_bytes", () => broker.HeldBytes, "By", "Bytes waiting connection requests have sent that wait for their partner.");

        meter.CreateObservableCounter(
            "relay.introductions", () => Volatile.Read(ref _introductions), "{introduction}",
            "Introductions made: one per peer told of another peer sharing its documents.");
        meter.CreateObservableCounter(
            "relay.pairings", () => Observe(_pairings, PairingResults, PairingResultTag, static result => result.ToTag()), "{pairing}",
            "Connection requests that ended their wait, by result.");
        _pairingWait = meter.CreateHistogram<double>(
            "relay.pairing.wait", "s", "How long the first half of a completed pairing waited for its partner.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120] });
        meter.CreateObservableCounter(
            "relay.relayed_bytes", () => Volatile.Read(ref _relayedBytes), "By",
            "Payload bytes delivered through connection pipes, held frames included.");
        meter.CreateObservableCounter(
            "relay.relayed_messages", () => Volatile.Read(ref _relayedMessages), "{message}",
            "Complete messages delivered through connection pipes.");
        meter.CreateObservableCounter(
            "relay.connection.writes", () => Volatile.Read(ref _connectionWrites), "{write}",
            "Writes to connection sockets: the frames relayed from one read leave in one write.");
        meter.CreateObservableCounter(
            "relay.rejected_connections", () => Observe(_rejections, RejectionReasons, ErrorTypeTag, static reason => reason.ToTag()), "{connection}",
            "Relay requests and sockets refused or closed by a limit, by reason.");
        meter.CreateObservableCounter(
            "relay.protocol_errors", () => Observe(_protocolErrors, ProtocolErrorReasons, ErrorTypeTag, static reason => reason.ToTag()), "{message}",
            "Introduction messages ignored because they were malformed, by reason.");

        meter.CreateObservableUpDownCounter(
            "relay.rooms.rooms", () => (long)rooms.RoomCount, "{room}", "Rooms with at least one user (rooms protocol).");
        meter.CreateObservableUpDownCounter(
            "relay.rooms.users", () => (long)rooms.UserCount, "{user}", "Users in a room (rooms protocol).");
        meter.CreateObservableCounter(
            "relay.rooms.packets", () => Observe(_roomPackets, RoomEvents, RoomEventTag, static roomEvent => roomEvent.ToTag()), "{packet}",
            "Rooms packets delivered, one per recipient, by event.");
        meter.CreateObservableCounter(
            "relay.rooms.bad_packets", () => Observe(_badRoomPackets, BadPacketReasons, ErrorTypeTag, static reason => reason.ToTag()), "{packet}",
            "Rooms packets ignored, by reason.");
        meter.CreateObservableUpDownCounter(
            "relay.targeted.registered_users", () => (long)targeted.RegisteredCount, "{user}",
            "Usernames registered for targeted signaling (held for the gateway's lifetime).");
        meter.CreateObservableUpDownCounter(
            "relay.targeted.active_sessions", () => (long)targeted.ActiveCount, "{session}",
            "Registered users connected to the targeted-signaling WebSocket.");
        meter.CreateObservableCounter(
            "relay.targeted.registrations", () => Observe(_registrations, RegistrationResults, TargetedResultTag, static result => result.ToTag()), "{registration}",
            "Targeted-signaling registrations, by result.");
        meter.CreateObservableCounter(
            "relay.targeted.messages", () => Observe(_targetedMessages, MessageResults, TargetedResultTag, static result => result.ToTag()), "{message}",
            "Targeted-signaling messages received, by what became of them (delivered: queued for the connected target).");
        meter.CreateObservableCounter(
            "relay.targeted.closes", () => Observe(_targetedCloses, CloseReasons, TargetedCloseReasonTag, static reason => reason.ToTag()), "{session}",
            "Targeted-signaling sockets that ended, by reason.");
        meter.CreateObservableUpDownCounter(
            "relay.sigver.peers", () => (long)sigver.PeerCount, "{peer}", "Peers connected to a sigver endpoint.");
        meter.CreateObservableUpDownCounter(
            "relay.sigver.groups", () => (long)sigver.GroupCount, "{group}", "Sigver groups (keys with at least one member).");
        meter.CreateObservableCounter(
            "relay.sigver.content_messages", () => Volatile.Read(ref _sigverMessages), "{message}",
            "Sigver content messages (data, isEnd, isError) relayed between a joiner and its member.");
        meter.CreateObservableCounter(
            "relay.sigver.content_bytes", () => Volatile.Read(ref _sigverBytes), "By",
            "Data bytes of the sigver content messages relayed.");
        meter.CreateObservableCounter(
            "relay.sigver.closes", () => Observe(_sigverCloses, SigverCloseCodes.All, CloseCodeTag, static code => SigverCloseCodes.Tag(code)), "{connection}",
            "Sigver sockets the relay closed, by the close code it sent.");
    }

    /// <summary>A content message relayed to <paramref name="receivers"/> peers, each getting <paramref name="dataBytes"/> data bytes.</summary>
    public void SigverRelayed(int receivers, int dataBytes)
    {
        Interlocked.Add(ref _sigverMessages, receivers);
        Interlocked.Add(ref _sigverBytes, (long)receivers * dataBytes);
    }

    public void SigverClosed(int code)
    {
        var index = Array.IndexOf(SigverCloseCodes.All, code);
        if (index >= 0)
        {
            Interlocked.Increment(ref _sigverCloses[index]);
        }
    }

    public void RoomPacketDelivered(RoomEvent roomEvent) => Interlocked.Increment(ref _roomPackets[(int)roomEvent]);

    public void BadRoomPacket(BadPacketReason reason) => Interlocked.Increment(ref _badRoomPackets[(int)reason]);

    public void TargetedRegistration(TargetedRegistrationResult result) => Interlocked.Increment(ref _registrations[(int)result]);

    public void TargetedMessage(TargetedMessageResult result) => Interlocked.Increment(ref _targetedMessages[(int)result]);

    public void TargetedClosed(TargetedCloseReason reason) => Interlocked.Increment(ref _targetedCloses[(int)reason]);

    public void IntroductionSent() => Interlocked.Increment(ref _introductions);

    /// <summary>A waiting half stopped waiting: paired (after <paramref name="waited"/>), replaced, expired or abandoned.</summary>
    public void WaitEnded(PairingResult result, TimeSpan waited)
    {
        Interlocked.Increment(ref _pairings[(int)result]);
        if (result == PairingResult.Paired)
        {
            _pairingWait.Record(waited.TotalSeconds);
        }
    }

    public void Relayed(int bytes, bool endOfMessage)
    {
        Interlocked.Add(ref _relayedBytes, bytes);
        if (endOfMessage)
        {
            Interlocked.Increment(ref _relayedMessages);
        }
    }

    public void ConnectionWrite() => Interlocked.Increment(ref _connectionWrites);

    public void Rejected(RejectionReason reason) => Interlocked.Increment(ref _rejections[(int)reason]);

    public void ProtocolError(ProtocolErrorReason reason) => Interlocked.Increment(ref _protocolErrors[(int)reason]);

    private static Measurement<long>[] Observe<T>(long[] totals, T[] values, string tag, Func<T, string> toTag)
    {
        var measurements = new Measurement<long>[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            measurements[i] = new Measurement<long>(Volatile.Read(ref totals[i]), new KeyValuePair<string, object?>(tag, toTag(values[i])));
        }

        return measurements;
    }
}
