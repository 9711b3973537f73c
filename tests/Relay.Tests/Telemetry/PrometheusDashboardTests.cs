using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Relay.Tests.Cluster;
using Relay.Tests.Infrastructure;
using Relay.Tests.Targeted;
using Relay.Tests.Sigver;

namespace Relay.Tests.Telemetry;

/// <summary>
/// Keeps the Grafana dashboard honest: a real Prometheus scrapes the real gateway under load, and every
/// PromQL expression in <c>grafana/dashboards/relay.json</c> (variables substituted as Grafana would)
/// must return data. Also runs <c>promtool check metrics</c> on the scrape.
/// </summary>
[Trait("Category", "Prometheus")]
public sealed partial class PrometheusDashboardTests
{
    /// <summary>What the test substitutes for Grafana's built-in interval variables.</summary>
    private static readonly Dictionary<string, string> BuiltIns = new(StringComparer.Ordinal)
    {
        ["__rate_interval"] = "1m",
        ["__interval"] = "15s",
        ["__range"] = "5m",
    };

    /// <summary>
    /// A pending timeout short enough that the load's lonely request expires soon, and long enough that a
    /// busy machine pairs the live halves in time.
    /// </summary>
    private static readonly Dictionary<string, string?> LoadSettings = new() { ["Relay:Connection:PendingTimeout"] = "00:00:01" };

    private static Dictionary<string, string?> ClusterNodeSettings(RedisServer redis) =>
        new(LoadSettings) { ["Relay:Cluster:Redis"] = redis.Configuration, ["Relay:Cluster:LeaseInterval"] = "00:00:00.250" };

    [Fact]
    public async Task Dashboard_EveryExpression_ReturnsDataFromARealPrometheusScrapingTheGatewayUnderLoad()
    {
        PrometheusServer.Locate();
        var dashboard = Dashboard.Load();

        // A cluster node (of a cluster of one) on a real redis-server, so the cluster row has series too.
        await using var redis = await RedisServer.StartAsync();
        await using var gateway = await TestGateway.StartAsync(ClusterNodeSettings(redis));
        await using var load = await Load.StartAsync(gateway);
        await using var prometheus = await PrometheusServer.StartAsync(gateway.HttpUri);

        // Enough scrapes, all after the load began, for rate() over any window the dashboard uses.
        await prometheus.UntilAsync(
            async () => (await prometheus.QueryAsync($"count_over_time(up{{job=\"{PrometheusServer.Job}\"}}[1m]) >= 5 and up == 1")).GetArrayLength() == 1,
            "Prometheus has scraped the gateway five times");

        var values = new Dictionary<string, string>(BuiltIns, StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var variable in dashboard.QueryVariables)
        {
            var query = LabelValuesQuery().Match(variable.Query);
            Assert.True(query.Success, $"Variable {variable.Name}: '{variable.Query}' is not label_values(selector, label).");
            var selector = Substitute(query.Groups["selector"].Value, values);
            var found = await prometheus.LabelValuesAsync(query.Groups["label"].Value, selector);
            if (found.Length == 0)
            {
                failures.Add($"variable ${variable.Name}: label_values({selector}, {query.Groups["label"].Value}) is empty");
                continue;
            }

            // As Grafana interpolates into =~ matchers: regex-escaped, several values as an alternation.
            values[variable.Name] = variable.Multi
                ? "(" + string.Join('|', found.Select(EscapeForRegexMatcher)) + ")"
                : EscapeForRegexMatcher(found[0]);
        }

        foreach (var (panel, expression) in dashboard.Expressions)
        {
            var query = Substitute(expression, values);
            Assert.DoesNotContain("$", query, StringComparison.Ordinal);
            var result = await prometheus.QueryAsync(query);
            if (result.GetArrayLength() == 0)
            {
                failures.Add($"{panel}: {query}");
            }
        }

        Assert.True(dashboard.Expressions.Count >= 20, $"Only {dashboard.Expressions.Count} expressions found in the dashboard.");
        Assert.True(failures.Count == 0, $"{failures.Count} of {dashboard.Expressions.Count} dashboard expressions returned no data:\n" + string.Join('\n', failures));
    }

