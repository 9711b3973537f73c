using Microsoft.Extensions.DependencyInjection;

namespace Relay;

/// <summary>Returned by <c>AddRelay</c>, for chaining further relay configuration.</summary>
public interface IRelayBuilder
{
    /// <summary>The application's services.</summary>
    IServiceCollection Services { get; }
}
