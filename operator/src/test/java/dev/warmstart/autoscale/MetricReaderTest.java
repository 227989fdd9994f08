package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.autoscale.Recommender.Reading;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Scrapes over real HTTP on loopback: one address per pod (127.0.0.1, .2, ...), all on one port.
 */
class MetricReaderTest {
  private final List<HttpServer> servers = new ArrayList<>();
  private final MetricReader reader =
      new MetricReader(
          null,
          Clock.systemUTC(),
          Duration.ofMillis(500),
          new AutoscaleMetrics(new SimpleMeterRegistry()));

  @AfterEach
  void stop() {
    servers.forEach(s -> s.stop(0));
  }

  private int serve(String ip, int port, String contentType, String body, long delayMillis)
      throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(ip, port), 0);
    server.createContext(
        "/metrics",
        ex -> {
          try {
            Thread.sleep(delayMillis);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
          ex.getResponseHeaders().set("Content-Type", contentType);
          ex.sendResponseHeaders(200, bytes.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
          } catch (IOException ignored) {
            // the reader gave up on this pod
          }
        });
    server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    server.start();
    servers.add(server);
    return server.getAddress().getPort();
  }

  private static Pod pod(String name, String ip) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewStatus()
        .withPodIP(ip)
        .endStatus()
        .build();
  }

  private static Autoscaling.PodsMetric waiting(int port) {
    Autoscaling.PodsMetric m = new Autoscaling.PodsMetric();
    m.setName("vllm:num_requests_waiting");
    m.setPort(port);
    return m;
  }

  @Test
  void podsThatDoNotAnswerInTimeOrRefuseAreUnansweredAndDoNotStallTheRound() throws IOException {
    int port =
        serve("127.0.0.1", 0, "text/plain; version=0.0.4", "vllm:num_requests_waiting 6\n", 0);
    serve("127.0.0.2", port, "text/plain; version=0.0.4", "vllm:num_requests_waiting 9\n", 3000);
    serve(
        "127.0.0.4",
        port,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting 2\n# EOF\n",
        0);
    long start = System.nanoTime();
    MetricReader.Result r =
        reader.readPods(
            waiting(port),
            List.of(
                pod("answers", "127.0.0.1"),
                pod("hangs", "127.0.0.2"),
                pod("refuses", "127.0.0.3"),
                pod("openmetrics", "127.0.0.4"),
                pod("no-ip", null)),
            8000,
            "ns",
            "ep");
    double seconds = (System.nanoTime() - start) / 1e9;
    assertTrue(seconds < 2, "the round waited " + seconds + " s for a hanging pod");
    Reading.PerPod perPod = assertInstanceOf(Reading.PerPod.class, r.reading());
    assertEquals(Map.of("answers", 6.0, "openmetrics", 2.0), perPod.values());
    assertEquals(3, perPod.unanswered());
    assertEquals(8.0, r.value());
    assertEquals(4.0, r.average());
    assertEquals(2, r.podsRead());
    assertTrue(
        r.error()
            .contains("pod hangs: GET http://127.0.0.2:" + port + "/metrics: no answer in time"),
        r.error());
    assertTrue(
        r.error()
            .contains("pod refuses: GET http://127.0.0.3:" + port + "/metrics: cannot connect"),
        r.error());
  }

  @Test
  void noPodAnsweringIsAFailureAndNoReadyPodIsAColdStart() throws IOException {
    int port = serve("127.0.0.1", 0, "text/plain", "<html>502 Bad Gateway</html>\n", 0);
    MetricReader.Result broken =
        reader.readPods(waiting(port), List.of(pod("a", "127.0.0.1")), 8000, "ns", "ep");
    Reading.Failed failed = assertInstanceOf(Reading.Failed.class, broken.reading());
    assertEquals("FailedGetPodsMetric", failed.reason());
    assertTrue(failed.message().contains("malformed exposition"), failed.message());

    Reading.Failed starting =
        assertInstanceOf(
            Reading.Failed.class,
            reader.readPods(waiting(port), List.of(), 8000, "ns", "ep").reading());
    assertEquals(MetricReader.NO_READY_PODS, starting.reason());
  }

  @Test
  void prometheusThatIsDownHolds() {
    Autoscaling.PrometheusMetric m = new Autoscaling.PrometheusMetric();
    m.setAddress("http://127.0.0.1:1");
    m.setQuery("sum(vllm:num_requests_waiting)");
    Reading.Failed failed =
        assertInstanceOf(Reading.Failed.class, reader.readPrometheus(m, "ns", "ep", 3).reading());
    assertEquals("FailedPrometheusQuery", failed.reason());
    assertTrue(failed.message().contains("cannot connect"), failed.message());
  }
}
