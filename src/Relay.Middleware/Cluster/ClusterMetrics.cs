using System.Diagnostics.Metrics;

namespace Relay.Cluster;

/// <summary>A Redis operation of the cluster: the <c>relay.cluster.operation</c> tag.</summary>
internal enum ClusterOperation
{
    Lease,
    Register,
    Join,
    Remove,
    Publish,
    Reap,
    Pair,
    RoomJoin,
    RoomSend,
    RoomLeave,
    RoomUsers,
    TargetedRegister,
    TargetedConnect,
    TargetedDisconnect,
    TargetedSend,
    Sigver,
}

/// <summary>What became of a cross-node introduction: the <c>relay.cluster.result</c> tag of <c>relay.cluster.introductions</c>.</summary>
internal enum ClusterIntroductionResult
{
    /// <summary>Published to the node of the peer to introduce.</summary>
    Sent,

    /// <summary>Received from another node and queued for its peer.</summary>
    Delivered,

    /// <summary>Received, but the peer had already been introduced (a resynchronisation repeats what it cannot know was made).</summary>
    Duplicate,

    /// <summary>Received for a session that has ended or left the documents meanwhile.</summary>
    Stale,
}

/// <summary>What became of a pairing half or sigver peer that crossed nodes: the <c>relay.cluster.result</c> tag of <c>relay.cluster.forwarded_sockets</c>.</summary>
internal enum ClusterForwardResult
{
    /// <summary>Forwarded to the node its pairing runs on, which accepted it.</summary>
    Forwarded,

    /// <summary>The pairing's node answered with a refusal (e.g. 503 while it shuts down), passed on to the client.</summary>
    Failed,

    /// <summary>The pairing's node could not be reached: this node took the pairing over.</summary>
    TakenOver,

    /// <summary>The pairing's node vanished while piping: this node closed the client's socket with 1001.</summary>
    Lost,

    /// <summary>Received from another node, signed, and served here.</summary>
    Accepted,

    /// <summary>Claimed to come from another node but was not signed by the cluster's secret: refused with 403.</summary>
    Refused,
}

/// <summary>
/// The cluster's instruments, on the relay's meter; created only when <c>Relay:Cluster:Redis</c> is set.
/// Totals are observed, so every series is exported from the first collection on (at 0), as in <c>RelayMetrics</c>.
/// </summary>
internal sealed class ClusterMetrics
{
    public const string OperationTag = "relay.cluster.operation";
    public const string ResultTag = "relay.cluster.result";

    private static readonly ClusterOperation[] Operations = Enum.GetValues<ClusterOperation>();
    private static readonly ClusterIntroductionResult[] Results = Enum.GetValues<ClusterIntroductionResult>();
    private static readonly KeyValuePair<string, object?>[] OperationTags =
        [.. Operations.Select(static operation => new KeyValuePair<string, object?>(OperationTag, Tag(operation)))];
    private static readonly KeyValuePair<string, object?>[] ResultTags =
        [.. Results.Select(static result => new KeyValuePair<string, object?>(ResultTag, Tag(result)))];
    private static readonly KeyValuePair<string, object?>[] ForwardTags =
        [.. Enum.GetValues<ClusterForwardResult>().Select(static result => new KeyValuePair<string, object?>(ResultTag, Tag(result)))];

    private readonly long[] _errors = new long[Operations.Length];
    private readonly long[] _introductions = new long[Results.Length];
    private readonly Histogram<double> _duration;
    private readonly long[] _forwards = new long[ForwardTags.Length];
    private long _resyncs;
    private long _reaped;
    private long _forwardedActive;

