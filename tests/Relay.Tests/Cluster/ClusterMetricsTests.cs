using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Relay.Cluster;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Cluster;

/// <summary>The cluster's instruments against the README's table: names, kinds, units, tags, on the relay's meter.</summary>
public sealed class ClusterMetricsTests
{
    public static TheoryData<string, string, string> Instruments => new()
    {
        { "relay.cluster.nodes", "ObservableUpDownCounter", "{node}" },
        { "relay.cluster.redis.available", "ObservableUpDownCounter", "1" },
        { "relay.cluster.redis.duration", "Histogram", "s" },
        { "relay.cluster.redis.errors", "ObservableCounter", "{operation}" },
        { "relay.cluster.introductions", "ObservableCounter", "{introduction}" },
        { "relay.cluster.resyncs", "ObservableCounter", "{resync}" },
        { "relay.cluster.reaped_entries", "ObservableCounter", "{entry}" },
        { "relay.cluster.forwarded_sockets", "ObservableCounter", "{socket}" },
        { "relay.cluster.forwarded_sockets.active", "ObservableUpDownCounter", "{socket}" },
    };

    [Theory]
    [MemberData(nameof(Instruments))]
    public void Instrument_MatchesTheTable(string name, string kind, string unit)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var instruments = Published(services, () => new ClusterMetrics(services.GetRequiredService<IMeterFactory>(), () => 3, () => true));

        var instrument = Assert.Single(instruments, i => i.Name == name);
        Assert.Equal(kind, instrument.GetType().Name.Split('`')[0]);
        Assert.Equal(unit, instrument.Unit);
        Assert.False(string.IsNullOrWhiteSpace(instrument.Description));
        Assert.Equal(RelayMeter.Name, instrument.Meter.Name);
        Assert.Equal(Instruments.Count, instruments.Count);
    }

    [Fact]
    public void Totals_AreTaggedAndExportedFromZero()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var recorder = new MetricRecorder(services);
        var available = false;
        var metrics = new ClusterMetrics(services.GetRequiredService<IMeterFactory>(), () => 2, () => available);

        metrics.Failed(ClusterOperation.Join);
        metrics.Introduction(ClusterIntroductionResult.Sent, 3);
        metrics.Introduction(ClusterIntroductionResult.Delivered);
        metrics.Completed(ClusterOperation.Lease, TimeSpan.FromMilliseconds(2));
        metrics.Resynced();
        metrics.Reaped(5);
        metrics.Forward(ClusterForwardResult.Forwarded);
        metrics.Forward(ClusterForwardResult.Forwarded);
        metrics.Forward(ClusterForwardResult.Refused);
        metrics.ForwardStarted();
        metrics.ForwardStarted();
        metrics.ForwardEnded();
        metrics.Completed(ClusterOperation.Pair, TimeSpan.FromMilliseconds(1));

        Assert.Equal(1, recorder.Sum("relay.cluster.redis.errors", ClusterMetrics.OperationTag, "join"));
        Assert.Equal(0, recorder.Sum("relay.cluster.redis.errors", ClusterMetrics.OperationTag, "publish"));
        Assert.Equal(3, recorder.Sum("relay.cluster.introductions", ClusterMetrics.ResultTag, "sent"));
        Assert.Equal(1, recorder.Sum("relay.cluster.introductions", ClusterMetrics.ResultTag, "delivered"));
        Assert.Equal(0, recorder.Sum("relay.cluster.introductions", ClusterMetrics.ResultTag, "duplicate"));
        Assert.Equal(1, recorder.Sum("relay.cluster.resyncs"));
        Assert.Equal(5, recorder.Sum("relay.cluster.reaped_entries"));
        Assert.Equal(2, recorder.Sum("relay.cluster.forwarded_sockets", ClusterMetrics.ResultTag, "forwarded"));
        Assert.Equal(1, recorder.Sum("relay.cluster.forwarded_sockets", ClusterMetrics.ResultTag, "refused"));
        Assert.Equal(0, recorder.Sum("relay.cluster.forwarded_sockets", ClusterMetrics.ResultTag, "lost"));
        Assert.Equal(0, recorder.Sum("relay.cluster.forwarded_sockets", ClusterMetrics.ResultTag, "taken_over"));
        Assert.Equal(1, recorder.Sum("relay.cluster.forwarded_sockets.active"));
        Assert.Equal(2, recorder.Sum("relay.cluster.nodes"));
        Assert.Equal(0, recorder.Sum("relay.cluster.redis.available"));
        available = true;
        Assert.Equal(1, recorder.Sum("relay.cluster.redis.available"));
        Assert.Equal(0.002, Assert.Single(recorder.Measurements, m => m.Instrument == "relay.cluster.redis.duration" && Equals(m.Tags[ClusterMetrics.OperationTag], "lease")).Value, precision: 6);
        Assert.Equal(0.001, Assert.Single(recorder.Measurements, m => m.Instrument == "relay.cluster.redis.duration" && Equals(m.Tags[ClusterMetrics.OperationTag], "pair")).Value, precision: 6);
    }

    private static List<Instrument> Published(IServiceProvider services, Action create)
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
        create();
        return instruments;
    }
}
