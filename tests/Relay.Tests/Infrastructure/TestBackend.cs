namespace Relay.Tests.Infrastructure;

/// <summary>A plain HTTP backend on Kestrel at 127.0.0.1:0 that the gateway proxies to; it echoes the path it got.</summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    public string Address { get; }

    public static async Task<TestBackend> StartAsync()
    {
        var (app, address) = await LoopbackApp.StartAsync(app =>
            app.Run(context => context.Response.WriteAsync($"backend saw {context.Request.Path}")));
        return new TestBackend(app, address);
    }

    /// <summary>Settings pointing the default configuration's <c>backend</c> cluster here.</summary>
    public Dictionary<string, string?> GatewaySettings() =>
        new() { ["ReverseProxy:Clusters:backend:Destinations:backend-1:Address"] = Address + "/" };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
