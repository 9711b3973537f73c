namespace Relay.Tests.Infrastructure;

/// <summary>
/// Tests that measure the process (managed memory, allocations) or load it heavily run alone, after
/// the parallel ones, so other tests neither disturb their numbers nor get starved by them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NonParallelCollection
{
    public const string Name = "Non-parallel";
}
