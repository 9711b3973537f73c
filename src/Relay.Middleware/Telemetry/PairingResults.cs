namespace Relay.Telemetry;

/// <summary>Values of the <c>relay.pairing.result</c> tag.</summary>
internal static class PairingResults
{
    public const string Paired = "paired";
    public const string Replaced = "replaced";
    public const string Expired = "expired";
    public const string Abandoned = "abandoned";

    /// <summary>Every value above (a test keeps this list complete).</summary>
    public static readonly string[] All = [Paired, Replaced, Expired, Abandoned];
}
