using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Targeted;

/// <summary>
/// A client of targeted signaling as a browser is: one cookie jar for its HTTP requests and its WebSockets.
/// Disposing it closes every socket it opened.
/// </summary>
internal sealed class TargetedUser : IAsyncDisposable
{
    private readonly List<ClientWebSocket> _sockets = [];

    private readonly TestGateway _gateway;

    public TargetedUser(TestGateway gateway, string username, string? bearerToken = null)
    {
        _gateway = gateway;
        Username = username;
        BearerToken = bearerToken;
        Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies }) { BaseAddress = gateway.HttpUri };
        if (bearerToken is not null)
        {
            Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearerToken);
        }
    }

    /// <summary>A token sent with every request and handshake, when the gateway binds identities.</summary>
    public string? BearerToken { get; }

    public string Username { get; }

    public CookieContainer Cookies { get; } = new();

    public HttpClient Http { get; }

    /// <summary>The socket <see cref="ConnectAsync"/> opened last.</summary>
    public ClientWebSocket Socket => _sockets[^1];

    /// <summary>Registers a new user and asserts it succeeded.</summary>
    public static async Task<TargetedUser> RegisterAsync(TestGateway gateway, string username)
    {
        var user = new TargetedUser(gateway, username);
        using var response = await user.Http.PostAsJsonAsync("/v1/register", new { username });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"status":"SUCCESS","message":""}""", await response.Content.ReadAsStringAsync());
        return user;
    }

    /// <summary>Opens <c>/v1/connect</c> with this user's cookies.</summary>
    public async Task<ClientWebSocket> ConnectAsync()
    {
        var socket = await _gateway.ConnectAsync("/v1/connect", options =>
        {
            options.Cookies = Cookies;
            if (BearerToken is not null)
            {
                options.SetRequestHeader("Authorization", "Bearer " + BearerToken);
            }
        });
        _sockets.Add(socket);
        return socket;
    }

    /// <summary>
    /// Registers and connects (<see cref="Socket"/>), and waits until the relay routes to the session: it files the
    /// session just after the handshake, so a message sent to it a moment earlier would find no target.
    /// </summary>
    public static async Task<TargetedUser> RegisterAndConnectAsync(TestGateway gateway, string username)
    {
        var user = await RegisterAsync(gateway, username);
        await user.ConnectAsync();
        var registry = gateway.GetService<Relay.Targeted.ITargetedRegistry>();
        await Eventually.TrueAsync(() => registry.FindActive(username) is not null, $"{username}'s session is connected");
        return user;
    }

    public static Task SendAsync(WebSocket socket, string target, string type, string payloadJson) =>
        socket.SendTextAsync($$"""{"target":{{JsonSerializer.Serialize(target)}},"type":{{JsonSerializer.Serialize(type)}},"payload":{{payloadJson}}}""");

    public async ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            await socket.CloseQuietlyAsync();
            socket.Dispose();
        }

        Http.Dispose();
    }
}
