using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Relay.Connection;
using Relay.Introduction;
using Relay.Lifetime;
using Relay.Rooms;
using Relay.Sigver;
using Relay.Targeted;
using Relay.Telemetry;

namespace Relay.Tests.Connection;

/// <summary>
/// The broker's matching of requests by key: a reciprocal request takes the waiting pairing, and of two requests
/// with one key the one whose handshake was answered later wins, whichever reaches the broker first.
/// </summary>
public sealed class PairingBrokerTests : IDisposable
{
    private static readonly PairingKey Key = new("alice", "bob", "doc");

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().AddSingleton(new RelayOptions())
        .AddSingleton<PeerRegistry>().AddSingleton<PairingBroker>().AddSingleton<IRoomRegistry, RoomRegistry>()
        .AddSingleton<ITargetedRegistry, TargetedRegistry>().AddSingleton<ISigverGroups, SigverGroups>()
        .AddSingleton<RelayMetrics>().BuildServiceProvider();

    private readonly PairingBroker _broker;
    private readonly RelaySessions _sessions;
    private readonly PairingServices _pairingServices;
    private readonly List<WebSocket> _sockets = [];

    public PairingBrokerTests()
    {
        var options = _services.GetRequiredService<RelayOptions>();
        _broker = _services.GetRequiredService<PairingBroker>();
        _sessions = new RelaySessions(options, TimeProvider.System, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<RelaySessions>.Instance);
        _pairingServices = new PairingServices(_broker, _sessions, new PipeBuffers(options), _services.GetRequiredService<RelayMetrics>(), options, NullLogger.Instance);
    }

    [Fact]
    public void Arrive_ANewerRequestForTheSameKey_ReplacesTheWaitingOne()
    {
        var older = Request(Key, _sessions.NextArrival());
        var newer = Request(Key, _sessions.NextArrival());

        Assert.Null(_broker.Arrive(older, out var none));
        Assert.Null(none);
        Assert.Null(_broker.Arrive(newer, out var replaced));

        Assert.Same(older, replaced);
        Assert.Same(newer, _broker.Arrive(Request(Key.Reciprocal, _sessions.NextArrival()), out _));
    }

    [Fact]
    public void Arrive_AnOlderRequestAfterANewerOne_IsItselfTheReplaced_AndTheNewerKeepsWaiting()
    {
        // The older request's handshake was answered first, but it reached the broker after the newer one.
        var olderArrival = _sessions.NextArrival();
        var newer = Request(Key, _sessions.NextArrival());
        var older = Request(Key, olderArrival);

        Assert.Null(_broker.Arrive(newer, out _));
        Assert.Null(_broker.Arrive(older, out var replaced));

        Assert.Same(older, replaced);
        Assert.Equal(1, _broker.PendingCount);
        Assert.False(_broker.TryRemove(older));
        Assert.Same(newer, _broker.Arrive(Request(Key.Reciprocal, _sessions.NextArrival()), out _));
    }

    [Fact]
    public void Key_FormatsAsText()
    {
        // The generated record formatting recursed through Reciprocal until the stack overflowed.
        Assert.Equal("alice -> bob on doc", Key.ToString());
        Assert.Equal("bob -> alice on doc", $"{Key.Reciprocal}");
    }

    private Pairing Request(PairingKey key, long arrival)
    {
        var socket = WebSocket.CreateFromStream(new MemoryStream(), new WebSocketCreationOptions { IsServer = true });
        _sockets.Add(socket);
        return new Pairing(key, new ConnectionHalf(socket, null, _pairingServices), _pairingServices, arrival);
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _sessions.Dispose();
        _services.Dispose();
    }
}
