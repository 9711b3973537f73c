using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Relay.Targeted;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Targeted;

/// <summary>The HTTP endpoints of targeted signaling on the default mount: register, user, health check, kick.</summary>
public sealed class TargetedHttpTests : IAsyncLifetime
{
    private const string AdminKey = "an-admin-key-of-some-length";
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["Relay:Targeted:AdminKey"] = AdminKey });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task HealthCheck_Answers200Success_BesideTheGatewaysOwnEndpoints()
    {
        using var health = await _gateway.Http.GetAsync("/healthcheck");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("success", await health.Content.ReadAsStringAsync());

        // The root mount leaves the gateway's health, metrics, status page and proxied routes alone.
        Assert.Equal("Healthy", await _gateway.Http.GetStringAsync("/healthz"));
        Assert.Contains("relay_targeted_registered_users", await _gateway.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        using var status = await _gateway.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        using var post = await _gateway.Http.PostAsync("/healthcheck", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    [Fact]
    public async Task Register_SetsTheBareCookieAndASignedOne()
    {
        await using var user = await TargetedUser.RegisterAsync(_gateway, "alice");

        var cookies = user.Cookies.GetCookies(_gateway.HttpUri);
        Assert.Equal("alice", cookies[TargetedIdentity.UsernameCookie]?.Value);
        Assert.Equal("/", cookies[TargetedIdentity.UsernameCookie]?.Path);
        var signed = cookies[TargetedIdentity.SessionCookie];
        Assert.NotNull(signed);
        Assert.True(signed.HttpOnly);
        Assert.DoesNotContain("alice", signed.Value, StringComparison.Ordinal);
        Assert.Equal(1, Registered());
    }

    [Fact]
    public async Task Register_TakenName_Answers200TakenWithoutCookies()
    {
        await using var first = await TargetedUser.RegisterAsync(_gateway, "alice");
        await using var second = new TargetedUser(_gateway, "alice");

        using var response = await second.Http.PostAsJsonAsync("/v1/register", new { username = "alice" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"status":"TAKEN","message":""}""", await response.Content.ReadAsStringAsync());
        Assert.Empty(second.Cookies.GetCookies(_gateway.HttpUri));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"username":""}""")]
    [InlineData("""{"username":null}""")]
    [InlineData("null")]
    [InlineData("""{"name":"alice"}""")]
    public async Task Register_EmptyOrMissingName_Answers400UsernameCannotBeEmpty(string body)
    {
        var (status, json) = await PostRegisterAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("""{"status":"INVALID","message":"username cannot be empty"}""", json);
    }

    [Theory]
    [InlineData("""{""", "application/json")]
    [InlineData("", "application/json")]
    [InlineData("[]", "application/json")]
    [InlineData("\"alice\"", "application/json")]
    [InlineData("""{"username":5}""", "application/json")]
    [InlineData("""{"username":["alice"]}""", "application/json")]
    [InlineData("""{"username":"alice"} {}""", "application/json")]
    [InlineData("""{"username":"alice"}""", "text/plain")]
    [InlineData("username=alice", "application/x-www-form-urlencoded")]
    public async Task Register_UnparsableBody_Answers400InvalidBody(string body, string contentType)
    {
        var (status, json) = await PostRegisterAsync(body, contentType);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("""{"status":"INVALID","message":"invalid body"}""", json);
        Assert.Equal(0, Registered());
    }

    [Theory]
    [InlineData("""{"username":"a b"}""")]
    [InlineData("""{"username":"tab\there"}""")]
    [InlineData("""{"username":"\u0000"}""")]
    public async Task Register_NameTheIdPolicyRefuses_Answers400InvalidUsername(string body)
    {
        var (status, json) = await PostRegisterAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("""{"status":"INVALID","message":"invalid username"}""", json);
    }

    [Fact]
    public async Task Register_NameOfAnyCaseAndUnknownProperties_AreReadAsGoReadsThem()
    {
        var (status, json) = await PostRegisterAsync("""{"extra":{"x":[1,2]},"UserName":"Alice","more":true}""", "application/json; charset=utf-8");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"status":"SUCCESS","message":""}""", json);
        Assert.Equal(1, Registered());
    }

    [Fact]
    public async Task Register_BodyOverTheLimit_Answers413()
    {
        var (status, json) = await PostRegisterAsync($$"""{"username":"alice","pad":"{{new string('x', TargetedHandler.MaxRegisterBodyBytes)}}"}""");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("""{"status":"INVALID","message":"body too large"}""", json);
    }

    [Fact]
    public async Task Register_WithGet_Answers405()
    {
        using var response = await _gateway.Http.GetAsync("/v1/register");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("POST", response.Content.Headers.Allow.Single());
    }

    [Fact]
    public async Task User_WithTheSignedCookie_Answers200()
    {
        await using var user = await TargetedUser.RegisterAsync(_gateway, "alice");

        using var response = await user.Http.GetAsync("/v1/user");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("user_username=alice")]
    [InlineData("")]
    [InlineData("user_username=alice; user_session=forged")]
    [InlineData("user_session=CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task User_WithoutAValidSignedCookie_Answers401AndClearsCookies(string cookieHeader)
    {
        await using var registered = await TargetedUser.RegisterAsync(_gateway, "alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/user");
        if (cookieHeader.Length > 0)
        {
            request.Headers.Add("Cookie", cookieHeader);
        }

        using var response = await _gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("\"cookies\"", response.Headers.GetValues("Clear-Site-Data").Single());
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("user_session=;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task User_SignedCookieOfAnotherUserWithTheBareNameSwapped_IsStillThatOtherUser()
    {
        await using var alice = await TargetedUser.RegisterAsync(_gateway, "alice");
        await using var mallory = await TargetedUser.RegisterAsync(_gateway, "mallory");
        var malloryCookie = mallory.Cookies.GetCookies(_gateway.HttpUri)[TargetedIdentity.SessionCookie]!.Value;

        // Mallory names herself alice in the bare cookie; the relay believes only the signed one.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/user");
        request.Headers.Add("Cookie", $"user_username=alice; user_session={malloryCookie}");
        using var response = await _gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await alice.ConnectAsync();
        using var posing = await _gateway.ConnectAsync("/v1/connect", o => o.SetRequestHeader("Cookie", $"user_username=alice; user_session={malloryCookie}"));
        await TargetedUser.SendAsync(posing, "alice", "hello", "1");
        var delivered = await alice.Socket.ReceiveMessageAsync();
        Assert.Equal("""{"originator":"mallory","target":"alice","type":"hello","payload":1}""", delivered.Text);
    }

    [Fact]
    public async Task SignedCookieOfAnEarlierRegistration_IsRefused_EvenWithTheSameKeys()
    {
        // Two gateways sharing a key ring, as after a restart: the cookie decrypts, but names a registration
        // the second one never made (its alice registered anew).
        var keys = Directory.CreateTempSubdirectory("relay-keys-");
        try
        {
            void SharedKeys(WebApplicationBuilder builder) => builder.Services.AddDataProtection()
                .PersistKeysToFileSystem(keys).SetApplicationName("relay-tests");
            await using var before = await TestGateway.StartAsync(configure: SharedKeys);
            await using var after = await TestGateway.StartAsync(configure: SharedKeys);
            await using var old = await TargetedUser.RegisterAsync(before, "alice");
            await using var fresh = await TargetedUser.RegisterAsync(after, "alice");
            var oldCookie = old.Cookies.GetCookies(before.HttpUri)[TargetedIdentity.SessionCookie]!.Value;
            var freshCookie = fresh.Cookies.GetCookies(after.HttpUri)[TargetedIdentity.SessionCookie]!.Value;

            var identity = after.GetService<TargetedIdentity>();
            var request = new DefaultHttpContext().Request;
            request.Headers.Cookie = $"{TargetedIdentity.SessionCookie}={oldCookie}";
            Assert.True(identity.TryRead(request, out var username, out _), "the second gateway can read the first one's cookie");
            Assert.Equal("alice", username);

            Assert.Equal(HttpStatusCode.OK, await UserStatusAsync(after, freshCookie));
            Assert.Equal(HttpStatusCode.Unauthorized, await UserStatusAsync(after, oldCookie));
            Assert.Equal(HttpStatusCode.OK, await UserStatusAsync(before, oldCookie));
        }
        finally
        {
            keys.Delete(recursive: true);
        }

        static async Task<HttpStatusCode> UserStatusAsync(TestGateway gateway, string sessionCookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/user");
            request.Headers.Add("Cookie", $"{TargetedIdentity.SessionCookie}={sessionCookie}");
            using var response = await gateway.Http.SendAsync(request);
            return response.StatusCode;
        }
    }

    [Fact]
    public async Task Kick_WithoutAConfiguredKey_Answers404()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kick-active-users");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);

        using var response = await gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-key-of-the-same-length!")]
    [InlineData("Bearer an-admin-key-of-some-lengt")]
    [InlineData("Basic YWRtaW46YW4tYWRtaW4ta2V5LW9mLXNvbWUtbGVuZ3Ro")]
    [InlineData("an-admin-key-of-some-length")]
    public async Task Kick_WithoutTheKey_Answers401AndKicksNobody(string? authorization)
    {
        await using var user = await TargetedUser.RegisterAndConnectAsync(_gateway, "alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kick-active-users");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await _gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(1, _gateway.GetService<ITargetedRegistry>().ActiveCount);
    }

    private async Task<(HttpStatusCode Status, string Json)> PostRegisterAsync(string body, string contentType = "application/json")
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await _gateway.Http.PostAsync("/v1/register", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private int Registered() => _gateway.GetService<ITargetedRegistry>().RegisteredCount;
}
