package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Asking a server that is slow to become ready what its health path answers. */
class HealthChecksTest {
  /**
   * The server of {@code name} started at T0 + 205 s and is not ready (started, as the kubelet says
   * of a running container that has no startup probe).
   */
  static Pod starting(InferenceEndpoint ie, String name, String ip) {
    Pod pod = new ServingPods.Life(name).ready(null).pod(ie);
    return new PodBuilder(pod).editStatus().withPodIP(ip).endStatus().build();
  }

  static Instant at(long secondsAfterT0) {
    return ServingPods.T0.plusSeconds(secondsAfterT0);
  }

  @Test
  void asksOnlyServersStartingForLongerThanTheGrace() {
    InferenceEndpoint ie = qwen();
    Pod slow = starting(ie, "slow", "10.0.1.77");
    Pod started = new ServingPods.Life("started").pod(ie);
    Pod noIp = starting(ie, "no-ip", null);
    Pod deleting =
        new PodBuilder(starting(ie, "deleting", "10.0.1.78"))
            .editMetadata()
            .withDeletionTimestamp(ServingPods.at(300))
            .endMetadata()
            .build();
    List<Pod> pods = List.of(slow, started, noIp, deleting);
    assertEquals(
        List.of(),
        HealthChecks.startingLong(pods, at(205).plus(HealthChecks.AFTER).minusMillis(1)));
    assertEquals(List.of(slow), HealthChecks.startingLong(pods, at(205).plus(HealthChecks.AFTER)));
    assertTrue(HealthChecks.anyStarting(pods));
    assertFalse(HealthChecks.anyStarting(List.of(started, deleting)));
    List<Pod> many =
        List.of(
            starting(ie, "d", "10.0.1.4"),
            starting(ie, "a", "10.0.1.1"),
            starting(ie, "c", "10.0.1.3"),
            starting(ie, "b", "10.0.1.2"));
    assertEquals(
        List.of("a", "b", "c"),
        HealthChecks.startingLong(many, at(600)).stream()
            .map(p -> p.getMetadata().getName())
            .toList());
  }

  @Test
  void aServerThatRejectsTheHealthPathIsReportedAndOneStillLoadingIsNot() throws Exception {
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/",
        exchange -> {
          exchange.sendResponseHeaders(
              "/health".equals(exchange.getRequestURI().getPath()) ? 503 : 404, -1);
          exchange.close();
        });
    server.start();
    try {
      InferenceEndpoint ie = qwen();
      ie.getSpec().setPort(server.getAddress().getPort());
      ie.getSpec().setHealthPath("/nope");
      Pod pod = starting(ie, "a", "127.0.0.1");
      HealthChecks checks = new HealthChecks(Duration.ofSeconds(2));
      Map<String, HealthChecks.Answer> answers = checks.check(ie, List.of(pod), at(600));
      assertEquals(Map.of("a", new HealthChecks.Answer(404, null)), answers);
      InferenceEndpointStatus status = EndpointStatusTest.computeWith(ie, List.of(pod), answers);
      Condition degraded =
          EndpointStatusTest.assertCondition(
              status, EndpointStatus.DEGRADED, Condition.TRUE, "HealthCheckFailing");
      EndpointStatusTest.assertContains(
          degraded.getMessage(),
          "pod a",
          "answers GET /nope on port " + server.getAddress().getPort() + " with 404",
          "spec.healthPath",
          ServingPods.at(205));
      EndpointStatusTest.assertCondition(
          status, EndpointStatus.READY, Condition.FALSE, "HealthCheckFailing");

      // The right path, answering 503 while the model loads: still starting, nothing wrong.
      ie.getSpec().setHealthPath("/health");
      answers = checks.check(ie, List.of(pod), at(600));
      assertEquals(503, answers.get("a").status());
      status = EndpointStatusTest.computeWith(ie, List.of(pod), answers);
      EndpointStatusTest.assertCondition(
          status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
      EndpointStatusTest.assertCondition(
          status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
    } finally {
      server.stop(0);
    }
  }

  @Test
  void noAnswerIsNoVerdict() throws Exception {
    int closed;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    InferenceEndpoint ie = qwen();
    ie.getSpec().setPort(closed);
    Pod pod = starting(ie, "a", "127.0.0.1");
    HealthChecks.Answer answer =
        new HealthChecks(Duration.ofSeconds(2)).check(ie, List.of(pod), at(600)).get("a");
    assertNull(answer.status());
    assertNotNull(answer.error(), answer.toString());
    InferenceEndpointStatus status =
        EndpointStatusTest.computeWith(ie, List.of(pod), Map.of("a", answer));
    EndpointStatusTest.assertCondition(
        status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
  }
}
