using Relay.Bench.Report;
using Relay.Bench.Servers;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Scenario 6, several nodes: the headline 1 KiB pipe (Node ws clients) through one gateway, then through
/// three gateways sharing a redis-server with each pipe's halves on different nodes, so every message
/// crosses two nodes (the node a half reached forwards it to the node its pairing runs on). Its cost is
/// the cluster's CPU per GB (every gateway and Redis) against one node's: the price of scaling out.
/// </summary>
internal sealed class ClusterScenario(BenchContext context)
{
    public const string Name = BenchConfig.Cluster;

    public const string OneNode = "16 pairs x 1 KiB, Node ws clients, one node";

    public const string ThreeNodes = "16 pairs x 1 KiB, Node ws clients, three nodes, halves on different nodes";

    public async Task RunAsync()
    {
        var c = new PipeScenario.Case(PipeScenario.RealClient1K, 16, 1024, context.Config.PipeBytesPerDirection1K, 256, PipeScenario.Driver.NodeWs);
        context.Results.AddNote("Cluster: three gateways on one redis-server; pipe p's A side connects to node p mod 3 and its B side to node p + 1 mod 3. Its server CPU is all three gateways' and Redis's.");
        await context.RepeatAsync([Target.Relay, Target.Cluster], (target, rep) =>
        {
            var @case = target == Target.Cluster ? ThreeNodes : OneNode;
            var label = $"{Name} {@case} #{rep + 1}";

            // Both lines are Relay's: the table's Relay column holds them, one case each.
            return NodePipes.MeasureAsync(context, target, c, label,
                metrics => context.Results.Add(new Sample(Name, @case, Target.Relay, rep, metrics)));
        }).ConfigureAwait(false);
    }
}
