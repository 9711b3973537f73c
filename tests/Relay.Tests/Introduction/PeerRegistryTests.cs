using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Relay.Connection;
using Relay.Introduction;
using Relay.Lifetime;
using Relay.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Introduction;

public sealed class PeerRegistryTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MetricRecorder _metrics;
    private readonly RelayOptions _options = new();
    private readonly RelaySessions _sessions;
    private readonly List<WebSocket> _sockets = [];
    private RelayMetrics? _relayMetrics;

    public PeerRegistryTests()
    {
        _metrics = new MetricRecorder(_services);
        _sessions = new RelaySessions(
            _options, TimeProvider.System, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<RelaySessions>.Instance);
    }

    [Fact]
    public void Join_FivePeersOnOneDocument_IntroducesEveryPairExactlyOnce()
    {
        var registry = CreateRegistry();
        var introduced = new List<(string To, string Peer)>();

        for (var i = 0; i < 5; i++)
        {
            var peer = Connect(registry, $"peer-{i}");
            foreach (var (other, shared) in Join(registry, peer, "doc"))
            {
                // The handler introduces each side of a pair to the other.
                Assert.Equal(["doc"], shared);
                introduced.Add((peer.PeerId, other.PeerId));
                introduced.Add((other.PeerId, peer.PeerId));
            }
        }

        // 10 pairs, 20 introductions, none twice, none to oneself, four for every peer.
        Assert.Equal(20, introduced.Count);
        Assert.Equal(20, introduced.Distinct().Count());
        Assert.DoesNotContain(introduced, i => i.To == i.Peer);
        Assert.All(introduced.GroupBy(i => i.To), g => Assert.Equal(4, g.Count()));
        Assert.Equal(1, registry.DocumentCount);
    }

    [Fact]
    public void Join_OverlappingDocuments_IntroductionCarriesOnlyTheNewlySharedOnes()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        Join(registry, alice, "d1", "d2", "d3");

        var first = Join(registry, bob, "d1", "x");
        var second = Join(registry, bob, "d1", "d2", "d3", "y");

        Assert.Equal(["d1"], Assert.Single(first, e => e.Key == alice).Value);
        Assert.Equal(["d2", "d3"], Assert.Single(second, e => e.Key == alice).Value);
        Assert.Single(second);
    }

    [Fact]
    public void Join_DocumentAlreadyJoined_IntroducesNoOneAgain()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        Join(registry, alice, "doc");
        Assert.Single(Join(registry, bob, "doc"));

        Assert.Empty(Join(registry, bob, "doc"));
        Assert.Empty(Join(registry, alice, "doc"));
    }

    [Fact]
    public void Join_DuplicatesInsideOneJoin_CountOnce()
    {
        var registry = CreateRegistry(maxDocumentsPerPeer: 2);
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        Join(registry, alice, "d1", "d1", "d2", "d1");

        var introductions = Join(registry, bob, "d2", "d2", "d1", "d2");

        Assert.Equal(["d2", "d1"], Assert.Single(introductions).Value);
        Assert.Equal(2, alice.Documents!.Count);
        Assert.Equal(2, registry.DocumentCount);
    }

    [Fact]
    public void Join_AfterLeave_IntroducesAgain()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        Join(registry, alice, "doc");
        Join(registry, bob, "doc");

        registry.Leave(bob, ["doc"]);
        var introductions = Join(registry, bob, "doc");

        Assert.Equal(["doc"], Assert.Single(introductions, e => e.Key == alice).Value);
    }

    [Fact]
    public void Leave_RemovesOnlyTheNamedDocuments()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        var carol = Connect(registry, "carol");
        Join(registry, alice, "d1", "d2");

        registry.Leave(alice, ["d1", "never-joined"]);
        var introductions = Join(registry, carol, "d1", "d2");

        Assert.Equal(["d2"], Assert.Single(introductions, e => e.Key == alice).Value);
        Assert.Equal(["d2"], alice.Documents!);
    }

    [Fact]
    public void Leave_BeforeAnyJoin_ChangesNothing()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");

        registry.Leave(alice, ["doc"]);

        Assert.Equal(0, registry.DocumentCount);
        Assert.Empty(Join(registry, Connect(registry, "bob"), "doc"));
    }

    [Fact]
    public void Register_SamePeerIdAgain_ReturnsTheReplacedSessionStrippedOfItsDocuments()
    {
        var registry = CreateRegistry();
        var old = Connect(registry, "alice");
        Join(registry, old, "doc");

        var fresh = NewSession("alice");
        var replaced = registry.Register(fresh);

        Assert.Same(old, replaced);
        Assert.Empty(old.Documents!);
        Assert.Equal(0, registry.DocumentCount);
        Assert.Equal(1, registry.PeerCount);
        Assert.Empty(Join(registry, Connect(registry, "bob"), "doc"));
    }

    [Fact]
    public void Register_AnOlderSessionAfterANewerOne_LeavesTheNewerInPlace_AndReturnsTheOlder()
    {
        // Two sockets for one peer id: the older request's registration ran after the newer one's.
        var registry = CreateRegistry();
        var older = NewSession("alice");
        var newer = Connect(registry, "alice");
        Join(registry, newer, "doc");

        Assert.Same(older, registry.Register(older));

        Assert.Equal(["doc"], newer.Documents!);
        Assert.Equal(1, registry.DocumentCount);
        Assert.Equal(JoinResult.NotRegistered, registry.Join(older, ["other"], []));
        registry.Unregister(older);
        Assert.Same(newer, Assert.Single(Join(registry, Connect(registry, "bob"), "doc")).Key);
    }

    [Fact]
    public void Unregister_ReplacedSession_LeavesTheNewSessionsRegistrationIntact()
    {
        var registry = CreateRegistry();
        var old = Connect(registry, "alice");
        Join(registry, old, "doc");
        var fresh = NewSession("alice");
        registry.Register(fresh);
        Join(registry, fresh, "doc");

        // The replaced session's socket closes after the new one registered: a 4.x server deleted the
        // new registration here.
        registry.Unregister(old);

        Assert.Equal(1, registry.PeerCount);
        Assert.Equal(1, registry.DocumentCount);
        Assert.Equal(["doc"], fresh.Documents!);
        Assert.Same(fresh, Assert.Single(Join(registry, Connect(registry, "bob"), "doc")).Key);
    }

    [Fact]
    public void Join_ByAReplacedSession_IsRefusedAndChangesNothing()
    {
        var registry = CreateRegistry();
        var old = Connect(registry, "alice");
        registry.Register(NewSession("alice"));
        var introductions = new Dictionary<PeerSession, List<string>>();

        var result = registry.Join(old, ["doc"], introductions);

        Assert.Equal(JoinResult.NotRegistered, result);
        Assert.Empty(introductions);
        Assert.Equal(0, registry.DocumentCount);
    }

    [Fact]
    public void Join_NeverRegisteredSession_IsRefused()
    {
        var registry = CreateRegistry();

        Assert.Equal(JoinResult.NotRegistered, registry.Join(NewSession("ghost"), ["doc"], []));
        Assert.Equal(0, registry.DocumentCount);
    }

    [Fact]
    public void Unregister_RemovesThePeerFromEveryDocument()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        Join(registry, alice, "d1", "d2");

        registry.Unregister(alice);

        Assert.Equal(0, registry.PeerCount);
        Assert.Equal(0, registry.DocumentCount);
        Assert.Empty(Join(registry, Connect(registry, "bob"), "d1", "d2"));
    }

    [Fact]
    public void Join_ExactlyMaxDocumentsPerPeer_IsJoined()
    {
        var registry = CreateRegistry(maxDocumentsPerPeer: 3);
        var alice = Connect(registry, "alice");
        Join(registry, alice, "d1", "d2");

        Join(registry, alice, "d2", "d3");

        Assert.Equal(3, alice.Documents!.Count);
    }

    [Fact]
    public void Join_OverMaxDocumentsPerPeer_ChangesNothing()
    {
        var registry = CreateRegistry(maxDocumentsPerPeer: 3);
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        Join(registry, alice, "d3");
        Join(registry, bob, "d1", "d2");
        var introductions = new Dictionary<PeerSession, List<string>>();

        // d3 alone would fit, and is shared with alice: still nothing of the Join may happen.
        var result = registry.Join(bob, ["d3", "d4"], introductions);

        Assert.Equal(JoinResult.TooManyDocuments, result);
        Assert.Empty(introductions);
        Assert.Equal(["d1", "d2"], bob.Documents!.Order());
        Assert.Equal(3, registry.DocumentCount);
        Assert.Equal(["d3"], Assert.Single(Join(registry, bob, "d3")).Value);
    }

    [Fact]
    public void Join_IntoAFullDocument_ChangesNothing()
    {
        var registry = CreateRegistry(maxPeersPerDocument: 2);
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        var carol = Connect(registry, "carol");
        Join(registry, alice, "full", "open");
        Join(registry, bob, "full");
        var introductions = new Dictionary<PeerSession, List<string>>();

        var result = registry.Join(carol, ["open", "new", "full"], introductions);

        Assert.Equal(JoinResult.DocumentFull, result);
        Assert.Empty(introductions);
        Assert.Empty(carol.Documents!);
        Assert.Equal(2, registry.DocumentCount);
        Assert.Equal(["open"], Assert.Single(Join(registry, carol, "open", "new")).Value);
    }

    [Fact]
    public void Join_DocumentFullButPeerAlreadyIn_IsJoined()
    {
        // Re-joining a full document the peer is already in adds no member, so no limit applies.
        var registry = CreateRegistry(maxPeersPerDocument: 1);
        var alice = Connect(registry, "alice");
        Join(registry, alice, "doc");

        Assert.Empty(Join(registry, alice, "doc"));
    }

    [Fact]
    public void DocumentCount_WhenEveryoneLeavesOrDisconnects_ReturnsToZeroAndSoDoesTheMetric()
    {
        var registry = CreateRegistry();
        var alice = Connect(registry, "alice");
        var bob = Connect(registry, "bob");
        var carol = Connect(registry, "carol");
        Join(registry, alice, "d1", "d2");
        Join(registry, bob, "d2", "d3");
        Join(registry, carol, "d1", "d3", "d4");
        Assert.Equal(4, registry.DocumentCount);
        Assert.Equal(4, _metrics.Sum("relay.documents"));

        registry.Leave(alice, ["d1", "d2"]);
        registry.Unregister(bob);
        registry.Leave(carol, ["d4"]);
        Assert.Equal(2, registry.DocumentCount);
        registry.Unregister(carol);

        Assert.Equal(0, registry.DocumentCount);
        Assert.Equal(1, registry.PeerCount);
        Assert.Equal(0, _metrics.Sum("relay.documents"));
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _sessions.Dispose();
        _metrics.Dispose();
        _services.Dispose();
    }

    private PeerRegistry CreateRegistry(int maxDocumentsPerPeer = 1_000, int maxPeersPerDocument = 0)
    {
        _options.Introduction.MaxDocumentsPerPeer = maxDocumentsPerPeer;
        _options.Introduction.MaxPeersPerDocument = maxPeersPerDocument;
        var registry = new PeerRegistry(_options);
        _relayMetrics = new RelayMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), registry, new PairingBroker(), new Relay.Rooms.RoomRegistry(new RelayOptions()), new Relay.Targeted.TargetedRegistry(new RelayOptions()), new Relay.Sigver.SigverGroups(_options));
        return registry;
    }

    private PeerSession NewSession(string peerId)
    {
        // The registry never touches the socket; a server socket over an empty stream is enough.
        var socket = WebSocket.CreateFromStream(Stream.Null, new WebSocketCreationOptions { IsServer = true });
        _sockets.Add(socket);
        return new PeerSession(peerId, socket, _sessions, _options, _relayMetrics ?? throw new InvalidOperationException("Create the registry first."), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
        {
            Arrival = _sessions.NextArrival(),
        };
    }

    private PeerSession Connect(PeerRegistry registry, string peerId)
    {
        var session = NewSession(peerId);
        Assert.Null(registry.Register(session));
        return session;
    }

    private static Dictionary<PeerSession, List<string>> Join(PeerRegistry registry, PeerSession session, params string[] documentIds)
    {
        var introductions = new Dictionary<PeerSession, List<string>>();
        Assert.Equal(JoinResult.Joined, registry.Join(session, [.. documentIds], introductions));
        return introductions;
    }
}
