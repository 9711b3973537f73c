using Relay.Tests.Infrastructure;

namespace Relay.Tests.Cluster;

/// <summary>
/// A random spread of peers over nodes and a random sequence of Joins and Leaves, run against any gateways
/// (one node, or several as one cluster): records, per step, every introduction each peer received.
/// <para>
/// After each step the acting peer passes a barrier: it leaves and joins again its own witness document, where a
/// witness peer on another node waits, and both must be introduced next. Its Join script ran after its earlier
/// Leave's (one session's scripts keep their order), so the next step sees this one's effect in Redis, and any
/// introduction made twice shows up before the witness's.
/// </para>
/// </summary>
internal sealed class IntroductionScenario
{
    private const int Witnesses = 3;

    private IntroductionScenario(int[] nodeOf, List<(int Peer, bool Join, string[] Documents)> steps)
    {
        NodeOf = nodeOf;
        Steps = steps;
    }

    public int[] NodeOf { get; }

    public List<(int Peer, bool Join, string[] Documents)> Steps { get; }

    public static IntroductionScenario Generate(Random random, int peers, int documents, int steps, int nodes)
    {
        var nodeOf = Enumerable.Range(0, peers).Select(_ => random.Next(nodes)).ToArray();
        var joined = Enumerable.Range(0, peers).Select(_ => new List<string>()).ToArray();
        var list = new List<(int, bool, string[])>();
        for (var i = 0; i < steps; i++)
        {
            var peer = random.Next(peers);
            if (joined[peer].Count > 0 && random.Next(4) == 0)
            {
                var leave = joined[peer][random.Next(joined[peer].Count)];
                joined[peer].Remove(leave);
                list.Add((peer, false, [leave]));
            }
            else
            {
                // Sometimes names a document already joined, or one twice: only new overlaps introduce.
                var join = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => $"doc-{random.Next(documents)}").ToArray();
                joined[peer].AddRange(join.Distinct().Except(joined[peer]).ToList());
                list.Add((peer, true, join));
            }
        }

        return new IntroductionScenario(nodeOf, list);
    }

    /// <summary>What one node would introduce at each step: per recipient, the introductions it is due.</summary>
    public Dictionary<int, List<string>>[] Expected()
    {
        var members = new Dictionary<string, HashSet<int>>();
        var documentsOf = NodeOf.Select(_ => new HashSet<string>()).ToArray();
        var expected = new Dictionary<int, List<string>>[Steps.Count];
        for (var i = 0; i < Steps.Count; i++)
        {
            var (peer, join, documents) = Steps[i];
            var due = expected[i] = [];
            if (!join)
            {
                foreach (var document in documents.Where(documentsOf[peer].Remove))
                {
                    members[document].Remove(peer);
                }

                continue;
            }

            var shared = new Dictionary<int, List<string>>();
            foreach (var document in documents.Where(documentsOf[peer].Add))
            {
                if (!members.TryGetValue(document, out var set))
                {
                    members[document] = set = [];
                }

                foreach (var other in set)
                {
                    if (!shared.TryGetValue(other, out var list))
                    {
                        shared[other] = list = [];
                    }

                    list.Add(document);
                }

                set.Add(peer);
            }

            foreach (var (other, list) in shared)
            {
                Add(due, peer, Record(PeerId(other), list));
                Add(due, other, Record(PeerId(peer), list));
            }
        }

        return expected;
    }

    /// <summary>Runs the scenario with each peer on the gateway <paramref name="gateway"/> names for its node; returns each step's sorted introductions.</summary>
    public async Task<List<string>[]> RunAsync(Func<int, Uri> gateway)
    {
        var expected = Expected();
        var peers = new TestPeer[NodeOf.Length];
        var witnesses = new TestPeer[Witnesses];
        try
        {
            // Witness w sits on node w + 1, so each peer's witness (that of its node) is on another node.
            for (var w = 0; w < Witnesses; w++)
            {
                witnesses[w] = await TestPeer.ConnectAsync(gateway((w + 1) % Witnesses), $"witness-{w}");
            }

            for (var p = 0; p < peers.Length; p++)
            {
                peers[p] = await TestPeer.ConnectAsync(gateway(NodeOf[p]), PeerId(p));
                await witnesses[NodeOf[p] % Witnesses].JoinAsync(WitnessDocument(p));
            }

            var record = new List<string>[Steps.Count];
            for (var i = 0; i < Steps.Count; i++)
            {
                var (peer, join, documents) = Steps[i];
                await (join ? peers[peer].JoinAsync(documents) : peers[peer].LeaveAsync(documents));
                var received = new List<string>();
                foreach (var (recipient, due) in expected[i])
                {
                    for (var n = 0; n < due.Count; n++)
                    {
                        var (from, shared) = await peers[recipient].ReceiveIntroductionAsync();
                        received.Add($"{PeerId(recipient)} <- {Record(from, shared)}");
                    }
                }

                received.Sort(StringComparer.Ordinal);
                record[i] = received;
                await BarrierAsync(peers[peer], witnesses[NodeOf[peer] % Witnesses], peer);
            }

            // Nothing was introduced twice: each peer's next message is its witness's introduction.
            for (var p = 0; p < peers.Length; p++)
            {
                await BarrierAsync(peers[p], witnesses[NodeOf[p] % Witnesses], p);
            }

            return record;
        }
        finally
        {
            foreach (var peer in peers.Concat(witnesses).OfType<TestPeer>())
            {
                await peer.DisposeAsync();
            }
        }
    }

    public static string PeerId(int peer) => $"peer-{peer}";

    private static string WitnessDocument(int peer) => $"witness-doc-{peer}";

    private static string Record(string from, IEnumerable<string> documents) => $"{from}: {string.Join(',', documents.Order(StringComparer.Ordinal))}";

    private static void Add(Dictionary<int, List<string>> due, int recipient, string introduction)
    {
        if (!due.TryGetValue(recipient, out var list))
        {
            due[recipient] = list = [];
        }

        list.Add(introduction);
    }

    private static async Task BarrierAsync(TestPeer peer, TestPeer witness, int index)
    {
        await peer.LeaveAsync(WitnessDocument(index));
        await peer.JoinAsync(WitnessDocument(index));
        await peer.ExpectIntroductionAsync(witness.PeerId, WitnessDocument(index));
        await witness.ExpectIntroductionAsync(peer.PeerId, WitnessDocument(index));
    }

    /// <summary>The model's introductions of one step, in the order <see cref="RunAsync"/> records them.</summary>
    public static List<string> Flatten(Dictionary<int, List<string>> due) =>
        [.. due.SelectMany(pair => pair.Value.Select(introduction => $"{PeerId(pair.Key)} <- {introduction}")).Order(StringComparer.Ordinal)];
}
