using System.Diagnostics.Metrics;
using System.Text;
using System.Text.RegularExpressions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Relay.Gateway.Telemetry;

namespace Relay.Tests.Telemetry;

/// <summary>
/// The exposition writer against the Prometheus text format 0.0.4, fed by the real OpenTelemetry SDK:
/// each test records on its own meter, scrapes through the pull exporter, and compares text.
/// </summary>
public sealed partial class PrometheusTextWriterTests
{
    [Fact]
    public async Task Counter_IsWrittenWithTotalSuffixHelpTypeAndScopeLabel()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.requests", "{request}", "Requests handled.")
            .Add(3, new KeyValuePair<string, object?>("http.method", "GET"));

        var text = await sdk.ScrapeAsync();

        Assert.Equal(
            $$"""
            # HELP test_requests_total Requests handled.
            # TYPE test_requests_total counter
            test_requests_total{http_method="GET",otel_scope_name="{{sdk.Meter.Name}}"} 3

            """,
            text);
    }

    [Fact]
    public async Task UpDownCounter_IsAGaugeWithItsUnitSuffix()
    {
        using var sdk = new Pipeline();
        var queued = sdk.Meter.CreateUpDownCounter<long>("test.queued", "By", "Bytes waiting.");
        queued.Add(10);
        queued.Add(-4);

        var text = await sdk.ScrapeAsync();

        Assert.Equal(
            $$"""
            # HELP test_queued_bytes Bytes waiting.
            # TYPE test_queued_bytes gauge
            test_queued_bytes{otel_scope_name="{{sdk.Meter.Name}}"} 6

            """,
            text);
    }

    [Fact]
    public async Task Histogram_HasCumulativeBucketsEndingAtInfThenSumAndCount()
    {
        using var sdk = new Pipeline();
        var histogram = sdk.Meter.CreateHistogram<double>("test.wait", "s", "Time waited.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 2] });
        histogram.Record(0.25);
        histogram.Record(1);
        histogram.Record(1.5);
        histogram.Record(30);

        var text = await sdk.ScrapeAsync();

        var scope = $"otel_scope_name=\"{sdk.Meter.Name}\"";
        Assert.Equal(
            $$"""
            # HELP test_wait_seconds Time waited.
            # TYPE test_wait_seconds histogram
            test_wait_seconds_bucket{{{scope}},le="0.5"} 1
            test_wait_seconds_bucket{{{scope}},le="2"} 3
            test_wait_seconds_bucket{{{scope}},le="+Inf"} 4
            test_wait_seconds_sum{{{scope}}} 32.75
            test_wait_seconds_count{{{scope}}} 4

            """,
            text);
    }

    [Fact]
    public async Task Histogram_WithANegativeValue_LeavesOutTheSum()
    {
        using var sdk = new Pipeline();
        var histogram = sdk.Meter.CreateHistogram<double>("test.delta", "s", "Signed.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0] });
        histogram.Record(-1);
        histogram.Record(2);

        var text = await sdk.ScrapeAsync();

        Assert.DoesNotContain("test_delta_seconds_sum", text, StringComparison.Ordinal);
        Assert.Contains("test_delta_seconds_count{", text, StringComparison.Ordinal);
        Assert.Contains("le=\"+Inf\"} 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelpAndLabelValues_AreEscaped()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.escaped", null, "Line one\nback\\slash \"quoted\"")
            .Add(1, new KeyValuePair<string, object?>("path", "C:\\dir\n\"x\""));

        var text = await sdk.ScrapeAsync();

        Assert.Contains("# HELP test_escaped_total Line one\\nback\\\\slash \"quoted\"\n", text, StringComparison.Ordinal);
        Assert.Contains("test_escaped_total{path=\"C:\\\\dir\\n\\\"x\\\"\",", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metric_WithoutDescription_HasNoHelpLine()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.silent").Add(1);

        var text = await sdk.ScrapeAsync();

        Assert.StartsWith("# TYPE test_silent_total counter\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attributes_WithCollidingNames_AreJoinedInKeyOrder()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.collide").Add(1,
            new KeyValuePair<string, object?>("a_b", "second"),
            new KeyValuePair<string, object?>("a.b", "first"),
            new KeyValuePair<string, object?>("z", "last"));

        var text = await sdk.ScrapeAsync();

        Assert.Contains($"test_collide_total{{a_b=\"first;second\",z=\"last\",otel_scope_name=\"{sdk.Meter.Name}\"}} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attributes_OfOtherTypes_AreWrittenAsOpenTelemetryRendersThem()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.typed").Add(1,
            new KeyValuePair<string, object?>("count", 42),
            new KeyValuePair<string, object?>("flag", true),
            new KeyValuePair<string, object?>("ids", new long[] { 1, 2 }),
            new KeyValuePair<string, object?>("ratio", 1.5));

        var text = await sdk.ScrapeAsync();

        Assert.Contains("{count=\"42\",flag=\"true\",ids=\"[1,2]\",ratio=\"1.5\",", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AttributesNamedLikeReservedLabels_AreLeftOut()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateHistogram<long>("test.reserved", "By", null, tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [10] }).Record(5,
            new KeyValuePair<string, object?>("le", "mine"),
            new KeyValuePair<string, object?>("otel.scope.name", "spoof"));

        var text = await sdk.ScrapeAsync();

        Assert.DoesNotContain("mine", text, StringComparison.Ordinal);
        Assert.DoesNotContain("spoof", text, StringComparison.Ordinal);
        Assert.Contains($"test_reserved_bytes_bucket{{otel_scope_name=\"{sdk.Meter.Name}\",le=\"10\"}} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GaugeValues_UseShortestRoundTripAndPrometheusSpecialValues()
    {
        using var sdk = new Pipeline();
        var values = new Dictionary<string, double>
        {
            ["nan"] = double.NaN,
            ["plus"] = double.PositiveInfinity,
            ["minus"] = double.NegativeInfinity,
            ["small"] = 1e-7,
            ["tenth"] = 0.1,
        };
        sdk.Meter.CreateObservableGauge("test.values", () => values.Select(v => new Measurement<double>(v.Value, new KeyValuePair<string, object?>("v", v.Key))));

        var text = await sdk.ScrapeAsync();

        Assert.Contains("{v=\"nan\",", text, StringComparison.Ordinal);
        Assert.Matches("v=\"nan\"[^}]*} NaN\n", text);
        Assert.Matches("v=\"plus\"[^}]*} \\+Inf\n", text);
        Assert.Matches("v=\"minus\"[^}]*} -Inf\n", text);
        Assert.Matches("v=\"small\"[^}]*} 1E-07\n", text);
        Assert.Matches("v=\"tenth\"[^}]*} 0.1\n", text);
    }

    [Fact]
    public async Task SameFamilyFromTwoMeters_SharesOneHeader_AndFamiliesAreSortedByName()
    {
        using var sdk = new Pipeline();
        using var other = new Meter(sdk.Meter.Name + ".other", "2.0");
        sdk.Meter.CreateCounter<long>("test.zeta", null, "Last.").Add(1);
        sdk.Meter.CreateCounter<long>("test.shared", null, "First meter's help.").Add(1);
        other.CreateCounter<long>("test.shared", null, "Second meter's help.").Add(2);

        var text = await sdk.ScrapeAsync();

        Assert.Equal(
            $$"""
            # HELP test_shared_total First meter's help.
            # TYPE test_shared_total counter
            test_shared_total{otel_scope_name="{{sdk.Meter.Name}}"} 1
            test_shared_total{otel_scope_name="{{other.Name}}",otel_scope_version="2.0"} 2
            # HELP test_zeta_total Last.
            # TYPE test_zeta_total counter
            test_zeta_total{otel_scope_name="{{sdk.Meter.Name}}"} 1

            """,
            text);
    }

    [Fact]
    public async Task SameFamilyWithAnotherType_IsDroppedAndReported()
    {
        using var sdk = new Pipeline();
        sdk.Meter.CreateCounter<long>("test.clash").Add(1);
        sdk.Meter.CreateUpDownCounter<long>("test.clash_total").Add(5);

        var text = await sdk.ScrapeAsync();

        Assert.Single(Regex.Matches(text, "# TYPE test_clash_total "));
        Assert.Contains("# TYPE test_clash_total counter\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("} 5\n", text, StringComparison.Ordinal);
        var dropped = Assert.Single(sdk.Dropped);
        Assert.Contains("test.clash_total", dropped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resource_IsWrittenOnceAsTargetInfo()
    {
        using var sdk = new Pipeline(resource => resource.AddService("relay-test", serviceInstanceId: "one").AddAttributes([new("deployment.environment", "ci")]));
        sdk.Meter.CreateCounter<long>("test.any").Add(1);

        var text = await sdk.ScrapeAsync();
        var again = await sdk.ScrapeAsync();

        Assert.EndsWith(
            """
            # HELP target_info Target metadata
            # TYPE target_info gauge
            target_info{deployment_environment="ci",service_instance_id="one",service_name="relay-test"} 1

            """,
            text,
            StringComparison.Ordinal);
        Assert.Equal(text, again);
    }

    [Fact]
    public async Task EveryLine_IsValidExpositionSyntax()
    {
        using var sdk = new Pipeline(resource => resource.AddService("relay-test"));
        sdk.Meter.CreateCounter<long>("test.lines", "{line}", "Lines.").Add(7, new KeyValuePair<string, object?>("kind", "a \"b\" \\c"));
        sdk.Meter.CreateHistogram<int>("test.sizes", "By", "Sizes.").Record(100);
        sdk.Meter.CreateObservableGauge("test.level", () => 0.5, "1", "Level.");

        var text = await sdk.ScrapeAsync();

        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var seenTypes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            Assert.Matches(ExpositionLine(), line);
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                Assert.True(seenTypes.Add(line.Split(' ')[2]), $"Second TYPE line for {line}");
            }
        }

        Assert.Contains("test_level_ratio", seenTypes);
    }

    [Fact]
    public async Task Scrape_BeforeTheExporterIsAttached_ReturnsFalseAndWritesNothing()
    {
        using var exporter = new PrometheusPullExporter(TimeSpan.FromSeconds(5));
        using var body = new MemoryStream();

        Assert.False(await exporter.ScrapeAsync(body, CancellationToken.None));
        Assert.Equal(0, body.Length);
    }

    /// <summary>A HELP, TYPE or sample line of the text format 0.0.4 (no timestamps: this exporter writes none).</summary>
    [GeneratedRegex("""^(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* ([^\\\n]|\\\\|\\n)*|# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*\})? (NaN|[+-]Inf|-?[0-9]+(\.[0-9]+)?(E[+-]?[0-9]+)?))$""")]
    private static partial Regex ExpositionLine();

    /// <summary>An SDK MeterProvider listening to a meter of its own, read by the pull exporter under test.</summary>
    private sealed class Pipeline : IDisposable
    {
        private readonly MeterProvider _provider;
        private readonly PrometheusPullExporter _exporter;

        public Pipeline(Action<ResourceBuilder>? resource = null)
        {
            Meter = new Meter($"Test.{Guid.NewGuid():N}");
            _exporter = new PrometheusPullExporter(TimeSpan.FromSeconds(5), (metric, _) => Dropped.Add(metric));
            _provider = Sdk.CreateMeterProviderBuilder()
                .ConfigureResource(builder =>
                {
                    builder.Clear();
                    resource?.Invoke(builder);
                })
                .AddMeter(Meter.Name, Meter.Name + ".other")
                .AddReader(new BaseExportingMetricReader(_exporter))
                .Build();
        }

        public Meter Meter { get; }

        public List<string> Dropped { get; } = [];

        public async Task<string> ScrapeAsync()
        {
            using var body = new MemoryStream();
            Assert.True(await _exporter.ScrapeAsync(body, CancellationToken.None));
            return Encoding.UTF8.GetString(body.ToArray());
        }

        public void Dispose()
        {
            _provider.Dispose();
            Meter.Dispose();
        }
    }
}
