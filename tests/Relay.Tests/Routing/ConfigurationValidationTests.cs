using Relay.Tests.Infrastructure;

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
}
