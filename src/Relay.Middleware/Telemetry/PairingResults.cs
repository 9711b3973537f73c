namespace Relay.Telemetry;

/// <summary>Values of the <c>relay.pairing.result</c> tag.</summary>
internal static class PairingResults
{
    public const string Paired = "paired";
    public const string Replaced = "replaced";
    public const string Expired = "expired";
    public const string Abandoned = "abandoned";
}
