namespace Relay.Bench.Report;

/// <summary>One measurement of one target in one repetition: named metrics.</summary>
internal sealed record Sample(string Scenario, string Case, string Target, int Repetition, IReadOnlyDictionary<string, double> Metrics);

/// <summary>A measurement not taken, and why.</summary>
internal sealed record Skip(string Scenario, string Case, string Target, string Reason);

/// <summary>Everything a run measured, skipped, or found wrong.</summary>
internal sealed class Results
{
    private readonly Lock _lock = new();

    public List<Sample> Samples { get; } = [];

    public List<Skip> Skips { get; } = [];

    public List<string> Failures { get; } = [];

    public List<string> Notes { get; } = [];

    public void Add(Sample sample)
    {
        lock (_lock)
        {
            Samples.Add(sample);
        }

        var metrics = string.Join(", ", sample.Metrics.Select(m => $"{m.Key}={m.Value:G4}"));
        Console.Error.WriteLine($"    {sample.Scenario} {sample.Case} {sample.Target} #{sample.Repetition}: {metrics}");
    }

    public void AddSkip(Skip skip)
    {
        lock (_lock)
        {
            if (!Skips.Contains(skip))
            {
                Skips.Add(skip);
                Console.Error.WriteLine($"    skipped {skip.Scenario} {skip.Case} {skip.Target}: {skip.Reason}");
            }
        }
    }

    public void AddFailure(string failure)
    {
        lock (_lock)
        {
            Failures.Add(failure);
        }

        Console.Error.WriteLine($"    FAILED: {failure}");
    }

    public void AddNote(string note)
    {
        lock (_lock)
        {
            if (!Notes.Contains(note))
            {
                Notes.Add(note);
            }
        }
    }

    /// <summary>Median of a metric over the repetitions of one target, or NaN if never measured.</summary>
    public double Median(string scenario, string @case, string target, string metric)
    {
        var values = Values(scenario, @case, target, metric);
        return Statistics.Median(values);
    }

    public List<double> Values(string scenario, string @case, string target, string metric)
    {
        var values = new List<double>();
        lock (_lock)
        {
            foreach (var s in Samples)
            {
                if (s.Scenario == scenario && s.Case == @case && s.Target == target && s.Metrics.TryGetValue(metric, out var v) && !double.IsNaN(v))
                {
                    values.Add(v);
                }
            }
        }

        return values;
    }

    public IEnumerable<string> Cases(string scenario)
    {
        lock (_lock)
        {
            return Samples.Where(s => s.Scenario == scenario).Select(s => s.Case)
                .Concat(Skips.Where(s => s.Scenario == scenario).Select(s => s.Case))
                .Distinct().ToList();
        }
    }

    public Skip? SkipOf(string scenario, string @case, string target)
    {
        lock (_lock)
        {
            return Skips.FirstOrDefault(s => s.Scenario == scenario && s.Case == @case && s.Target == target);
        }
    }
}

internal static class Statistics
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>The value below which <paramref name="fraction"/> of the sorted samples fall (nearest rank).</summary>
    public static double Percentile(long[] sorted, int count, double fraction)
    {
        if (count == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(fraction * count) - 1;
        return sorted[Math.Clamp(rank, 0, count - 1)];
    }
}
