using System.Diagnostics.Metrics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>The relay's instruments against the observability issue's table: names, kinds, units, tags.</summary>
public sealed class RelayMetricsTests
{
    public static TheoryData<string, string, string> Instruments => new()
    {
        { "relay.active_peers", "UpDownCounter", "{peer}" },
        { "relay.introductions", "Counter", "{introduction}" },
        { "relay.documents", "UpDownCounter", "{document}" },
        { "relay.pending_connections", "UpDownCounter", "{connection}" },
        { "relay.active_pairings", "UpDownCounter", "{pairing}" },
        { "relay.pairings", "Counter", "{pairing}" },
        { "relay.pairing.wait", "Histogram", "s" },
        { "relay.relayed_bytes", "Counter", "By" },
        { "relay.relayed_messages", "Counter", "{message}" },
        { "relay.rejected_connections", "Counter", "{connection}" },
        { "relay.protocol_errors", "Counter", "{message}" },
    };

    [Theory]
    [MemberData(nameof(Instruments))]
    public void Instrument_MatchesTheTable(string name, string kind, string unit)
    {
        using var services = new ServiceCollection().AddMetrics().AddSingleton<RelayMetrics>().BuildServiceProvider();
        services.GetRequiredService<RelayMetrics>();

        var instrument = Assert.Single(PublishedInstruments(services), i => i.Name == name);

        Assert.Equal(kind, instrument.GetType().Name.Split('`')[0]);
        Assert.Equal(unit, instrument.Unit);
        Assert.False(string.IsNullOrWhiteSpace(instrument.Description));
        Assert.Equal(RelayMetrics.MeterName, instrument.Meter.Name);
        Assert.Same(services.GetRequiredService<IMeterFactory>(), instrument.Meter.Scope);
    }

    [Fact]
    public void Meter_HasNoInstrumentsBeyondTheTable()
    {
        using var services = new ServiceCollection().AddMetrics().AddSingleton<RelayMetrics>().BuildServiceProvider();
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
                if (instrument.Meter.Name == RelayMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
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
        using var services = new ServiceCollection().AddMetrics().AddSingleton<RelayMetrics>().BuildServiceProvider();
        using var recorder = new MetricRecorder(services);
        var metrics = services.GetRequiredService<RelayMetrics>();

        metrics.ConnectionPending();
        metrics.ConnectionPending();
        metrics.ConnectionPendingEnded(PairingResults.Paired, TimeSpan.FromMilliseconds(250));
        metrics.ConnectionPendingEnded(PairingResults.Expired, TimeSpan.FromSeconds(60));

        Assert.Equal(0, recorder.Sum("relay.pending_connections"));
        Assert.Equal(1, recorder.Sum("relay.pairings", "relay.pairing.result", PairingResults.Paired));
        Assert.Equal(1, recorder.Sum("relay.pairings", "relay.pairing.result", PairingResults.Expired));
        var wait = Assert.Single(recorder.Measurements, m => m.Instrument == "relay.pairing.wait");
        Assert.Equal(0.25, wait.Value, precision: 6);
    }

    [Fact]
    public void RecordZeros_CreatesEverySeriesAtZero()
    {
        using var services = new ServiceCollection().AddMetrics().AddSingleton<RelayMetrics>().BuildServiceProvider();
        using var recorder = new MetricRecorder(services);

        services.GetRequiredService<RelayMetrics>().RecordZeros();

        Assert.All(recorder.Measurements, m => Assert.Equal(0, m.Value));
        Assert.Equal(
            RejectionReasons.All.Order(StringComparer.Ordinal),
            recorder.Measurements.Where(m => m.Instrument == "relay.rejected_connections").Select(m => (string)m.Tags["error.type"]!).Order(StringComparer.Ordinal));
        Assert.Equal(
            PairingResults.All.Order(StringComparer.Ordinal),
            recorder.Measurements.Where(m => m.Instrument == "relay.pairings").Select(m => (string)m.Tags["relay.pairing.result"]!).Order(StringComparer.Ordinal));
        Assert.Equal(2, recorder.Count("relay.protocol_errors"));
        foreach (var name in new[] { "relay.active_peers", "relay.introductions", "relay.documents", "relay.pending_connections", "relay.active_pairings", "relay.relayed_bytes", "relay.relayed_messages" })
        {
            Assert.Equal(1, recorder.Count(name));
        }
    }

    [Theory]
    [InlineData(typeof(PairingResults))]
    [InlineData(typeof(RejectionReasons))]
    [InlineData(typeof(ProtocolErrorReasons))]
    public void TagValueList_HoldsEveryConstant(Type constants)
    {
        var declared = constants.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!);
        var listed = (string[])constants.GetField("All")!.GetValue(null)!;

        Assert.Equal(declared.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        Assert.All(listed, value => Assert.Matches("^[a-z_]+$", value));
    }
}
