using System.Text;
using OpenTelemetry.Metrics;

namespace Relay.Gateway.Telemetry;

/// <summary>The Prometheus metric types the text format 0.0.4 knows and this exporter writes.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// OpenTelemetry names to Prometheus names, after the OpenTelemetry "Prometheus and OpenMetrics
/// Compatibility" specification (OTLP metric points to Prometheus): invalid characters become
/// <c>_</c> and runs of <c>_</c> collapse to one; the unit, converted to Prometheus words, is appended
/// unless the name already ends with it; monotonic sums get <c>_total</c>.
/// </summary>
internal static class PrometheusNaming
{
    /// <summary>The Prometheus type of an OpenTelemetry metric, or null if the text format cannot carry it.</summary>
    public static PrometheusType? TypeOf(MetricType type) => type switch
    {
        MetricType.LongSum or MetricType.DoubleSum => PrometheusType.Counter,
        MetricType.LongSumNonMonotonic or MetricType.DoubleSumNonMonotonic => PrometheusType.Gauge,
        MetricType.LongGauge or MetricType.DoubleGauge => PrometheusType.Gauge,
        MetricType.Histogram => PrometheusType.Histogram,

        // Exponential histograms map to native histograms, which the text format has no syntax for.
        _ => null,
    };

    /// <summary>The metric family name: <c>relay.relayed_bytes</c> (<c>By</c>, counter) is <c>relay_relayed_bytes_total</c>.</summary>
    public static string MetricName(string name, string? unit, PrometheusType type)
    {
        var result = Sanitize(name, allowColon: true);
        var unitWords = UnitWords(unit);
        if (unitWords.Length > 0 && !result.EndsWith(unitWords, StringComparison.Ordinal)
            && !(type == PrometheusType.Counter && result.EndsWith(unitWords + "_total", StringComparison.Ordinal)))
        {
            result = Sanitize(result + "_" + unitWords, allowColon: true);
        }

        if (type == PrometheusType.Counter && !result.EndsWith("_total", StringComparison.Ordinal))
        {
            result += "_total";
        }

        return result;
    }

    /// <summary>A label name: <c>error.type</c> is <c>error_type</c>.</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>
    /// A UCUM unit in Prometheus words: annotations in braces are dropped (<c>{peer}</c> is no unit),
    /// abbreviations become words (<c>By</c> is <c>bytes</c>, <c>s</c> is <c>seconds</c>),
    /// <c>a/b</c> becomes <c>a_per_b</c>, and <c>1</c> becomes <c>ratio</c>.
    /// </summary>
    public static string UnitWords(string? unit)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return "";
        }

        var bare = RemoveAnnotations(unit).Trim();
        if (bare.Length == 0)
        {
            return "";
        }

        // "By/s" is bytes_per_second; "{event}/min", once the annotation is gone, is per_minute.
        var slash = bare.IndexOf('/', StringComparison.Ordinal);
        var words = slash >= 0 && slash < bare.Length - 1
            ? (slash > 0 ? Word(bare[..slash]) + "_" : "") + "per_" + PerWord(bare[(slash + 1)..])
            : Word(bare);
        return Sanitize(words, allowColon: false).Trim('_');
    }

    private static string Word(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "bit" => "bits",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "ratio",
        _ => unit,
    };

    private static string PerWord(string unit) => unit switch
    {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "a" => "year",
        _ => Word(unit),
    };

    private static string RemoveAnnotations(string unit)
    {
        if (!unit.Contains('{', StringComparison.Ordinal))
        {
            return unit;
        }

        var builder = new StringBuilder(unit.Length);
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}' && depth > 0)
            {
                depth--;
            }
            else if (depth == 0)
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Replaces every character outside <c>[a-zA-Z0-9_]</c> (and <c>:</c> in metric names) with
    /// <c>_</c>, collapses runs of <c>_</c>, and prefixes <c>_</c> to a leading digit. Returns the same
    /// string when it is already valid.
    /// </summary>
    internal static string Sanitize(string name, bool allowColon)
    {
        if (IsValid(name, allowColon))
        {
            return name;
        }

        var builder = new StringBuilder(name.Length + 1);
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            builder.Append('_');
        }

        foreach (var c in name)
        {
            var valid = char.IsAsciiLetterOrDigit(c) || (allowColon && c == ':');
            if (valid)
            {
                builder.Append(c);
            }
            else if (builder.Length == 0 || builder[^1] != '_')
            {
                builder.Append('_');
            }
        }

        return builder.ToString();
    }

    private static bool IsValid(string name, bool allowColon)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        var previous = '\0';
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':')) || (c == '_' && previous == '_'))
            {
                return false;
            }

            previous = c;
        }

        return true;
    }
}
