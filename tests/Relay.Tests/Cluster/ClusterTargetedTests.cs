using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Relay.Tests.Infrastructure;
using Relay.Tests.Targeted;

namespace Relay.Tests.Cluster;

/// <summary>
/// Targeted signaling across three gateway processes: a registration made on one node holds on every node (the
/// nodes share a Data Protection key ring), a message reaches a target connected on another node, and
/// ALREADY_EXISTS, TARGET_NOT_FOUND and the admin kick behave as on one node.
/// </summary>
[Collection(NonParallelCollection.Name)]
[Trait("Category", "Redis")]
public sealed partial class ClusterTargetedTests
{
    [Fact]
    public async Task RegisteredOnOneNode_ConnectedOnAnother_MessagedFromAThird_AsOnOneNode()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        using var alice = new ClusterUser("alice");
        using var bob = new ClusterUser("bob");

        // alice registers on node 0 and connects on node 1; bob registers and connects on node 2.
        await alice.RegisterAsync(cluster.Nodes[0]);
        await bob.RegisterAsync(cluster.Nodes[2]);
        var aliceSocket = await alice.ConnectAsync(cluster.Nodes[1]);
        var bobSocket = await bob.ConnectAsync(cluster.Nodes[2]);

        // The registration is known on every node: /v1/user says so, a second registration is TAKEN.
        using (var user = await alice.Http.GetAsync(new Uri(cluster.Nodes[2].HttpUri, "/v1/user")))
        {
            Assert.Equal(HttpStatusCode.OK, user.StatusCode);
        }

        using var stranger = new ClusterUser("alice");
        using (var again = await stranger.Http.PostAsJsonAsync(new Uri(cluster.Nodes[1].HttpUri, "/v1/register"), new { username = "alice" }))
        {
            Assert.Equal("""{"status":"TAKEN","message":""}""", await again.Content.ReadAsStringAsync());
        }

        // Messages cross nodes both ways, the payload byte-exact; an unknown target answers TARGET_NOT_FOUND.
        await TargetedUser.SendAsync(aliceSocket, "bob", "offer", """{"sdp":"v=0 1.0","n":[1,2.50]}""");
        Assert.Equal("""{"originator":"alice","target":"bob","type":"offer","payload":{"sdp":"v=0 1.0","n":[1,2.50]}}""", (await bobSocket.ReceiveMessageAsync()).Text);
        await TargetedUser.SendAsync(bobSocket, "alice", "answer", "null");
        Assert.Equal("""{"originator":"bob","target":"alice","type":"answer","payload":null}""", (await aliceSocket.ReceiveMessageAsync()).Text);
        await TargetedUser.SendAsync(aliceSocket, "nobody", "offer", "1");
        Assert.Equal("""{"target":"","type":"TARGET_NOT_FOUND","payload":null}""", (await aliceSocket.ReceiveMessageAsync()).Text);

        // alice connects again on node 2: ALREADY_EXISTS, and the first session is untouched.
        var duplicate = await alice.OpenAsync(cluster.Nodes[2]);
        var (status, description) = await duplicate.ReceiveCloseAsync();
        Assert.Equal((WebSocketCloseStatus)4000, status);
        Assert.Equal("ALREADY_EXISTS", description);
        await TargetedUser.SendAsync(bobSocket, "alice", "still", "2");
        Assert.Equal("""{"originator":"bob","target":"alice","type":"still","payload":2}""", (await aliceSocket.ReceiveMessageAsync()).Text);

        // A kick on node 0 closes the sessions of every node; then alice may connect again anywhere.
        using (var kick = new HttpRequestMessage(HttpMethod.Get, new Uri(cluster.Nodes[0].HttpUri, "/v1/kick-active-users")))
        {
            kick.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayCluster.AdminKey);
            using var response = await cluster.Nodes[0].Http.SendAsync(kick);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        foreach (var kicked in new[] { aliceSocket, bobSocket })
        {
            var (kickStatus, kickDescription) = await kicked.ReceiveCloseAsync();
            Assert.Equal((WebSocketCloseStatus)4000, kickStatus);
            Assert.Equal("KICKED", kickDescription);
        }

