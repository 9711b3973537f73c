using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Relay.Gateway.Telemetry;

/// <summary>
/// A pull exporter on the SDK's public reader API: wrapped in a <see cref="BaseExportingMetricReader"/>,
/// it is handed a <see cref="Collect"/> delegate; a scrape calls it, the SDK calls <see cref="Export"/>
/// on the same thread with the current cumulative values, and the text is written from there.
/// Scrapes take turns: one writer, one buffer.
/// </summary>
[ExportModes(ExportModes.Pull)]
internal sealed class PrometheusPullExporter : BaseExporter<Metric>, IPullMetricExporter
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly PrometheusTextWriter _writer = new();
    private readonly int _collectTimeoutMilliseconds;
    private volatile bool _disposed;

    public PrometheusPullExporter(TimeSpan collectTimeout, Action<string, string>? metricDropped = null)
    {
        _collectTimeoutMilliseconds = (int)collectTimeout.TotalMilliseconds;
        if (metricDropped is not null)
        {
            _writer.MetricDropped += metricDropped;
        }
    }

    /// <summary>Set by the reader this exporter is given to; null before that and after it is disposed.</summary>
    public Func<int, bool>? Collect { get; set; }

    /// <summary>
    /// Collects the current values and writes them to <paramref name="destination"/>. False, with
    /// nothing written, when there is nothing to collect from (not yet attached, or shut down).
    /// </summary>
    public async Task<bool> ScrapeAsync(Stream destination, CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_disposed || Collect is not { } collect || !collect(_collectTimeoutMilliseconds))
            {
                return false;
            }

            await destination.WriteAsync(_writer.Written, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _turn.Release();
        }
    }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        _writer.Write(batch, ParentProvider?.GetResource());
        return ExportResult.Success;
    }

    protected override void Dispose(bool disposing)
    {
        // The semaphore is not disposed: a scrape may still be waiting for its turn, and it then finds _disposed.
        _disposed = true;
        base.Dispose(disposing);
    }
}
