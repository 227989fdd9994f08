package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec;
import io.fabric8.kubernetes.api.model.FieldsV1;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AutoscalerTest {
  private static Deployment managedBy(String manager, String operation, Map<String, Object> spec) {
    FieldsV1 fields = new FieldsV1();
    fields.setAdditionalProperty("f:spec", spec);
    return new DeploymentBuilder()
        .withNewMetadata()
        .withName("d")
        .addToManagedFields(
            new ManagedFieldsEntryBuilder()
                .withManager(manager)
                .withOperation(operation)
                .withFieldsV1(fields)
                .build())
        .endMetadata()
        .build();
  }

  @Test
  void ownsReplicasOnlyWhenItsApplyHoldsTheField() {
    assertTrue(
        Autoscaler.ownsReplicas(
            managedBy(Autoscaler.FIELD_MANAGER, "Apply", Map.of("f:replicas", Map.of()))));
    assertFalse(
        Autoscaler.ownsReplicas(
            managedBy(Autoscaler.FIELD_MANAGER, "Apply", Map.of("f:template", Map.of()))));
    assertFalse(
        Autoscaler.ownsReplicas(
            managedBy("inferenceendpoint", "Apply", Map.of("f:replicas", Map.of()))));
    assertFalse(
        Autoscaler.ownsReplicas(
            managedBy(Autoscaler.FIELD_MANAGER, "Update", Map.of("f:replicas", Map.of()))));
    assertFalse(
        Autoscaler.ownsReplicas(
            new DeploymentBuilder().withNewMetadata().withName("d").endMetadata().build()));
  }

  @Test
  void pollIntervalDefaultsToTwoSecondsAndHasAFloor() {
    Autoscaling a = new Autoscaling();
    assertEquals(Duration.ofSeconds(2), Autoscaler.pollInterval(a));
    a.setPollInterval("1s");
    assertEquals(Duration.ofSeconds(1), Autoscaler.pollInterval(a));
    a.setPollInterval("10ms");
    assertEquals(Duration.ofMillis(250), Autoscaler.pollInterval(a));
  }

  /** A clock the test moves by hand. */
  private static final class ManualClock extends Clock {
    Instant now = Instant.parse("2026-11-27T12:00:00Z");

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  @Test
  void forgetsEndpointsThatHaveNoRoundForAnHour() throws Exception {
    HttpServer prometheus = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    prometheus.createContext(
        "/api/v1/query",
        ex -> {
          byte[] body =
              "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"4\"]}}"
                  .getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(200, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        });
    prometheus.start();
    try {
      ManualClock clock = new ManualClock();
      AutoscaleMetrics metrics = new AutoscaleMetrics(new SimpleMeterRegistry());
      // No API calls happen: the count stays at 1 and the Deployment shows the field as ours.
      Autoscaler autoscaler =
          new Autoscaler(
              null,
              new MetricReader(null, clock, Duration.ofSeconds(1), metrics),
              null,
              metrics,
              clock);
      Deployment deployment =
          managedBy(Autoscaler.FIELD_MANAGER, "Apply", Map.of("f:replicas", Map.of()));
      deployment.setSpec(new io.fabric8.kubernetes.api.model.apps.DeploymentSpec());
      deployment.getSpec().setReplicas(1);
      deployment.getMetadata().setUid("d-uid");

      autoscaler.run(endpoint("a", prometheus.getAddress().getPort()), deployment, List.of(), 8000);
      clock.now = clock.now.plus(Duration.ofMinutes(59));
      Autoscaler.Outcome b =
          autoscaler.run(
              endpoint("b", prometheus.getAddress().getPort()), deployment, List.of(), 8000);
      assertEquals(1, b.desiredReplicas());
      assertEquals(2, autoscaler.remembered());
      clock.now = clock.now.plus(Duration.ofMinutes(2));
      autoscaler.run(endpoint("b", prometheus.getAddress().getPort()), deployment, List.of(), 8000);
      assertEquals(1, autoscaler.remembered(), "a had no round for 61 minutes");
    } finally {
      prometheus.stop(0);
    }
  }

  private static InferenceEndpoint endpoint(String name, int prometheusPort) {
    Autoscaling.MetricTarget target = new Autoscaling.MetricTarget();
    target.setType("AverageValue");
    target.setAverageValue(new Quantity("4"));
    Autoscaling.PrometheusMetric query = new Autoscaling.PrometheusMetric();
    query.setAddress("http://127.0.0.1:" + prometheusPort);
    query.setQuery("sum(x)");
    query.setTarget(target);
    Autoscaling.MetricSpec metric = new Autoscaling.MetricSpec();
    metric.setType("Prometheus");
    metric.setPrometheus(query);
    Autoscaling a = new Autoscaling();
    a.setMaxReplicas(4);
    a.setMetrics(List.of(metric));
    InferenceEndpoint ie = new InferenceEndpoint();
    ie.getMetadata().setName(name);
    ie.getMetadata().setNamespace("ns");
    ie.getMetadata().setUid(name + "-uid");
    ie.setSpec(new InferenceEndpointSpec());
    ie.getSpec().setAutoscaling(a);
    return ie;
  }
}
