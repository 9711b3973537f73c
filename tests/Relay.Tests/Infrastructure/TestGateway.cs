using System.Net.WebSockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Relay.Gateway;

namespace Relay.Tests.Infrastructure;

/// <summary>
/// The real gateway (GatewayApp, the same code Program.cs runs) on Kestrel at 127.0.0.1:0, on its
/// embedded default configuration plus per-test overrides.
/// </summary>
internal sealed class TestGateway : IAsyncDisposable
{
    private TestGateway(WebApplication app, Uri baseUri, TestLogSink logs)
    {
        App = app;
        HttpUri = baseUri;
        WebSocketUri = new UriBuilder(baseUri) { Scheme = "ws" }.Uri;
        Logs = logs;
        Http = new HttpClient { BaseAddress = baseUri };
    }

    public WebApplication App { get; }

    public Uri HttpUri { get; }

    public Uri WebSocketUri { get; }

    public HttpClient Http { get; }

    public TestLogSink Logs { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Starts a gateway. <paramref name="settings"/> override configuration keys ("Relay:Connection:PendingTimeout").</summary>
    public static async Task<TestGateway> StartAsync(
        IDictionary<string, string?>? settings = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var logs = new TestLogSink();
        var app = GatewayApp.Create(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(logs);
            if (settings is not null)
            {
                builder.Configuration.AddInMemoryCollection(settings);
            }

            configure?.Invoke(builder);
        });

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new TestGateway(app, new Uri(address), logs);
    }

    public T GetService<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public Uri WebSocketUrl(string path) => new(WebSocketUri, path);

    public async Task<ClientWebSocket> ConnectAsync(string path, Action<ClientWebSocketOptions>? options = null, CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        options?.Invoke(socket.Options);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestTimeouts.Default);
        await socket.ConnectAsync(WebSocketUrl(path), timeout.Token);
        return socket;
    }

    /// <summary>Attempts a handshake that the relay is expected to refuse; returns the HTTP status and headers it answered with.</summary>
    public async Task<(System.Net.HttpStatusCode Status, IReadOnlyDictionary<string, IEnumerable<string>>? Headers)> RefusedHandshakeAsync(
        string path, Action<ClientWebSocketOptions>? options = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        options?.Invoke(socket.Options);
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WebSocketUrl(path), timeout.Token));
        return (socket.HttpStatusCode, socket.HttpResponseHeaders);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var stop = new CancellationTokenSource(TestTimeouts.Default);
        await App.StopAsync(stop.Token);
        await App.DisposeAsync();
    }
}

internal static class TestTimeouts
{
    /// <summary>Upper bound for anything a test awaits; reaching it means the test failed.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);
}
