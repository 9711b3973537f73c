using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// Records the measurements of one host's <c>Relay</c> meter through a <see cref="MeterListener"/>.
/// Meters from <see cref="IMeterFactory"/> carry the factory as their scope, so gateways running in
/// parallel in the same process do not mix.
/// </summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();

    public MetricRecorder(IServiceProvider services, string meterName = "Relay")
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public sealed record Measurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags);

    public IReadOnlyCollection<Measurement> Measurements => _measurements;

    /// <summary>The sum of every measurement of <paramref name="instrument"/> (optionally with one tag value).</summary>
    public double Sum(string instrument, string? tag = null, object? tagValue = null) =>
        _measurements
            .Where(m => m.Instrument == instrument && (tag is null || (m.Tags.TryGetValue(tag, out var v) && Equals(v, tagValue))))
            .Sum(m => m.Value);

    public int Count(string instrument) => _measurements.Count(m => m.Instrument == instrument);

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        _measurements.Enqueue(new Measurement(instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy));
    }

    public void Dispose() => _listener.Dispose();
}
