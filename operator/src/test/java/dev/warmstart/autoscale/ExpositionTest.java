package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.autoscale.Exposition.Format;
import dev.warmstart.autoscale.Exposition.MalformedException;
import dev.warmstart.autoscale.Exposition.Sample;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.core.metrics.Summary;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ExpositionTest {
  private static final String WAITING = "vllm:num_requests_waiting";

  /** A label value with every character the formats escape. */
  private static final String NASTY = "a \"quoted\" back\\slash\nnew line, {braces}=";

  /**
   * Golden input from the Prometheus Java client's own registry and writers, not from our hands.
   */
  private static PrometheusRegistry registry() {
    PrometheusRegistry registry = new PrometheusRegistry();
    Gauge waiting =
        Gauge.builder()
            .name(WAITING)
            .help("Requests waiting")
            .labelNames("engine", "model_name")
            .withoutExemplars()
            .register(registry);
    waiting.labelValues("0", "qwen3-8b").set(9);
    waiting.labelValues("1", NASTY).set(2.5);
    Gauge kv =
        Gauge.builder()
            .name("vllm:kv_cache_usage_perc")
            .help("KV \\ cache\nusage")
            .withoutExemplars()
            .register(registry);
    kv.set(0.8125);
    Gauge odd =
        Gauge.builder().name("odd_values").labelNames("kind").withoutExemplars().register(registry);
    odd.labelValues("nan").set(Double.NaN);
    odd.labelValues("inf").set(Double.POSITIVE_INFINITY);
    odd.labelValues("neg").set(Double.NEGATIVE_INFINITY);
    odd.labelValues("tiny").set(1.5e-12);
    Counter tokens =
        Counter.builder()
            .name("vllm:prompt_tokens")
            .help("Prompt tokens")
            .withoutExemplars()
            .register(registry);
    tokens.inc(1_278_300);
    Histogram ttft =
        Histogram.builder()
            .name("vllm:time_to_first_token_seconds")
            .classicOnly()
            .classicUpperBounds(0.1, 0.5, 1)
            .labelNames("engine")
            .withoutExemplars()
            .register(registry);
    ttft.labelValues("0").observe(0.3);
    ttft.labelValues("0").observe(2);
    Summary latency =
        Summary.builder()
            .name("request_latency_seconds")
            .quantile(0.5, 0.01)
            .quantile(0.99, 0.001)
            .withoutExemplars()
            .register(registry);
    latency.observe(0.25);
    Info info =
        Info.builder().name("vllm:cache_config").labelNames("block_size").register(registry);
    info.setLabelValues("16");
    return registry;
  }

  private static String write(ExpositionFormatWriter writer) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writer.write(out, registry().scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  private static double value(List<Sample> samples, String name, Map<String, String> labels) {
    List<Sample> found =
        samples.stream().filter(s -> s.name().equals(name) && s.labels().equals(labels)).toList();
    assertEquals(1, found.size(), () -> name + labels + " in " + samples);
    return found.get(0).value();
  }

  private static void assertGolden(List<Sample> samples) {
    assertEquals(9, value(samples, WAITING, Map.of("engine", "0", "model_name", "qwen3-8b")));
    assertEquals(2.5, value(samples, WAITING, Map.of("engine", "1", "model_name", NASTY)));
    assertEquals(0.8125, value(samples, "vllm:kv_cache_usage_perc", Map.of()));
    assertTrue(Double.isNaN(value(samples, "odd_values", Map.of("kind", "nan"))));
    assertEquals(Double.POSITIVE_INFINITY, value(samples, "odd_values", Map.of("kind", "inf")));
    assertEquals(Double.NEGATIVE_INFINITY, value(samples, "odd_values", Map.of("kind", "neg")));
    assertEquals(1.5e-12, value(samples, "odd_values", Map.of("kind", "tiny")));
    assertEquals(1_278_300, value(samples, "vllm:prompt_tokens_total", Map.of()));
    assertEquals(
        1,
        value(
            samples,
            "vllm:time_to_first_token_seconds_bucket",
            Map.of("engine", "0", "le", "0.5")));
    assertEquals(
        2,
        value(
            samples,
            "vllm:time_to_first_token_seconds_bucket",
            Map.of("engine", "0", "le", "+Inf")));
    assertEquals(
        2, value(samples, "vllm:time_to_first_token_seconds_count", Map.of("engine", "0")));
    assertEquals(
        2.3, value(samples, "vllm:time_to_first_token_seconds_sum", Map.of("engine", "0")), 1e-9);
    assertEquals(0.25, value(samples, "request_latency_seconds", Map.of("quantile", "0.5")));
    assertEquals(1, value(samples, "request_latency_seconds_count", Map.of()));
    assertEquals(1, value(samples, "vllm:cache_config_info", Map.of("block_size", "16")));
  }

  @Test
  void readsWhatThePrometheusClientWritesInTextFormat() throws IOException {
    String text =
        write(PrometheusTextFormatWriter.builder().setIncludeCreatedTimestamps(true).build());
    assertGolden(
        Exposition.parse(text, Exposition.formatOf(PrometheusTextFormatWriter.CONTENT_TYPE)));
  }

  @Test
  void readsWhatThePrometheusClientWritesInOpenMetrics() throws IOException {
    String text = write(new OpenMetricsTextFormatWriter(true, true));
    assertEquals(Format.OPENMETRICS, Exposition.formatOf(OpenMetricsTextFormatWriter.CONTENT_TYPE));
    assertGolden(Exposition.parse(text, Format.OPENMETRICS));
  }

  @Test
  void readsTimestampsAndExemplars() {
    String om =
        """
        # TYPE rpc_duration_seconds histogram
        rpc_duration_seconds_bucket{le="1"} 3 1700000000.123 # {trace_id="abc"} 0.67 1700000000.1
        rpc_duration_seconds_bucket{le="+Inf"} 4
        rpc_duration_seconds_count 4
        rpc_duration_seconds_sum 2.5
        # EOF
        """;
    assertEquals(
        3,
        value(
            Exposition.parse(om, Format.OPENMETRICS),
            "rpc_duration_seconds_bucket",
            Map.of("le", "1")));
    String text = "# a comment\n\nhttp_requests_total{code=\"200\",} 1027 1395066363000\n  \n";
    assertEquals(
        1027,
        value(
            Exposition.parse(text, Format.PROMETHEUS_TEXT),
            "http_requests_total",
            Map.of("code", "200")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"vllm.txt", "tgi.txt", "triton.txt"})
  void readsServerSamples(String file) throws IOException {
    try (InputStream in = getClass().getResourceAsStream(file)) {
      List<Sample> samples =
          Exposition.parse(
              new String(in.readAllBytes(), StandardCharsets.UTF_8), Format.PROMETHEUS_TEXT);
      assertTrue(samples.size() >= 5);
    }
  }

  @Test
  void serverSamplesGiveTheirQueues() throws Exception {
    assertEquals(9, Samples.pick(sample("vllm.txt"), WAITING, Map.of()));
    assertEquals(
        0.8125,
        Samples.pick(
            sample("vllm.txt"), "vllm:kv_cache_usage_perc", Map.of("model_name", "Qwen/Qwen3-8B")));
    assertEquals(5, Samples.pick(sample("tgi.txt"), "tgi_queue_size", Map.of()));
    assertEquals(
        7,
        Samples.pick(
            sample("triton.txt"),
            "nv_inference_pending_request_count",
            Map.of("model", "tensorrt_llm")));
    MetricException ambiguous =
        assertThrows(
            MetricException.class,
            () ->
                Samples.pick(sample("triton.txt"), "nv_inference_pending_request_count", Map.of()));
    assertEquals("AmbiguousMetric", ambiguous.reason());
    assertEquals(
        "MetricMissing",
        assertThrows(
                MetricException.class,
                () -> Samples.pick(sample("vllm.txt"), WAITING, Map.of("model_name", "other")))
            .reason());
    assertEquals(
        "MetricMissing",
        assertThrows(
                MetricException.class, () -> Samples.pick(sample("tgi.txt"), "tgi_queue", Map.of()))
            .reason());
  }

  @Test
  void nonFiniteSamplesAreNoReading() {
    for (String v : List.of("NaN", "+Inf", "-Inf")) {
      List<Sample> samples = Exposition.parse(WAITING + " " + v + "\n", Format.PROMETHEUS_TEXT);
      assertEquals(
          "InvalidMetricValue",
          assertThrows(MetricException.class, () -> Samples.pick(samples, WAITING, Map.of()))
              .reason());
    }
  }

  private List<Sample> sample(String file) throws IOException {
    try (InputStream in = getClass().getResourceAsStream(file)) {
      return Exposition.parse(
          new String(in.readAllBytes(), StandardCharsets.UTF_8), Format.PROMETHEUS_TEXT);
    }
  }

  @ParameterizedTest(name = "text: {0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      no newline at the end           | x 1
      value missing                   | 'x\n'
      value not a number              | 'x one\n'
      hex value                       | 'x 0x1A\n'
      Java-only infinity              | 'x Infinity\n'
      float timestamp                 | 'x 1 1.5\n'
      text after timestamp            | 'x 1 1000 extra\n'
      unterminated labels             | 'x{a="1" 1\n'
      unterminated label value        | 'x{a="1} 1\n'
      unquoted label value            | 'x{a=1} 1\n'
      bad escape                      | 'x{a="\\t"} 1\n'
      duplicate label                 | 'x{a="1",a="2"} 1\n'
      label starting with a digit     | 'x{1a="1"} 1\n'
      name starting with a digit      | '1x 1\n'
      unknown type                    | '# TYPE x speedometer\nx 1\n'
      second TYPE                     | '# TYPE x gauge\n# TYPE x gauge\nx 1\n'
      TYPE after samples              | 'x 1\n# TYPE x gauge\n'
      second HELP                     | '# HELP x a\n# HELP x b\nx 1\n'
      HELP with a bad escape          | '# HELP x a\\tb\nx 1\n'
      HTML error page                 | '<html><body>502 Bad Gateway</body></html>\n'
      """)
  void rejectsMalformedText(String what, String body) {
    String text = body.replace("\\n", "\n").replace("\\\\", "\\");
    assertThrows(
        MalformedException.class, () -> Exposition.parse(text, Format.PROMETHEUS_TEXT), what);
  }

  @ParameterizedTest(name = "OpenMetrics: {0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      no EOF (truncated)              | 'x 1\n'
      content after EOF               | 'x 1\n# EOF\ny 2\n'
      blank line                      | 'x 1\n\n# EOF\n'
      plain comment                   | '# hello\nx 1\n# EOF\n'
      counter without _total          | '# TYPE x counter\nx 1\n# EOF\n'
      unit not a suffix               | '# TYPE x_seconds gauge\n# UNIT x_seconds bytes\nx_seconds 1\n# EOF\n'
      interleaved families            | '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n# EOF\n'
      carriage return                 | 'x 1\r\n# EOF\n'
      integer-ms timestamp is fine but tab is not | 'x\t1\n# EOF\n'
      trailing comma                  | 'x{a="1",} 1\n# EOF\n'
      exemplar without labels         | 'x 1 # 0.5\n# EOF\n'
      """)
  void rejectsMalformedOpenMetrics(String what, String body) {
    String text = body.replace("\\n", "\n").replace("\\r", "\r");
    assertThrows(MalformedException.class, () -> Exposition.parse(text, Format.OPENMETRICS), what);
  }

  @Test
  void emptyTextIsNoSamplesButEmptyOpenMetricsIsTruncated() {
    assertEquals(List.of(), Exposition.parse("", Format.PROMETHEUS_TEXT));
    assertThrows(MalformedException.class, () -> Exposition.parse("", Format.OPENMETRICS));
  }

  @Test
  void errorsNameTheLine() {
    MalformedException e =
        assertThrows(
            MalformedException.class,
            () -> Exposition.parse("a 1\nb 2\nc three\n", Format.PROMETHEUS_TEXT));
    assertTrue(e.getMessage().startsWith("line 3:"), e.getMessage());
  }
}
