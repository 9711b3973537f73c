using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Relay.Tests.Infrastructure;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;

namespace Relay.Tests.Routing;

/// <summary>Bad relay configuration fails start-up, with every error listed.</summary>
public sealed class ConfigurationValidationTests
{
    [Fact]
    public async Task BadRelayRoutes_FailStartup_ListingEveryError()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:unknown-role:Match:Path"] = "/x/{peerId}",
            ["ReverseProxy:Routes:unknown-role:Metadata:Relay"] = "Introductions",
            ["ReverseProxy:Routes:missing-values:Match:Path"] = "/c/{localPeerId}/{documentId}",
            ["ReverseProxy:Routes:missing-values:Metadata:Relay"] = "Connection",
            ["ReverseProxy:Routes:with-cluster:ClusterId"] = "backend",
            ["ReverseProxy:Routes:with-cluster:Match:Path"] = "/i/{peerId}",
            ["ReverseProxy:Routes:with-cluster:Metadata:Relay"] = "Introduction",
        }));

        var text = error.ToString();
        Assert.Contains("Relay route 'unknown-role' is invalid: Metadata 'Relay' is 'Introductions'", text, StringComparison.Ordinal);
        Assert.Contains("Relay route 'missing-values' is invalid: Its Match.Path '/c/{localPeerId}/{documentId}' lacks the route value '{remotePeerId}'", text, StringComparison.Ordinal);
        Assert.Contains("Relay route 'with-cluster' is invalid: It names cluster 'backend'", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadRelayOptions_FailStartup_ListingEveryError()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:MaxIdLength"] = "0",
            ["Relay:IdPattern"] = "([a-z]",
            ["Relay:Connection:BufferSize"] = "1",
            ["Relay:Introduction:MaxDocumentsPerPeer"] = "0",
        }));

        var text = error.ToString();
        Assert.Contains("Relay:MaxIdLength must be at least 1", text, StringComparison.Ordinal);
        Assert.Contains("Relay:IdPattern is not a usable regular expression", text, StringComparison.Ordinal);
        Assert.Contains("Relay:Connection:BufferSize must be between 256 and 16777216", text, StringComparison.Ordinal);
        Assert.Contains("Relay:Introduction:MaxDocumentsPerPeer must be at least 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MisspeltRelaySetting_FailsStartup()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Connection:PendingTimeOut2"] = "00:00:10",
        }));

        Assert.Contains("PendingTimeOut2", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadRelayRoute_OnReload_IsRejectedWhole_AndTheOldConfigurationKeepsServing()
    {
        var memory = new InMemoryConfigProvider([Introduction("memory", "/memory/{peerId}")], []);
        await using var gateway = await TestGateway.StartAsync(configure: builder => builder.Services.AddSingleton<IProxyConfigProvider>(memory));
        using (await gateway.ConnectAsync("/memory/alice"))
        {
        }

        memory.Update(
            [Introduction("memory", "/moved/{peerId}"), Introduction("broken", "/broken/{peer}")],
            []);

        await Eventually.TrueAsync(
            () => gateway.Logs.Entries.Any(e => e.Level == LogLevel.Error && e.Exception?.ToString().Contains("Relay route 'broken' is invalid", StringComparison.Ordinal) == true),
            "the reload is rejected with the relay route's error");
        Assert.Contains(gateway.GetService<IProxyStateLookup>().GetRoutes(), r => r.Config.RouteId == "memory" && r.Config.Match.Path == "/memory/{peerId}");
        Assert.DoesNotContain(gateway.GetService<IProxyStateLookup>().GetRoutes(), r => r.Config.RouteId == "broken");
        using (await gateway.ConnectAsync("/memory/bob"))
        {
        }

        using var moved = await gateway.Http.GetAsync("/moved/carol");
        Assert.Equal(HttpStatusCode.NotFound, moved.StatusCode);
    }

    private static RouteConfig Introduction(string id, string path) => new()
    {
        RouteId = id,
        Match = new RouteMatch { Path = path },
        Metadata = new Dictionary<string, string> { [Relay.Configuration.RelayRoutes.MetadataKey] = "Introduction" },
    };
}
