using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Relay.Connection;
using Relay.Introduction;
using Relay.Rooms;
using Relay.Targeted;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>The relay's instruments against the observability issue's table: names, kinds, units, tags.</summary>
public sealed class RelayMetricsTests
{
    public static TheoryData<string, string, string> Instruments => new()
    {
        { "relay.active_peers", "ObservableUpDownCounter", "{peer}" },
        { "relay.introductions", "ObservableCounter", "{introduction}" },
        { "relay.documents", "ObservableUpDownCounter", "{document}" },
        { "relay.pending_connections", "ObservableUpDownCounter", "{connection}" },
        { "relay.active_pairings", "ObservableUpDownCounter", "{pairing}" },
        { "relay.held_bytes", "ObservableUpDownCounter", "By" },
        { "relay.pairings", "ObservableCounter", "{pairing}" },
        { "relay.pairing.wait", "Histogram", "s" },
        { "relay.relayed_bytes", "ObservableCounter", "By" },
        { "relay.relayed_messages", "ObservableCounter", "{message}" },
        { "relay.connection.writes", "ObservableCounter", "{write}" },
        { "relay.rejected_connections", "ObservableCounter", "{connection}" },
        { "relay.protocol_errors", "ObservableCounter", "{message}" },
        { "relay.rooms.rooms", "ObservableUpDownCounter", "{room}" },
        { "relay.rooms.users", "ObservableUpDownCounter", "{user}" },
        { "relay.rooms.packets", "ObservableCounter", "{packet}" },
        { "relay.rooms.bad_packets", "ObservableCounter", "{packet}" },
        { "relay.targeted.registered_users", "ObservableUpDownCounter", "{user}" },
        { "relay.targeted.active_sessions", "ObservableUpDownCounter", "{session}" },
        { "relay.targeted.registrations", "ObservableCounter", "{registration}" },
        { "relay.targeted.messages", "ObservableCounter", "{message}" },
        { "relay.targeted.closes", "ObservableCounter", "{session}" },
        { "relay.sigver.peers", "ObservableUpDownCounter", "{peer}" },
        { "relay.sigver.groups", "ObservableUpDownCounter", "{group}" },
        { "relay.sigver.content_messages", "ObservableCounter", "{message}" },
        { "relay.sigver.content_bytes", "ObservableCounter", "By" },
        { "relay.sigver.closes", "ObservableCounter", "{connection}" },
    };

    private static ServiceProvider RelayServices() => new ServiceCollection().AddMetrics().AddSingleton(new RelayOptions())
        .AddSingleton<PeerRegistry>().AddSingleton<PairingBroker>().AddSingleton<IRoomRegistry, RoomRegistry>()
        .AddSingleton<ITargetedRegistry, TargetedRegistry>().AddSingleton<Relay.Sigver.ISigverGroups, Relay.Sigver.SigverGroups>()
        .AddSingleton<RelayMetrics>().BuildServiceProvider();

    [Theory]
    [MemberData(nameof(Instruments))]
    public void Instrument_MatchesTheTable(string name, string kind, string unit)
    {
        using var services = RelayServices();
        services.GetRequiredService<RelayMetrics>();

        var instrument = Assert.Single(PublishedInstruments(services), i => i.Name == name);

        Assert.Equal(kind, instrument.GetType().Name.Split('`')[0]);
        Assert.Equal(unit, instrument.Unit);
        Assert.False(string.IsNullOrWhiteSpace(instrument.Description));
        Assert.Equal(RelayMeter.Name, instrument.Meter.Name);
        Assert.Same(services.GetRequiredService<IMeterFactory>(), instrument.Meter.Scope);
    }

    [Fact]
    public void Meter_HasNoInstrumentsBeyondTheTable()
    {
        using var services = RelayServices();
        services.GetRequiredService<RelayMetrics>();

        var expected = Instruments.Select(row => (string)row[0]).Order(StringComparer.Ordinal);
        Assert.Equal(expected, PublishedInstruments(services).Select(i => i.Name).Order(StringComparer.Ordinal));
    }

