using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// Reads one host's <c>Relay</c> meter through a <see cref="MeterListener"/>: measurements of synchronous
/// instruments as they happen, observable instruments (levels and totals) on demand. Meters from
/// <see cref="IMeterFactory"/> carry the factory as their scope, so gateways running in parallel in the
/// same process do not mix.
/// </summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _observeLock = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();
    private List<Measurement>? _observing;

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

    /// <summary>Measurements of the synchronous instruments (the histogram) so far.</summary>
    public IReadOnlyCollection<Measurement> Measurements => _measurements;

    /// <summary>One observation of every observable instrument, now.</summary>
    public IReadOnlyList<Measurement> Observe()
    {
        lock (_observeLock)
        {
            _observing = [];
            _listener.RecordObservableInstruments();
            var observed = _observing;
            _observing = null;
            return observed;
        }
    }

    /// <summary>
    /// The current value of <paramref name="instrument"/> (optionally of the series with one tag value): for
    /// an observable instrument what it observes now, summed over matching series; for a synchronous one the
    /// sum of its measurements so far.
    /// </summary>
    public double Sum(string instrument, string? tag = null, object? tagValue = null)
    {
        var observed = Observe().Where(m => m.Instrument == instrument).ToList();
        var source = observed.Count > 0 ? observed : [.. _measurements.Where(m => m.Instrument == instrument)];
        return source.Where(m => tag is null || (m.Tags.TryGetValue(tag, out var v) && Equals(v, tagValue))).Sum(m => m.Value);
    }

    /// <summary>
    /// Waits until <see cref="Sum"/> is <paramref name="expected"/>, failing at the test timeout: the relay counts
    /// a message once it has handed it to the recipient's send queue, which can be a moment after the recipient
    /// already has it.
    /// </summary>
    public Task SumReachesAsync(double expected, string instrument, string? tag = null, object? tagValue = null) =>
        Eventually.TrueAsync(() => Sum(instrument, tag, tagValue) == expected,
            $"{instrument}{(tag is null ? "" : $"{{{tag}={tagValue}}}")} is {expected} (last {Sum(instrument, tag, tagValue)})");

    /// <summary>How many measurements a synchronous instrument made, or how many series an observable one reports.</summary>
    public int Count(string instrument)
    {
        var observed = Observe().Count(m => m.Instrument == instrument);
        return observed > 0 ? observed : _measurements.Count(m => m.Instrument == instrument);
    }

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        var measurement = new Measurement(instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy);
        if (instrument.IsObservable)
        {
            // Only RecordObservableInstruments calls back for these, and Observe holds the lock around it.
            _observing?.Add(measurement);
        }
        else
        {
            _measurements.Enqueue(measurement);
        }
    }

    public void Dispose() => _listener.Dispose();
}
