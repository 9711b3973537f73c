using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Relay.Cluster;

/// <summary>
/// Keeps this node in the cluster: every <see cref="RelayClusterOptions.LeaseInterval"/> it renews its lease,
/// notices Redis coming back, emptied (the <c>epoch</c> key) or having dropped this node, resynchronises then,
/// and reaps nodes whose lease expired. Does nothing on a single node.
/// </summary>
internal sealed partial class ClusterService(RelayOptions options, IServiceProvider services, ILogger<ClusterService> logger) : BackgroundService
{
    private const int ReapBatch = 500;

    private ClusterNode? _node;
    private ClusterPeerRegistry? _registry;
    private ClusterRooms? _rooms;
    private ClusterTargeted? _targeted;
    private ClusterSigver? _sigver;
    private ChannelMessageQueue? _channel;
    private string? _epoch;
    private Task _resync = Task.CompletedTask;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Cluster.Redis is null)
        {
            return;
        }

        _node = services.GetRequiredService<ClusterNode>();
        _registry = services.GetRequiredService<ClusterPeerRegistry>();
        _rooms = services.GetRequiredService<ClusterRooms>();
        _targeted = services.GetRequiredService<ClusterTargeted>();
        _sigver = services.GetRequiredService<ClusterSigver>();
        await _node.ConnectAsync().ConfigureAwait(false);
        Log.Started(logger, _node.Id);

        using var timer = new PeriodicTimer(options.Cluster.LeaseInterval);
        do
        {
            try
            {
                await TickAsync(_node, _registry).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Whatever failed, the next tick tries again: the node runs degraded, it does not stop.
                _node.Unavailable();
                Log.LeaseFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private async Task TickAsync(ClusterNode node, ClusterPeerRegistry registry)
    {
        if (_channel is null)
        {
            _channel = await node.Subscriber.SubscribeAsync(node.Channel).ConfigureAwait(false);
            var rooms = _rooms;
            var targeted = _targeted;
            _channel.OnMessage(message =>
            {
                var bytes = (byte[]?)message.Message ?? [];
                if (ClusterRooms.Handles(bytes))
                {
                    rooms!.OnMessage(bytes);
                }
                else if (ClusterTargeted.Handles(bytes))
                {
                    targeted!.OnMessage(bytes);
                }
                else
                {
                    registry.OnMessage(System.Text.Encoding.UTF8.GetString(bytes));
                }
            });
        }

        var pending = node.Database.ScriptEvaluateAsync(
            ClusterScripts.Lease,
            [node.Leases, node.Epoch, node.Nodes, node.Reapings],
            [node.Id, (long)options.Cluster.NodeTimeout.TotalMilliseconds, Guid.NewGuid().ToString("N"), node.InternalUrl]);
        if (await node.ObserveAsync(ClusterOperation.Lease, pending, System.Diagnostics.Stopwatch.GetTimestamp()).ConfigureAwait(false) is not { } result)
        {
            node.Unavailable();
            return;
        }

        var reply = (RedisResult[])result!;
        var lost = (long)reply[0] == 1;
        var epoch = (string?)reply[1];
        if ((lost && _epoch is not null) || (_epoch is not null && epoch != _epoch))
        {
            // Our lease had lapsed (so our presence may be reaped), or Redis was emptied: publish everything again.
            node.MarkDirty();
        }

        _epoch = epoch;
        node.Available((long)reply[2]);

        // In the background, so a long resync never delays the lease; one at a time.
        var dirty = node.DirtyVersion;
        if (dirty != 0 && _resync.IsCompleted)
        {
            _resync = ResyncAsync(node, registry, dirty);
        }

        foreach (var dead in ((RedisResult[])reply[3]!).Concat((RedisResult[])reply[4]!))
        {
            var victim = (string)dead!;
            if (victim != node.Id)
            {
                await ReapAsync(node, victim).ConfigureAwait(false);
            }
        }
    }

    private async Task ResyncAsync(ClusterNode node, ClusterPeerRegistry registry, long dirty)
    {
        try
        {
            // Each, whatever the others' outcome: each repairs its own state.
            var peers = await registry.ResyncAsync().ConfigureAwait(false);
            var rooms = await _rooms!.ResyncAsync().ConfigureAwait(false);
            var targeted = await _targeted!.ResyncAsync().ConfigureAwait(false);
            if (peers & rooms & targeted & await _sigver!.ResyncAsync().ConfigureAwait(false))
            {
                node.TryMarkClean(dirty);
            }
        }
        catch (Exception ex)
        {
            // Still dirty: the next tick tries again.
            Log.ResyncFailed(logger, ex);
        }
    }

    /// <summary>
    /// Claims a dead node (one node wins) and removes its entries in batches, so Redis never blocks long. A reaper
    /// that dies midway leaves its claim to go stale, and another node takes the rest over.
    /// </summary>
    private async Task ReapAsync(ClusterNode node, string victim)
    {
        var claim = node.Start(ClusterOperation.Reap, ClusterScripts.ClaimReap,
            [node.Leases, node.Nodes, node.EntriesOf(victim), node.ReapingOf(victim), node.Reapings],
            [victim, (long)options.Cluster.NodeTimeout.TotalMilliseconds]);
        if (claim is null || await claim.ConfigureAwait(false) is not { } claimed || (long)claimed != 1)
        {
            return;
        }

        long removed = 0;
        while (node.Start(ClusterOperation.Reap, ClusterScripts.Reap, [node.ReapingOf(victim), node.Leases, node.Reapings], [victim, ReapBatch, node.Prefix]) is { } batch
            && await batch.ConfigureAwait(false) is { } result)
        {
            var counts = (RedisResult[])result!;
            removed += (long)counts[0];
            if ((long)counts[1] == 0)
            {
                break;
            }
        }

        node.Metrics.Reaped(removed);
        Log.Reaped(logger, victim, removed);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_node is { IsAvailable: true } node)
        {
            // Leaving: other nodes stop introducing our peers at once and reap what our sessions leave behind.
            var resign = node.Start(ClusterOperation.Lease, ClusterScripts.Resign, [node.Leases, node.Nodes], [node.Id]);
            try
            {
                if (resign is not null)
                {
                    await resign.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                // Then the lease simply runs out: the same end, NodeTimeout later.
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterStarted, LogLevel.Information, "Cluster node {NodeId} started.")]
        public static partial void Started(ILogger logger, string nodeId);

        [LoggerMessage(RelayEventIds.ClusterLeaseFailed, LogLevel.Debug, "Renewing this node's lease failed; retrying at the next tick.")]
        public static partial void LeaseFailed(ILogger logger, Exception exception);

        [LoggerMessage(RelayEventIds.ClusterResyncFailed, LogLevel.Warning, "Resynchronising this node's presence failed; retrying at the next lease tick.")]
        public static partial void ResyncFailed(ILogger logger, Exception exception);

        [LoggerMessage(RelayEventIds.ClusterReaped, LogLevel.Information, "Reaped node {NodeId}, whose lease expired: {Entries} presence entries removed.")]
        public static partial void Reaped(ILogger logger, string nodeId, long entries);
    }
}
