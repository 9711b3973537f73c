using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Relay.Cluster;

/// <summary>
/// Degraded (still 200 on the health endpoint) while this node cannot use Redis: it serves its own peers and
/// introduces them to each other, but not to peers of other nodes, until Redis is back and it has resynchronised.
/// </summary>
internal sealed class ClusterHealthCheck(RelayOptions options, IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (options.Cluster.Redis is null)
        {
            return Task.FromResult(HealthCheckResult.Healthy("Single node."));
        }

        var node = services.GetRequiredService<ClusterNode>();
        return Task.FromResult(node.IsAvailable
            ? HealthCheckResult.Healthy($"Cluster node {node.Id}: {node.NodesAlive} nodes alive.")
            : HealthCheckResult.Degraded($"Cluster node {node.Id}: Redis unavailable, introductions are local only."));
    }
}
