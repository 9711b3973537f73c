using System.Net;
using Microsoft.Extensions.Options;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Gateway;

/// <summary>
/// <c>Gateway:ForwardedHeaders</c>: behind a balancer every socket comes from one address, so the per-client
/// admission cap must count the client named by a trusted proxy's <c>X-Forwarded-For</c>, and nobody else's.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static Dictionary<string, string?> OneSocketPerClient(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?> { ["Relay:Admission:MaxConcurrentSocketsPerClient"] = "1" };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static Action<System.Net.WebSockets.ClientWebSocketOptions> From(string client) =>
        options => options.SetRequestHeader("X-Forwarded-For", client);

    [Theory]
    [InlineData("Gateway:ForwardedHeaders:KnownProxies:0", "127.0.0.1")]
    [InlineData("Gateway:ForwardedHeaders:KnownNetworks:0", "127.0.0.0/8")]
    public async Task FromATrustedProxy_EachForwardedClientHasItsOwnCap(string key, string value)
    {
        await using var gateway = await TestGateway.StartAsync(OneSocketPerClient((key, value)));

        using var ann = await gateway.ConnectAsync("/introduction/ann", From("10.0.0.1"));
        using var ben = await gateway.ConnectAsync("/introduction/ben", From("10.0.0.2"));
        var (status, _) = await gateway.RefusedHandshakeAsync("/introduction/ann2", From("10.0.0.1"));

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        await ann.CloseQuietlyAsync();
        await ben.CloseQuietlyAsync();
    }

    [Fact]
    public async Task ByDefault_ForwardedHeadersAreIgnored_AndTheConnectionsAddressCounts()
    {
        await using var gateway = await TestGateway.StartAsync(OneSocketPerClient());

        using var ann = await gateway.ConnectAsync("/introduction/ann", From("10.0.0.1"));
        var (status, _) = await gateway.RefusedHandshakeAsync("/introduction/ben", From("10.0.0.2"));

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        await ann.CloseQuietlyAsync();
    }

    [Fact]
    public async Task FromAnUntrustedAddress_ForwardedHeadersAreIgnored()
    {
        await using var gateway = await TestGateway.StartAsync(OneSocketPerClient(("Gateway:ForwardedHeaders:KnownProxies:0", "10.9.9.9")));

        using var ann = await gateway.ConnectAsync("/introduction/ann", From("10.0.0.1"));
        var (status, _) = await gateway.RefusedHandshakeAsync("/introduction/ben", From("10.0.0.2"));

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        await ann.CloseQuietlyAsync();
    }

    [Fact]
    public async Task InvalidEntries_FailStartUp_NamingEach()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:ForwardedHeaders:KnownProxies:0"] = "balancer.internal",
            ["Gateway:ForwardedHeaders:KnownNetworks:0"] = "10.0.0.0",
        }));

        Assert.Contains(error.Failures, f => f.Contains("'balancer.internal' is not an IP address", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("'10.0.0.0' is not a network in CIDR notation", StringComparison.Ordinal));
    }
}