    /// <summary>The instruments of the <c>Relay</c> meter that this container's factory made.</summary>
    private static List<Instrument> PublishedInstruments(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        var instruments = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == RelayMeter.Name && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    instruments.Add(instrument);
                }
            },
        };
        listener.Start();
        return instruments;
    }

    [Fact]
    public void Pairings_TagTheResult_AndOnlyPairedRecordsTheWait()
    {
        using var services = RelayServices();
        using var recorder = new MetricRecorder(services);
        var metrics = services.GetRequiredService<RelayMetrics>();

        metrics.WaitEnded(PairingResult.Paired, TimeSpan.FromMilliseconds(250));
        metrics.WaitEnded(PairingResult.Expired, TimeSpan.FromSeconds(60));

        Assert.Equal(1, recorder.Sum("relay.pairings", "relay.pairing.result", "paired"));
        Assert.Equal(1, recorder.Sum("relay.pairings", "relay.pairing.result", "expired"));
        Assert.Equal(0, recorder.Sum("relay.pairings", "relay.pairing.result", "replaced"));
        var wait = Assert.Single(recorder.Measurements, m => m.Instrument == "relay.pairing.wait");
        Assert.Equal(0.25, wait.Value, precision: 6);
    }

    [Fact]
    public void EverySeries_IsObservedAtZero_BeforeAnyEvent()
    {
        using var services = RelayServices();
        using var recorder = new MetricRecorder(services);
        services.GetRequiredService<RelayMetrics>();

        var observed = recorder.Observe();

        Assert.All(observed, m => Assert.Equal(0, m.Value));
        Assert.Equal(
            Enum.GetValues<RejectionReason>().Select(r => r.ToTag()).Order(StringComparer.Ordinal),
            observed.Where(m => m.Instrument == "relay.rejected_connections").Select(m => (string)m.Tags["error.type"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["abandoned", "expired", "paired", "replaced"],
            observed.Where(m => m.Instrument == "relay.pairings").Select(m => (string)m.Tags["relay.pairing.result"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["malformed", "unknown_type"],
            observed.Where(m => m.Instrument == "relay.protocol_errors").Select(m => (string)m.Tags["error.type"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["bad_framing", "invalid_json", "malformed", "not_member", "unknown_event"],
            observed.Where(m => m.Instrument == "relay.rooms.bad_packets").Select(m => (string)m.Tags["error.type"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["broadcast", "connect", "disconnect", "ping"],
            observed.Where(m => m.Instrument == "relay.rooms.packets").Select(m => (string)m.Tags["relay.rooms.event"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["1001", "4001", "4002", "4003", "4004", "4413", "4429"],
            observed.Where(m => m.Instrument == "relay.sigver.closes").Select(m => (string)m.Tags["relay.close.code"]!).Order(StringComparer.Ordinal));
        foreach (var name in new[] { "relay.active_peers", "relay.introductions", "relay.documents", "relay.pending_connections", "relay.active_pairings", "relay.held_bytes", "relay.relayed_bytes", "relay.relayed_messages", "relay.connection.writes", "relay.rooms.rooms", "relay.rooms.users", "relay.sigver.peers", "relay.sigver.groups", "relay.sigver.content_messages", "relay.sigver.content_bytes" })
        {
            Assert.Single(observed, m => m.Instrument == name);
        }
    }

    [Fact]
    public void Totals_CountEachEvent_UnderItsOwnTag()
    {
        using var services = RelayServices();
        using var recorder = new MetricRecorder(services);
        var metrics = services.GetRequiredService<RelayMetrics>();

        metrics.Rejected(RejectionReason.QueueFull);
        metrics.Rejected(RejectionReason.QueueFull);
        metrics.ProtocolError(ProtocolErrorReason.UnknownType);
        metrics.IntroductionSent();
        metrics.Relayed(100, endOfMessage: false);
        metrics.Relayed(20, endOfMessage: true);

        Assert.Equal(2, recorder.Sum("relay.rejected_connections", "error.type", "queue_full"));
        Assert.Equal(2, recorder.Sum("relay.rejected_connections"));
        Assert.Equal(1, recorder.Sum("relay.protocol_errors", "error.type", "unknown_type"));
        Assert.Equal(1, recorder.Sum("relay.introductions"));
        Assert.Equal(120, recorder.Sum("relay.relayed_bytes"));
        Assert.Equal(1, recorder.Sum("relay.relayed_messages"));
    }

    [Fact]
    public void TagValues_AreDistinctSnakeCase()
    {
        string[] tags =
        [
            .. Enum.GetValues<RejectionReason>().Select(r => r.ToTag()),
            .. Enum.GetValues<ProtocolErrorReason>().Select(r => r.ToTag()),
            .. Enum.GetValues<PairingResult>().Select(r => r.ToTag()),
            .. Enum.GetValues<BadPacketReason>().Select(r => r.ToTag()),
            .. Enum.GetValues<RoomEvent>().Select(r => r.ToTag()),
        ];

        Assert.All(tags, tag => Assert.Matches("^[a-z_]+$", tag));
        Assert.Equal(Enum.GetValues<RejectionReason>().Length, Enum.GetValues<RejectionReason>().Select(r => r.ToTag()).Distinct().Count());
    }
}
