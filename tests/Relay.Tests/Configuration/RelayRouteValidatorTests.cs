using Relay.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace Relay.Tests.Configuration;

public sealed class RelayRouteValidatorTests
{
    [Theory]
    [InlineData("Introduction", "/introduction/{peerId}")]
    [InlineData("introduction", "/peers/{peerId}/socket")]
    [InlineData("Connection", "/connection/{localPeerId}/{remotePeerId}/{documentId}")]
    [InlineData("CONNECTION", "/c/{documentId}/{remotePeerId}/{localPeerId}")]
    [InlineData("Introduction", "/introduction/{**peerId}")]
    [InlineData("Rooms", "/echo/{**rest}")]
    [InlineData("rooms", "/signal/videre/{*rest}")]
    [InlineData("TargetedRegister", "/v1/register")]
    [InlineData("targeteduser", "/signal/v1/user")]
    [InlineData("TargetedConnect", "/v1/connect")]
    [InlineData("TargetedKick", "/admin/kick")]
    [InlineData("TargetedHealth", "/healthcheck")]
    [InlineData("Sigver", "/sigver/{**key}")]
    [InlineData("sigver", "/{**key}")]
    [InlineData("Sigver", "/t/{tenant}/{*key}")]
    public void Validate_WellFormedRelayRoute_HasNoErrors(string role, string path) =>
        Assert.Empty(RelayRouteValidator.Validate(Route(path), role));

    [Theory]
    [InlineData("Pipe")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("None")]
    [InlineData("Targeted")]
    [InlineData("2")]
    public void Validate_UnknownRole_IsReported(string? role)
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route("/introduction/{peerId}"), role));

        Assert.Contains("expected one of 'Introduction', 'Connection', 'Rooms', 'TargetedRegister', 'TargetedUser', 'TargetedConnect', 'TargetedKick', 'TargetedHealth', 'Sigver'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/sigver/{key}")]
    [InlineData("/sigver/{key}/end")]
    public void Validate_SigverKeyThatIsNoTrailingCatchAll_IsReported(string path)
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route(path), "Sigver"));

        Assert.Contains("must end with the catch-all '{**key}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SigverWithoutKey_IsReported()
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route("/sigver/{**rest}"), "Sigver"));

        Assert.Contains("lacks the route value '{key}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ClusterId_IsReported()
    {
        var route = Route("/introduction/{peerId}") with { ClusterId = "backend" };

        var error = Assert.Single(RelayRouteValidator.Validate(route, "Introduction"));

        Assert.Contains("'backend'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Validate_NoMatchPath_IsReported(string? path)
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route(path), "Connection"));

        Assert.Contains("no Match.Path", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NoMatchAtAll_IsReportedLikeAMissingPath()
    {
        // Code-first configuration can leave Match unset; YARP's own validator runs after the filters.
        var route = new RouteConfig { RouteId = "relay" };

        var error = Assert.Single(RelayRouteValidator.Validate(route, "Introduction"));

        Assert.Contains("no Match.Path", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/introduction/{peerId")]
    [InlineData("/introduction/{peerId}/{peerId}")]
    [InlineData("/introduction/{*peerId}/more")]
    [InlineData("/introduction/{}")]
    public void Validate_InvalidTemplate_IsReported(string path)
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route(path), "Introduction"));

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
        var errors = RelayRouteValidator.Validate(Route(path), role);

        Assert.Contains(errors, e => e.Contains($"'{{{missing}}}'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/echo/{rest}")]
    [InlineData("/echo/{rest}/more")]
    public void Validate_RoomsWithoutItsCatchAll_IsReported(string path)
    {
        var error = Assert.Single(RelayRouteValidator.Validate(Route(path), "Rooms"));

        Assert.Contains("must end with the catch-all '{**rest}'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/echo")]
    [InlineData("/echo/{**path}")]
    public void Validate_RoomsWithoutItsRouteValue_IsReported(string path) =>
        Assert.Contains("lacks the route value '{rest}'", Assert.Single(RelayRouteValidator.Validate(Route(path), "Rooms")), StringComparison.Ordinal);

    [Fact]
    public void Validate_ConnectionWithNoRouteValues_ReportsAllThree()
    {
        var errors = RelayRouteValidator.Validate(Route("/connection"), "Connection");

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("'{localPeerId}'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'{remotePeerId}'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'{documentId}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_UnknownRoleClusterAndNoPath_ReportsEveryError()
    {
        var route = Route(null) with { ClusterId = "backend" };

        var errors = RelayRouteValidator.Validate(route, "Pipe");

        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Validate_ClusterAndInvalidTemplate_ReportsBoth()
    {
        var route = Route("/introduction/{peerId") with { ClusterId = "backend" };

        Assert.Equal(2, RelayRouteValidator.Validate(route, "Introduction").Count);
    }

    [Fact]
    public void Validate_ClusterAndMissingRouteValues_ReportsAll()
    {
        var route = Route("/connection/{documentId}") with { ClusterId = "backend" };

        Assert.Equal(3, RelayRouteValidator.Validate(route, "Connection").Count);
    }

    [Fact]
    public async Task ValidateAsync_RouteWithoutRelayMetadata_AddsNothing()
    {
        var route = new RouteConfig
        {
            RouteId = "api",
            ClusterId = "backend",
            Match = new RouteMatch { Path = "/api/{**rest}" },
            Metadata = new Dictionary<string, string> { ["Other"] = "x" },
        };
        var errors = new List<Exception>();

        await new RelayRouteValidator().ValidateAsync(route, errors);
        await new RelayRouteValidator().ValidateAsync(route with { Metadata = null }, errors);

        Assert.Empty(errors);
    }

    [Fact]
    public async Task ValidateAsync_ValidRelayRoute_AddsNothing()
    {
        var errors = new List<Exception>();

        await new RelayRouteValidator().ValidateAsync(Route("/introduction/{peerId}", "Introduction"), errors);

        Assert.Empty(errors);
    }

    [Fact]
    public async Task ValidateAsync_InvalidRelayRoute_AddsEveryErrorNamingTheRoute()
    {
        var route = Route("/connection", "Connection") with { ClusterId = "backend" };
        var errors = new List<Exception>();

        await new RelayRouteValidator().ValidateAsync(route, errors);

        Assert.Equal(4, errors.Count);
        Assert.All(errors, e => Assert.StartsWith("Relay route 'relay' is invalid: ", e.Message, StringComparison.Ordinal));
        foreach (var fragment in (string[])["'backend'", "'{localPeerId}'", "'{remotePeerId}'", "'{documentId}'"])
        {
            Assert.Contains(errors, e => e.Message.Contains(fragment, StringComparison.Ordinal));
        }
    }

    private static RouteConfig Route(string? path, string? role = null) => new()
    {
        RouteId = "relay",
        Match = new RouteMatch { Path = path },
        Metadata = role is null ? null : new Dictionary<string, string> { [RelayRoutes.MetadataKey] = role },
    };
}
