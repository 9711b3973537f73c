namespace Relay;

/// <summary>The relay's meter, for a host that exports metrics (e.g. OpenTelemetry's <c>AddMeter(RelayMeter.Name)</c>).</summary>
public static class RelayMeter
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every relay instrument is on.</summary>
    public const string Name = "Relay";
}
