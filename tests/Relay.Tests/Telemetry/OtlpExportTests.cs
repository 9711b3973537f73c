using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Relay.Gateway.Telemetry;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>OTLP push export: off unless the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> setting is present.</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task Otlp_WithoutEndpointSetting_IsOff()
    {
        await using var gateway = await TestGateway.StartAsync();
        var telemetry = gateway.GetService<GatewayTelemetry>();

        Assert.NotNull(gateway.GetService<OpenTelemetry.Metrics.MeterProvider>());
        Assert.False(telemetry.OtlpEnabled);
    }

    [Fact]
    public async Task Otlp_WithEndpointSetting_PushesRelayMetricsToTheCollector()
    {
        await using var collector = await FakeCollector.StartAsync();
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Address,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "100",
            ["OTEL_SERVICE_NAME"] = "relay-under-test",
        });

        var export = await collector.NextExportContainingAsync("relay.active_peers");

        Assert.True(gateway.GetService<GatewayTelemetry>().OtlpEnabled);
        Assert.Contains("relay-under-test", export, StringComparison.Ordinal);
        Assert.Contains("dotnet.process.cpu.time", export, StringComparison.Ordinal);
    }

    /// <summary>
    /// Stands in for an OpenTelemetry collector: accepts OTLP/HTTP protobuf posts on <c>/v1/metrics</c>.
    /// Metric names and resource strings are plain UTF-8 inside protobuf, which is all the test reads.
    /// </summary>
    private sealed class FakeCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly System.Threading.Channels.Channel<string> _exports = System.Threading.Channels.Channel.CreateUnbounded<string>();

        private FakeCollector(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";

        public static async Task<FakeCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new FakeCollector(app);
            app.MapPost("/v1/metrics", async context =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                collector._exports.Writer.TryWrite(Encoding.UTF8.GetString(body.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync();
            collector.Address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            return collector;
        }

        public async Task<string> NextExportContainingAsync(string text)
        {
            using var timeout = new CancellationTokenSource(TestTimeouts.Default);
            await foreach (var export in _exports.Reader.ReadAllAsync(timeout.Token))
            {
                if (export.Contains(text, StringComparison.Ordinal))
                {
                    return export;
                }
            }

            throw new InvalidOperationException("The export channel closed.");
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