    [Fact]
    public async Task Scrape_PassesPromtool_WithNoProblemInRelayFamilies()
    {
        var promtool = PrometheusServer.Locate("promtool");
        await using var redis = await RedisServer.StartAsync();
        await using var gateway = await TestGateway.StartAsync(ClusterNodeSettings(redis));
        await using var load = await Load.StartAsync(gateway);
        var scrape = await Scrape.FromAsync(gateway);

        var start = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(scrape.Text);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        var report = (await output) + (await errors);

        // Exit 0 is clean; 3 means lint findings only. Parse errors (1) fail. The built-in .NET meters
        // draw naming lints (dotnet_assembly_count "should not have _count suffix"); the relay's must not.
        Assert.True(process.ExitCode is 0 or 3, $"promtool exited {process.ExitCode}:\n{report}");
        Assert.DoesNotContain("error", report, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("relay_", report, StringComparison.Ordinal);
        Assert.True(scrape.Samples.Count > 100, "The scrape under load holds relay, HTTP, Kestrel and runtime series.");
    }

    private static string Substitute(string expression, IReadOnlyDictionary<string, string> values) =>
        GrafanaVariable().Replace(expression, match =>
        {
            var name = match.Groups["braced"].Success ? match.Groups["braced"].Value : match.Groups["plain"].Value;
            return values.TryGetValue(name, out var value) ? value : match.Value;
        });

    /// <summary>Regex metacharacters escaped, then backslashes doubled for the PromQL string literal.</summary>
    private static string EscapeForRegexMatcher(string value) => Regex.Escape(value).Replace("\\", "\\\\", StringComparison.Ordinal);

    [GeneratedRegex(@"\$\{(?<braced>[a-zA-Z_][a-zA-Z0-9_]*)(:[a-z]+)?\}|\$(?<plain>[a-zA-Z_][a-zA-Z0-9_]*)")]
    private static partial Regex GrafanaVariable();

    [GeneratedRegex(@"^label_values\((?<selector>.+),\s*(?<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)$")]
    private static partial Regex LabelValuesQuery();

    /// <summary>The dashboard's PromQL: every target's <c>expr</c> (rows included) and its query variables.</summary>
    private sealed record Dashboard(List<(string Panel, string Expression)> Expressions, List<(string Name, string Query, bool Multi)> QueryVariables)
    {
        public static Dashboard Load()
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Relay.sln")))
            {
                directory = directory.Parent;
            }

            Assert.NotNull(directory);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "grafana", "dashboards", "relay.json")));
            var expressions = new List<(string, string)>();
            Collect(json.RootElement.GetProperty("panels"), expressions);
            var variables = json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
                .Where(v => v.GetProperty("type").GetString() == "query")
                .Select(v => (v.GetProperty("name").GetString()!, QueryText(v.GetProperty("query")), v.TryGetProperty("multi", out var multi) && multi.GetBoolean()))
                .ToList();
            return new Dashboard(expressions, variables);
        }

        private static void Collect(JsonElement panels, List<(string, string)> expressions)
        {
            foreach (var panel in panels.EnumerateArray())
            {
                if (panel.TryGetProperty("targets", out var targets))
                {
                    foreach (var target in targets.EnumerateArray())
                    {
                        if (target.TryGetProperty("expr", out var expr))
                        {
                            expressions.Add((panel.GetProperty("title").GetString()!, expr.GetString()!));
                        }
                    }
                }

                if (panel.TryGetProperty("panels", out var nested))
                {
                    Collect(nested, expressions);
                }
            }
        }

        private static string QueryText(JsonElement query) =>
            query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!;
    }

    /// <summary>
    /// Traffic of every kind the dashboard shows: introduction peers sharing documents, piped pairs with
    /// held and live frames, a completed and an expired wait, refusals, malformed messages, a room shared
    /// by a raw and a SockJS socket (connect, broadcast, ping, a bad packet), targeted signaling users
    /// with delivered, unroutable and refused traffic, and a sigver group with a bound joiner and a sigver
    /// close. Some peers, the room, one pairing, two targeted users and the sigver pair stay connected (and
    /// keep sending) until disposed, so the gauges are not all zero.
    /// </summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly List<ClientWebSocket> _open = [];
        private readonly List<TargetedUser> _users = [];
        private readonly List<SigverClient> _sigver = [];
        private readonly CancellationTokenSource _stop = new();
        private Task _chatter = Task.CompletedTask;

        public static async Task<Load> StartAsync(TestGateway gateway)
        {
            var load = new Load();
            for (var i = 0; i < 4; i++)
            {
                var peer = await gateway.ConnectAsync($"/introduction/peer{i}");
                await peer.SendBinaryAsync(MsgPack.Join("shared", $"own-{i}"));
                load._open.Add(peer);
            }

            // The last peer is introduced to each of the three others, whatever order the Joins land in.
            await load._open[0].SendBinaryAsync([0xc1]);
            for (var i = 0; i < 3; i++)
            {
                await load._open[3].ReceiveMessageAsync();
            }

            for (var i = 0; i < 3; i++)
            {
                using var a = await gateway.ConnectAsync($"/connection/a{i}/b{i}/doc");
                await a.SendBinaryAsync(new byte[100 * (i + 1)]);
                using var b = await gateway.ConnectAsync($"/connection/b{i}/a{i}/doc");
                await b.ReceiveMessageAsync();
                await b.SendTextAsync("hello");
                await a.ReceiveMessageAsync();
                var closing = a.CloseQuietlyAsync();
                await b.ReceiveCloseAsync();
                await b.CloseQuietlyAsync();
                await closing;
            }

            using (var expires = await gateway.ConnectAsync("/connection/lonely/nobody/doc"))
            {
                await expires.ReceiveCloseAsync();
                await expires.CloseQuietlyAsync();
            }

            using (await gateway.Http.GetAsync("/introduction/not-a-socket"))
            {
            }

            await Assert.ThrowsAsync<WebSocketException>(() => gateway.ConnectAsync($"/introduction/{new string('x', 300)}"));

            var raw = await Rooms.RoomClient.ConnectAsync(gateway, sockJs: false);
            var sockJs = await Rooms.RoomClient.ConnectAsync(gateway, sockJs: true);
            load._open.Add(raw.Socket);
            load._open.Add(sockJs.Socket);
            await raw.SendPacketAsync("connect", "raw", "room");
            await raw.ReceivePacketAsync();
            await sockJs.SendPacketAsync("connect", "sockjs", "room");
            await sockJs.ReceivePacketAsync();
            await raw.ReceivePacketAsync();
            await sockJs.SendAsync("not json");
            await sockJs.SendPacketAsync("broadcast", "sockjs", "room", new { Type = "Ice Offer" });
            await sockJs.ReceivePacketAsync();
            await raw.ReceivePacketAsync();
            await raw.SendPacketAsync("ping", "raw", "room");
            await raw.ReceivePacketAsync();

            var ann = await TargetedUser.RegisterAndConnectAsync(gateway, "ann");
            var ben = await TargetedUser.RegisterAndConnectAsync(gateway, "ben");
            load._users.AddRange([ann, ben]);
            load._open.AddRange([ann.Socket, ben.Socket]);
            await TargetedUser.SendAsync(ann.Socket, "nobody", "offer", "{}");
            await ann.Socket.ReceiveMessageAsync();
            using (var refused = await gateway.ConnectAsync("/v1/connect"))
            {
                await refused.ReceiveCloseAsync();
                await refused.CloseQuietlyAsync();
            }

            // Both halves at once and a round trip before the chatter begins: one after the other, a busy
            // machine can let the first wait past the short pending timeout, and the pairing never forms.
            var halves = await Task.WhenAll(
                gateway.ConnectAsync("/connection/left/right/live"),
                gateway.ConnectAsync("/connection/right/left/live"));
            var (left, right) = (halves[0], halves[1]);
            load._open.Add(left);
            load._open.Add(right);
            await left.SendTextAsync("paired?");
            Assert.Equal("paired?", (await right.ReceiveMessageAsync()).Text);
            // Sigver: a member and a bound joiner that stay, and a peer the relay closes (4001: no key).
            var (member, _) = await SigverClient.JoinAsync(gateway, "dashboard");
            var (joiner, _) = await SigverClient.JoinAsync(gateway, "dashboard");
            load._sigver.Add(member);
            load._sigver.Add(joiner);
            await joiner.SendDataAsync(0, [1, 2, 3]);
            var joinerId = await member.ExpectDataAsync([1, 2, 3]);
            await using (var keyless = await SigverClient.ConnectAsync(gateway, "/sigver/"))
            {
                Assert.Equal(RelayCloseCodes.SigverInvalidKey, await keyless.ExpectCloseAsync());
            }

            load._chatter = load.ChatterAsync(left, right, ann.Socket, ben.Socket, member, joiner, joinerId);
            return load;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _chatter;
            foreach (var socket in _open.Concat(_sigver.Select(peer => peer.Socket)))
            {
                socket.Abort();
                socket.Dispose();
            }

            foreach (var user in _users)
            {
                await user.DisposeAsync();
            }

            _stop.Dispose();
        }

        /// <summary>
        /// A message each way every 100 ms on the pipe and through the sigver pair (whose heartbeats keep it open),
        /// and a targeted one, so rates over the scrape window are not zero.
        /// </summary>
        private async Task ChatterAsync(WebSocket left, WebSocket right, WebSocket signaler, WebSocket signaled, SigverClient member, SigverClient joiner, uint joinerId)
        {
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            try
            {
                while (await tick.WaitForNextTickAsync(_stop.Token))
                {
                    await left.SendBinaryAsync(new byte[512]);
                    await right.ReceiveMessageAsync(_stop.Token);
                    await right.SendTextAsync("ack");
                    await left.ReceiveMessageAsync(_stop.Token);
                    await TargetedUser.SendAsync(signaler, "ben", "candidate", "{}");
                    await signaled.ReceiveMessageAsync(_stop.Token);
                    await member.SendHeartbeatAsync();
                    await joiner.SendHeartbeatAsync();
                    await joiner.SendDataAsync(0, new byte[64]);
                    await member.ExpectDataAsync(joinerId, new byte[64]);
                    await member.SendDataAsync(joinerId, new byte[32]);
                    await joiner.ExpectDataAsync(0, new byte[32]);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
