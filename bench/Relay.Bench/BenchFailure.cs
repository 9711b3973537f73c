namespace Relay.Bench;

/// <summary>A measurement that cannot be trusted: something was lost, reordered, refused or timed out.</summary>
internal sealed class BenchFailure(string message) : Exception(message);