    public ClusterMetrics(IMeterFactory meterFactory, Func<long> nodesAlive, Func<bool> redisAvailable)
    {
        var meter = meterFactory.Create(RelayMeter.Name);
        meter.CreateObservableUpDownCounter(
            "relay.cluster.nodes", nodesAlive, "{node}", "Gateway nodes with a live lease, as this node last saw (0 while Redis is unavailable).");
        meter.CreateObservableUpDownCounter(
            "relay.cluster.redis.available", () => redisAvailable() ? 1L : 0L, "1",
            "1 while this node reaches Redis and holds its lease; 0 while it runs degraded (introductions local only).");
        _duration = meter.CreateHistogram<double>(
            "relay.cluster.redis.duration", "s", "Duration of the cluster's Redis operations, by operation.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5] });
        meter.CreateObservableCounter(
            "relay.cluster.redis.errors", () => Observe(_errors, OperationTags), "{operation}",
            "Cluster Redis operations that failed (or were skipped while Redis was unavailable), by operation.");
        meter.CreateObservableCounter(
            "relay.cluster.introductions", () => Observe(_introductions, ResultTags), "{introduction}",
            "Introductions between peers of different nodes, by result (sent by the joiner's node; delivered, duplicate or stale at the other).");
        meter.CreateObservableCounter(
            "relay.cluster.resyncs", () => Volatile.Read(ref _resyncs), "{resync}",
            "Times this node re-published its peers' presence (Redis back, emptied, or this node's lease lost).");
        meter.CreateObservableCounter(
            "relay.cluster.reaped_entries", () => Volatile.Read(ref _reaped), "{entry}",
            "Presence entries of dead nodes this node removed from Redis.");
        meter.CreateObservableCounter(
            "relay.cluster.forwarded_sockets", () => Observe(_forwards, ForwardTags), "{socket}",
            "Pairing halves and sigver peers that crossed nodes, by result (forwarded, failed, taken_over, lost at the node the client reached; accepted, refused at the pairing's node).");
        meter.CreateObservableUpDownCounter(
            "relay.cluster.forwarded_sockets.active", () => Volatile.Read(ref _forwardedActive), "{socket}",
            "Client sockets this node pipes, byte for byte, to the node their pairing or sigver group runs on.");
    }

    public void Completed(ClusterOperation operation, TimeSpan elapsed) => _duration.Record(elapsed.TotalSeconds, OperationTags[(int)operation]);

    public void Failed(ClusterOperation operation) => Interlocked.Increment(ref _errors[(int)operation]);

    public void Introduction(ClusterIntroductionResult result, int count = 1) => Interlocked.Add(ref _introductions[(int)result], count);

    public void Forward(ClusterForwardResult result) => Interlocked.Increment(ref _forwards[(int)result]);

    public void ForwardStarted() => Interlocked.Increment(ref _forwardedActive);

    public void ForwardEnded() => Interlocked.Decrement(ref _forwardedActive);

    public void Resynced() => Interlocked.Increment(ref _resyncs);

    public void Reaped(long entries) => Interlocked.Add(ref _reaped, entries);

    private static string Tag(ClusterOperation operation) => operation switch
    {
        ClusterOperation.Lease => "lease",
        ClusterOperation.Register => "register",
        ClusterOperation.Join => "join",
        ClusterOperation.Remove => "remove",
        ClusterOperation.Publish => "publish",
        ClusterOperation.Reap => "reap",
        ClusterOperation.Pair => "pair",
        ClusterOperation.RoomJoin => "room_join",
        ClusterOperation.RoomSend => "room_send",
        ClusterOperation.RoomLeave => "room_leave",
        ClusterOperation.RoomUsers => "room_users",
        ClusterOperation.TargetedRegister => "targeted_register",
        ClusterOperation.TargetedConnect => "targeted_connect",
        ClusterOperation.TargetedDisconnect => "targeted_disconnect",
        ClusterOperation.TargetedSend => "targeted_send",
        ClusterOperation.Sigver => "sigver",
        _ => throw new ArgumentOutOfRangeException(nameof(operation)),
    };

    private static string Tag(ClusterIntroductionResult result) => result switch
    {
        ClusterIntroductionResult.Sent => "sent",
        ClusterIntroductionResult.Delivered => "delivered",
        ClusterIntroductionResult.Duplicate => "duplicate",
        ClusterIntroductionResult.Stale => "stale",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    private static string Tag(ClusterForwardResult result) => result switch
    {
        ClusterForwardResult.Forwarded => "forwarded",
        ClusterForwardResult.Failed => "failed",
        ClusterForwardResult.TakenOver => "taken_over",
        ClusterForwardResult.Lost => "lost",
        ClusterForwardResult.Accepted => "accepted",
        ClusterForwardResult.Refused => "refused",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    private static Measurement<long>[] Observe(long[] totals, KeyValuePair<string, object?>[] tags)
    {
        var measurements = new Measurement<long>[totals.Length];
        for (var i = 0; i < totals.Length; i++)
        {
            measurements[i] = new Measurement<long>(Volatile.Read(ref totals[i]), tags[i]);
        }

        return measurements;
    }
}
