using Relay.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace Relay.Tests.Configuration;

public sealed class RelayRouteConfigFilterTests
{
    [Theory]
    [InlineData("Introduction", "/introduction/{peerId}")]
    [InlineData("introduction", "/peers/{peerId}/socket")]
    [InlineData("Connection", "/connection/{localPeerId}/{remotePeerId}/{documentId}")]
    [InlineData("CONNECTION", "/c/{documentId}/{remotePeerId}/{localPeerId}")]
    [InlineData("Introduction", "/introduction/{**peerId}")]
    public void Validate_WellFormedRelayRoute_HasNoErrors(string role, string path) =>
        Assert.Empty(RelayRouteConfigFilter.Validate(Route(path), role));

    [Theory]
    [InlineData("Pipe")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("None")]
    public void Validate_UnknownRole_IsReported(string? role)
    {
        var error = Assert.Single(RelayRouteConfigFilter.Validate(Route("/introduction/{peerId}"), role));

        Assert.Contains("expected 'Introduction' or 'Connection'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ClusterId_IsReported()
    {
        var route = Route("/introduction/{peerId}") with { ClusterId = "backend" };

        var error = Assert.Single(RelayRouteConfigFilter.Validate(route, "Introduction"));

        Assert.Contains("'backend'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Validate_NoMatchPath_IsReported(string? path)
    {
        var error = Assert.Single(RelayRouteConfigFilter.Validate(Route(path), "Connection"));

        Assert.Contains("no Match.Path", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NoMatchAtAll_IsReportedLikeAMissingPath()
    {
        // Code-first configuration can leave Match unset; YARP's own validator runs after the filters.
        var route = new RouteConfig { RouteId = "relay" };

        var error = Assert.Single(RelayRouteConfigFilter.Validate(route, "Introduction"));

        Assert.Contains("no Match.Path", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/introduction/{peerId")]
    [InlineData("/introduction/{peerId}/{peerId}")]
    [InlineData("/introduction/{*peerId}/more")]
    [InlineData("/introduction/{}")]
    public void Validate_InvalidTemplate_IsReported(string path)
    {
        var error = Assert.Single(RelayRouteConfigFilter.Validate(Route(path), "Introduction"));

        Assert.Contains("not a valid route template", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/introduction/{id}", "Introduction", "peerId")]
    [InlineData("/introduction", "Introduction", "peerId")]
    [InlineData("/connection/{remotePeerId}/{documentId}", "Connection", "localPeerId")]
    [InlineData("/connection/{localPeerId}/{documentId}", "Connection", "remotePeerId")]
    [InlineData("/connection/{localPeerId}/{remotePeerId}", "Connection", "documentId")]
    [InlineData("/connection/{peerId}", "Connection", "localPeerId")]
    public void Validate_EachMissingRouteValue_IsReported(string path, string role, string missing)
    {
        var errors = RelayRouteConfigFilter.Validate(Route(path), role);

        Assert.Contains(errors, e => e.Contains($"'{{{missing}}}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_ConnectionWithNoRouteValues_ReportsAllThree()
    {
        var errors = RelayRouteConfigFilter.Validate(Route("/connection"), "Connection");

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("'{localPeerId}'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'{remotePeerId}'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'{documentId}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_UnknownRoleClusterAndNoPath_ReportsEveryError()
    {
        var route = Route(null) with { ClusterId = "backend" };

        var errors = RelayRouteConfigFilter.Validate(route, "Pipe");

        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Validate_ClusterAndInvalidTemplate_ReportsBoth()
    {
        var route = Route("/introduction/{peerId") with { ClusterId = "backend" };

        Assert.Equal(2, RelayRouteConfigFilter.Validate(route, "Introduction").Count);
    }

    [Fact]
    public void Validate_ClusterAndMissingRouteValues_ReportsAll()
    {
        var route = Route("/connection/{documentId}") with { ClusterId = "backend" };

        Assert.Equal(3, RelayRouteConfigFilter.Validate(route, "Connection").Count);
    }

    [Fact]
    public async Task ConfigureRouteAsync_RouteWithoutRelayMetadata_PassesThroughUntouched()
    {
        var filter = new RelayRouteConfigFilter();
        var route = new RouteConfig
        {
            RouteId = "api",
            ClusterId = "backend",
            Match = new RouteMatch { Path = "/api/{**rest}" },
            Metadata = new Dictionary<string, string> { ["Other"] = "x" },
        };

        var withoutMetadata = route with { Metadata = null };

        Assert.Same(route, await filter.ConfigureRouteAsync(route, null, CancellationToken.None));
        Assert.Same(withoutMetadata, await filter.ConfigureRouteAsync(withoutMetadata, null, CancellationToken.None));
    }

    [Fact]
    public async Task ConfigureRouteAsync_ValidRelayRoute_IsReturned()
    {
        var route = Route("/introduction/{peerId}", "Introduction");

        Assert.Same(route, await new RelayRouteConfigFilter().ConfigureRouteAsync(route, null, CancellationToken.None));
    }

    [Fact]
    public async Task ConfigureRouteAsync_InvalidRelayRoute_ThrowsWithEveryErrorAndTheRouteId()
    {
        var route = Route("/connection", "Connection") with { ClusterId = "backend" };

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await new RelayRouteConfigFilter().ConfigureRouteAsync(route, null, CancellationToken.None));

        Assert.Contains("'relay'", ex.Message, StringComparison.Ordinal);
        foreach (var fragment in (string[])["'backend'", "'{localPeerId}'", "'{remotePeerId}'", "'{documentId}'"])
        {
            Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        }
    }

    private static RouteConfig Route(string? path, string? role = null) => new()
    {
        RouteId = "relay",
        Match = new RouteMatch { Path = path },
        Metadata = role is null ? null : new Dictionary<string, string> { [RelayRoutes.MetadataKey] = role },
    };
}