        var back = await alice.ConnectAsync(cluster.Nodes[0]);
        var bobBack = await bob.ConnectAsync(cluster.Nodes[1]);
        await TargetedUser.SendAsync(bobBack, "alice", "again", "3");
        Assert.Equal("""{"originator":"bob","target":"alice","type":"again","payload":3}""", (await back.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task KilledNode_ItsSessionsAreForgotten_SoTheirUsersConnectElsewhere()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        using var alice = new ClusterUser("alice");
        using var bob = new ClusterUser("bob");
        await alice.RegisterAsync(cluster.Nodes[0]);
        await bob.RegisterAsync(cluster.Nodes[0]);
        await alice.ConnectAsync(cluster.Nodes[2]);
        var bobSocket = await bob.ConnectAsync(cluster.Nodes[0]);

        await cluster.Nodes[2].KillAsync();

        // Until the dead node's lease has run out alice is still connected there (ALREADY_EXISTS); then she
        // connects on a live node, and messages reach her there.
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        using var deadline = new CancellationTokenSource(TestTimeouts.Default);
        ClientWebSocket aliceSocket;
        while (true)
        {
            var attempt = await alice.OpenAsync(cluster.Nodes[1]);
            await TargetedUser.SendAsync(attempt, "alice", "ready", "0");
            var answer = await attempt.ReceiveMessageAsync();
            if (answer.Type == WebSocketMessageType.Text && answer.Text.Contains("\"originator\"", StringComparison.Ordinal))
            {
                aliceSocket = attempt;
                break;
            }

            if (answer.Type == WebSocketMessageType.Close)
            {
                Assert.Equal("ALREADY_EXISTS", attempt.CloseStatusDescription);
            }

            Assert.False(deadline.IsCancellationRequested, "the dead node's session is forgotten");
            await pace.WaitForNextTickAsync();
        }

        await TargetedUser.SendAsync(bobSocket, "alice", "hello", "1");
        Assert.Equal("""{"originator":"bob","target":"alice","type":"hello","payload":1}""", (await aliceSocket.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task RedisRestartedEmpty_RegistrationsAndSessionsAreResynchronised()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        using var alice = new ClusterUser("alice");
        using var bob = new ClusterUser("bob");
        await alice.RegisterAsync(cluster.Nodes[0]);
        await bob.RegisterAsync(cluster.Nodes[2]);
        var aliceSocket = await alice.ConnectAsync(cluster.Nodes[1]);
        var bobSocket = await bob.ConnectAsync(cluster.Nodes[2]);
        var resyncsBefore = cluster.Nodes.Select(node => CompleteResyncs(node.Output)).ToArray();

        await cluster.Redis.KillAsync();
        foreach (var node in cluster.Nodes)
        {
            await node.UntilHealthAsync("Degraded");
        }

        // Degraded, not refusing: carol registers and connects on bob's node, and bob reaches her there.
        using var carol = new ClusterUser("carol");
        await carol.RegisterAsync(cluster.Nodes[2]);
        var carolSocket = await carol.ConnectAsync(cluster.Nodes[2]);
        await TargetedUser.SendAsync(bobSocket, "carol", "local", "1");
        Assert.Equal("""{"originator":"bob","target":"carol","type":"local","payload":1}""", (await carolSocket.ReceiveMessageAsync()).Text);

        await cluster.Redis.StartAgainAsync();
        for (var i = 0; i < cluster.Nodes.Length; i++)
        {
            var node = cluster.Nodes[i];
            var before = resyncsBefore[i];
            await node.UntilHealthAsync("Healthy");
            await Eventually.TrueAsync(() => CompleteResyncs(node.Output) > before, $"node {i} re-publishes its registrations and sessions");
        }

        // Redis came back empty and was refilled: messages cross nodes again, carol's registration (made during
        // the outage) holds on every node, and alice still has one session in the whole cluster.
        await TargetedUser.SendAsync(bobSocket, "alice", "back", "2");
        Assert.Equal("""{"originator":"bob","target":"alice","type":"back","payload":2}""", (await aliceSocket.ReceiveMessageAsync()).Text);
        await TargetedUser.SendAsync(aliceSocket, "carol", "hello", "3");
        Assert.Equal("""{"originator":"alice","target":"carol","type":"hello","payload":3}""", (await carolSocket.ReceiveMessageAsync()).Text);
        using (var user = await carol.Http.GetAsync(new Uri(cluster.Nodes[0].HttpUri, "/v1/user")))
        {
            Assert.Equal(HttpStatusCode.OK, user.StatusCode);
        }

        var duplicate = await alice.OpenAsync(cluster.Nodes[0]);
        var (status, description) = await duplicate.ReceiveCloseAsync();
        Assert.Equal((WebSocketCloseStatus)4000, status);
        Assert.Equal("ALREADY_EXISTS", description);
    }

    private static int CompleteResyncs(string output) => CompleteResync().Count(output);

    [GeneratedRegex(@"Re-published \d+ targeted registrations and their sessions to Redis \(complete: True\)")]
    private static partial Regex CompleteResync();

    /// <summary>A browser-like client whose one cookie jar serves every node (cookies ignore the port).</summary>
    private sealed class ClusterUser : IDisposable
    {
        private readonly List<ClientWebSocket> _sockets = [];
        private readonly string _username;

        public ClusterUser(string username)
        {
            _username = username;
            Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies }) { Timeout = TestTimeouts.Default };
        }

        public CookieContainer Cookies { get; } = new();

        public HttpClient Http { get; }

        public async Task RegisterAsync(GatewayNode node)
        {
            using var response = await Http.PostAsJsonAsync(new Uri(node.HttpUri, "/v1/register"), new { username = _username });
            Assert.Equal("""{"status":"SUCCESS","message":""}""", await response.Content.ReadAsStringAsync());
        }

        /// <summary>Opens <c>/v1/connect</c> on a node with this user's cookies.</summary>
        public async Task<ClientWebSocket> OpenAsync(GatewayNode node)
        {
            var socket = new ClientWebSocket();
            socket.Options.Cookies = Cookies;
            using var timeout = new CancellationTokenSource(TestTimeouts.Default);
            await socket.ConnectAsync(new Uri(node.WebSocketUri, "/v1/connect"), timeout.Token);
            _sockets.Add(socket);
            return socket;
        }

        /// <summary>Connects and waits until the session is filed: a message to itself comes back instead of TARGET_NOT_FOUND.</summary>
        public async Task<ClientWebSocket> ConnectAsync(GatewayNode node)
        {
            var socket = await OpenAsync(node);
            using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            while (true)
            {
                await TargetedUser.SendAsync(socket, _username, "ready", "0");
                var answer = await socket.ReceiveMessageAsync();
                Assert.Equal(WebSocketMessageType.Text, answer.Type);
                if (answer.Text.Contains("\"originator\"", StringComparison.Ordinal))
                {
                    return socket;
                }

                await pace.WaitForNextTickAsync();
            }
        }

        public void Dispose()
        {
            foreach (var socket in _sockets)
            {
                socket.Abort();
                socket.Dispose();
            }

            Http.Dispose();
        }
    }
}
