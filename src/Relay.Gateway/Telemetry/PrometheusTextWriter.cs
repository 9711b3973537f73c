using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Relay.Gateway.Telemetry;

/// <summary>
/// Writes OpenTelemetry metrics in the Prometheus text exposition format 0.0.4. Families are sorted by
/// name and each has one HELP and one TYPE line; metrics from different meters that map to the same
/// family share it. Every point carries <c>otel_scope_name</c> (and <c>otel_scope_version</c>), and the
/// resource is written once as <c>target_info</c>. No timestamps: Prometheus stamps the scrape.
/// One instance serves one scrape at a time; the names, headers and scope labels of each metric are
/// rendered once and reused, so a scrape allocates only for what changed.
/// </summary>
internal sealed class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private const string ScopeNameLabel = "otel_scope_name";
    private const string ScopeVersionLabel = "otel_scope_version";

    private static readonly SearchValues<char> LabelValueEscapes = SearchValues.Create("\\\"\n");
    private static readonly SearchValues<char> HelpEscapes = SearchValues.Create("\\\n");

    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private readonly ArrayBufferWriter<byte> _labelSet = new(256);
    private readonly ConditionalWeakTable<Metric, Family> _families = [];
    private readonly Dictionary<string, string> _labelNames = new(StringComparer.Ordinal);
    private readonly List<Entry> _entries = [];
    private Label[] _labels = new Label[8];
    private int _labelCount;
    private byte[]? _targetInfo;

    /// <summary>Metrics the text format cannot carry, or that clash with another metric's family; the caller logs them.</summary>
    public event Action<string, string>? MetricDropped;

    /// <summary>The text written by the last <see cref="Write"/>.</summary>
    public ReadOnlyMemory<byte> Written => _output.WrittenMemory;

    public void Write(in Batch<Metric> batch, Resource? resource)
    {
        _output.ResetWrittenCount();
        _entries.Clear();
        foreach (var metric in batch)
        {
            var family = _families.GetValue(metric, static m => new Family(m));
            if (family.Type is null || metric.Temporality != AggregationTemporality.Cumulative)
            {
                Drop(family, metric, null);
                continue;
            }

            _entries.Add(new Entry(family, metric, _entries.Count));
        }

        _entries.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Family.Name, b.Family.Name);
            return byName != 0 ? byName : a.Order.CompareTo(b.Order);
        });

        var entries = CollectionsMarshal.AsSpan(_entries);
        for (var start = 0; start < entries.Length;)
        {
            var end = start + 1;
            while (end < entries.Length && entries[end].Family.Name == entries[start].Family.Name)
            {
                end++;
            }

            WriteFamily(entries[start..end]);
            start = end;
        }

        if (resource is not null)
        {
            _output.Write(_targetInfo ??= RenderTargetInfo(resource));
        }
    }

    /// <summary>
    /// One family: the first metric's HELP and TYPE, then the points of every metric with that name,
    /// except those whose type differs (conflicting TYPE) or whose meter already wrote into it
    /// (their series would repeat).
    /// </summary>
    private void WriteFamily(Span<Entry> group)
    {
        var head = group[0].Family;
        _output.Write(head.Header);
        for (var i = 0; i < group.Length; i++)
        {
            ref var entry = ref group[i];
            if (i > 0 && !CanJoin(group[..i], entry))
            {
                Drop(entry.Family, entry.Metric, head.Name);
                continue;
            }

            entry.Written = true;
            WritePoints(entry.Family, entry.Metric);
        }
    }

    private static bool CanJoin(Span<Entry> before, in Entry candidate)
    {
        foreach (ref readonly var earlier in before)
        {
            if (earlier.Family.Type != candidate.Family.Type
                || (earlier.Written && earlier.Family.SameScope(candidate.Family)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reports a metric left out, once: unsupported (no <paramref name="clashingFamily"/>) or clashing with a family already written.</summary>
    private void Drop(Family family, Metric metric, string? clashingFamily)
    {
        if (family.DropReported)
        {
            return;
        }

        family.DropReported = true;
        MetricDropped?.Invoke(
            $"{metric.MeterName}/{metric.Name}",
            clashingFamily is null
                ? "the Prometheus text format cannot carry it (exponential histogram or delta temporality)"
                : $"another metric already writes the family {clashingFamily}, with another type or from the same meter");
    }

    private void WritePoints(Family family, Metric metric)
    {
        var type = metric.MetricType;
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            _labelCount = 0;
            foreach (var tag in point.Tags)
            {
                AddLabel(tag.Key, tag.Value, family.Type == PrometheusType.Histogram);
            }

            RenderLabelSet(family.ScopeLabels);
            switch (type)
            {
                case MetricType.LongSum or MetricType.LongSumNonMonotonic:
                    WriteSample(family.NameBytes, default, default, point.GetSumLong());
                    break;
                case MetricType.LongGauge:
                    WriteSample(family.NameBytes, default, default, point.GetGaugeLastValueLong());
                    break;
                case MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic:
                    WriteSample(family.NameBytes, default, default, point.GetSumDouble());
                    break;
                case MetricType.DoubleGauge:
                    WriteSample(family.NameBytes, default, default, point.GetGaugeLastValueDouble());
                    break;
                case MetricType.Histogram:
                    WriteHistogram(family.NameBytes, point);
                    break;
            }
        }
    }

    /// <summary><c>_bucket</c> lines with cumulative counts and <c>le</c> ascending to <c>+Inf</c>, then <c>_sum</c> and <c>_count</c>.</summary>
    private void WriteHistogram(byte[] name, in MetricPoint point)
    {
        var count = point.GetHistogramCount();
        long cumulative = 0;
        var wroteInfinity = false;
        foreach (var bucket in point.GetHistogramBuckets())
        {
            cumulative += bucket.BucketCount;
            wroteInfinity = double.IsPositiveInfinity(bucket.ExplicitBound);
            WriteSample(name, "_bucket"u8, bucket.ExplicitBound, cumulative);
        }

        if (!wroteInfinity)
        {
            WriteSample(name, "_bucket"u8, double.PositiveInfinity, count);
        }

        // The sum is only meaningful to Prometheus when it cannot decrease, i.e. no negative value was recorded.
        if (!point.TryGetHistogramMinMaxValues(out var min, out _) || min >= 0)
        {
            WriteSample(name, "_sum"u8, default, point.GetHistogramSum());
        }

        WriteSample(name, "_count"u8, default, count);
    }

    private void WriteSample(ReadOnlySpan<byte> name, ReadOnlySpan<byte> suffix, double? le, long value)
    {
        WriteSeries(name, suffix, le);
        var span = _output.GetSpan(24);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _output.Advance(written);
        _output.Write("\n"u8);
    }

    private void WriteSample(ReadOnlySpan<byte> name, ReadOnlySpan<byte> suffix, double? le, double value)
    {
        WriteSeries(name, suffix, le);
        WriteDouble(_output, value);
        _output.Write("\n"u8);
    }

    /// <summary><c>name_suffix{labels,le="x"} </c>, braces only when there are labels.</summary>
    private void WriteSeries(ReadOnlySpan<byte> name, ReadOnlySpan<byte> suffix, double? le)
    {
        _output.Write(name);
        _output.Write(suffix);
        var labels = _labelSet.WrittenSpan;
        if (labels.Length > 0 || le is not null)
        {
            _output.Write("{"u8);
            _output.Write(labels);
            if (le is { } bound)
            {
                _output.Write(labels.Length > 0 ? ",le=\""u8 : "le=\""u8);
                WriteDouble(_output, bound);
                _output.Write("\""u8);
            }

            _output.Write("}"u8);
        }

        _output.Write(" "u8);
    }

    /// <summary>
    /// Collects one label. Labels whose sanitized name is reserved here (the scope labels, and
    /// <c>le</c> on histograms) are left out, since Prometheus rejects a repeated label name.
    /// </summary>
    private void AddLabel(string key, object? value, bool histogram)
    {
        if (!_labelNames.TryGetValue(key, out var name))
        {
            name = PrometheusNaming.LabelName(key);
            _labelNames[key] = name;
        }

        if (name is ScopeNameLabel or ScopeVersionLabel || (histogram && name == "le"))
        {
            return;
        }

        if (_labelCount == _labels.Length)
        {
            Array.Resize(ref _labels, _labels.Length * 2);
        }

        _labels[_labelCount++] = new Label(name, key, value);
    }

    /// <summary>
    /// Renders the collected labels, sorted by name, into the label set every line of the point shares.
    /// Attributes whose names sanitize to the same label are joined with <c>;</c> in the order of their
    /// original keys, as the compatibility specification requires.
    /// </summary>
    private void RenderLabelSet(byte[] scopeLabels)
    {
        var labels = _labels.AsSpan(0, _labelCount);
        labels.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Key, b.Key);
        });

        _labelSet.ResetWrittenCount();
        for (var i = 0; i < labels.Length; i++)
        {
            var sameAsPrevious = i > 0 && labels[i].Name == labels[i - 1].Name;
            if (sameAsPrevious)
            {
                _labelSet.Write(";"u8);
            }
            else
            {
                if (i > 0)
                {
                    _labelSet.Write("\","u8);
                }

                WriteUtf8(_labelSet, labels[i].Name);
                _labelSet.Write("=\""u8);
            }

            WriteLabelValue(_labelSet, labels[i].Value);
        }

        if (labels.Length > 0)
        {
            _labelSet.Write("\""u8);
        }

        if (scopeLabels.Length > 0)
        {
            if (labels.Length > 0)
            {
                _labelSet.Write(","u8);
            }

            _labelSet.Write(scopeLabels);
        }
    }

    /// <summary>The resource as <c>target_info</c>: a gauge of 1 whose labels are the resource attributes.</summary>
    private byte[] RenderTargetInfo(Resource resource)
    {
        _labelCount = 0;
        foreach (var attribute in resource.Attributes)
        {
            AddLabel(attribute.Key, attribute.Value, histogram: false);
        }

        if (_labelCount == 0)
        {
            return [];
        }

        RenderLabelSet([]);
        var text = new ArrayBufferWriter<byte>();
        text.Write("# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{"u8);
        text.Write(_labelSet.WrittenSpan);
        text.Write("} 1\n"u8);
        return text.WrittenSpan.ToArray();
    }

    /// <summary>A sample value or <c>le</c> bound: shortest round-trip form, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    internal static void WriteDouble(ArrayBufferWriter<byte> output, double value)
    {
        if (double.IsFinite(value))
        {
            var span = output.GetSpan(32);
            value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture);
            output.Advance(written);
        }
        else
        {
            output.Write(double.IsNaN(value) ? "NaN"u8 : value > 0 ? "+Inf"u8 : "-Inf"u8);
        }
    }

    /// <summary>
    /// A label value: strings as they are, other attribute values as the OpenTelemetry attribute
    /// specification renders them (invariant numbers, <c>true</c>/<c>false</c>, arrays as JSON); then
    /// <c>\</c>, <c>"</c> and line feeds escaped.
    /// </summary>
    private static void WriteLabelValue(ArrayBufferWriter<byte> output, object? value)
    {
        switch (value)
        {
            case null:
                break;
            case string text:
                WriteEscaped(output, text, LabelValueEscapes);
                break;
            case bool flag:
                output.Write(flag ? "true"u8 : "false"u8);
                break;
            case double or float:
                WriteDouble(output, Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            case IUtf8SpanFormattable number when value is long or int or short or sbyte or ulong or uint or ushort or byte:
                var span = output.GetSpan(24);
                number.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
                output.Advance(written);
                break;
            case System.Collections.IEnumerable sequence:
                WriteEscaped(output, JsonSerializer.Serialize(sequence), LabelValueEscapes);
                break;
            default:
                WriteEscaped(output, Convert.ToString(value, CultureInfo.InvariantCulture) ?? "", LabelValueEscapes);
                break;
        }
    }

    /// <summary>UTF-8 of <paramref name="text"/> with <c>\</c> as <c>\\</c>, line feed as <c>\n</c>, and <c>"</c> as <c>\"</c> when it is among <paramref name="escapes"/>.</summary>
    internal static void WriteEscaped(ArrayBufferWriter<byte> output, ReadOnlySpan<char> text, SearchValues<char> escapes)
    {
        while (true)
        {
            var next = text.IndexOfAny(escapes);
            WriteUtf8(output, next < 0 ? text : text[..next]);
            if (next < 0)
            {
                return;
            }

            output.Write(text[next] switch
            {
                '\\' => "\\\\"u8,
                '"' => "\\\""u8,
                _ => "\\n"u8,
            });
            text = text[(next + 1)..];
        }
    }

    private static void WriteUtf8(ArrayBufferWriter<byte> output, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private readonly record struct Label(string Name, string Key, object? Value);

    private record struct Entry(Family Family, Metric Metric, int Order)
    {
        public bool Written { get; set; }
    }

    /// <summary>What a metric looks like in Prometheus, rendered once: its name, header lines and scope labels.</summary>
    private sealed class Family
    {
        public Family(Metric metric)
        {
            Type = PrometheusNaming.TypeOf(metric.MetricType);
            Name = Type is { } type ? PrometheusNaming.MetricName(metric.Name, metric.Unit, type) : metric.Name;
            NameBytes = Encoding.UTF8.GetBytes(Name);
            MeterName = metric.MeterName;
            MeterVersion = metric.MeterVersion ?? "";

            var header = new ArrayBufferWriter<byte>();
            if (!string.IsNullOrEmpty(metric.Description))
            {
                header.Write("# HELP "u8);
                header.Write(NameBytes);
                header.Write(" "u8);
                WriteEscaped(header, metric.Description, HelpEscapes);
                header.Write("\n"u8);
            }

            header.Write("# TYPE "u8);
            header.Write(NameBytes);
            header.Write(Type switch
            {
                PrometheusType.Counter => " counter\n"u8,
                PrometheusType.Histogram => " histogram\n"u8,
                _ => " gauge\n"u8,
            });
            Header = header.WrittenSpan.ToArray();

            var scope = new ArrayBufferWriter<byte>();
            if (!string.IsNullOrEmpty(MeterName))
            {
                scope.Write("otel_scope_name=\""u8);
                WriteEscaped(scope, MeterName, LabelValueEscapes);
                scope.Write("\""u8);
            }

            if (MeterVersion.Length > 0)
            {
                scope.Write(scope.WrittenCount > 0 ? ",otel_scope_version=\""u8 : "otel_scope_version=\""u8);
                WriteEscaped(scope, MeterVersion, LabelValueEscapes);
                scope.Write("\""u8);
            }

            ScopeLabels = scope.WrittenSpan.ToArray();
        }

        public PrometheusType? Type { get; }

        public string Name { get; }

        public byte[] NameBytes { get; }

        public byte[] Header { get; }

        public byte[] ScopeLabels { get; }

        public string MeterName { get; }

        public string MeterVersion { get; }

        public bool DropReported { get; set; }

        public bool SameScope(Family other) =>
            string.Equals(MeterName, other.MeterName, StringComparison.Ordinal)
            && string.Equals(MeterVersion, other.MeterVersion, StringComparison.Ordinal);
    }
}
