using Relay.Gateway.Telemetry;

namespace Relay.Tests.Telemetry;

/// <summary>OpenTelemetry names to Prometheus names, per the OpenTelemetry Prometheus-compatibility rules.</summary>
public sealed class PrometheusNamingTests
{
    [Theory]
    [InlineData("relay.active_peers", "{peer}", "Gauge", "relay_active_peers")]
    [InlineData("relay.introductions", "{introduction}", "Counter", "relay_introductions_total")]
    [InlineData("relay.pending_connections", "{connection}", "Gauge", "relay_pending_connections")]
    [InlineData("relay.active_pairings", "{pairing}", "Gauge", "relay_active_pairings")]
    [InlineData("relay.pairings", "{pairing}", "Counter", "relay_pairings_total")]
    [InlineData("relay.pairing.wait", "s", "Histogram", "relay_pairing_wait_seconds")]
    [InlineData("relay.relayed_bytes", "By", "Counter", "relay_relayed_bytes_total")]
    [InlineData("relay.relayed_messages", "{message}", "Counter", "relay_relayed_messages_total")]
    [InlineData("relay.rejected_connections", "{connection}", "Counter", "relay_rejected_connections_total")]
    [InlineData("http.server.request.duration", "s", "Histogram", "http_server_request_duration_seconds")]
    [InlineData("dotnet.gc.pause.time", "s", "Counter", "dotnet_gc_pause_time_seconds_total")]
    [InlineData("dotnet.process.memory.working_set", "By", "Gauge", "dotnet_process_memory_working_set_bytes")]
    public void MetricName_OfRelayAndBuiltInInstruments_MatchesTheIssue(string name, string unit, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(name, unit, Enum.Parse<PrometheusType>(type)));

    [Theory]
    [InlineData("requests_total", "", "Counter", "requests_total")]
    [InlineData("db.bytes_total", "By", "Counter", "db_bytes_total")]
    [InlineData("download.size", "By", "Gauge", "download_size_bytes")]
    [InlineData("latency", "ms", "Histogram", "latency_milliseconds")]
    [InlineData("throughput", "By/s", "Gauge", "throughput_bytes_per_second")]
    [InlineData("events", "{event}/min", "Gauge", "events_per_minute")]
    [InlineData("cpu.utilization", "1", "Gauge", "cpu_utilization_ratio")]
    [InlineData("temperature", "Cel", "Gauge", "temperature_celsius")]
    [InlineData("packets", "{packet}", "Counter", "packets_total")]
    [InlineData("queue", "custom unit", "Gauge", "queue_custom_unit")]
    [InlineData("2xx.responses", "", "Counter", "_2xx_responses_total")]
    [InlineData("weird..name--x", "ms", "Gauge", "weird_name_x_milliseconds")]
    [InlineData("double__underscore", "", "Gauge", "double_underscore")]
    [InlineData("recording:rule", "", "Gauge", "recording:rule")]
    [InlineData("größe", "By", "Gauge", "gr_e_bytes")]
    public void MetricName_FollowsTheCompatibilityRules(string name, string unit, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(name, unit, Enum.Parse<PrometheusType>(type)));

    [Theory]
    [InlineData("error.type", "error_type")]
    [InlineData("relay.pairing.result", "relay_pairing_result")]
    [InlineData("http.response.status_code", "http_response_status_code")]
    [InlineData("already_valid", "already_valid")]
    [InlineData("1st", "_1st")]
    [InlineData("a__b", "a_b")]
    [InlineData("with:colon", "with_colon")]
    [InlineData("", "_")]
    public void LabelName_ReplacesInvalidCharacters(string key, string expected) =>
        Assert.Equal(expected, PrometheusNaming.LabelName(key));
}
