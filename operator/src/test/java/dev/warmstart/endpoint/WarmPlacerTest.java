package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.WarmPlacementTest.gated;
import static dev.warmstart.endpoint.WarmPlacementTest.placeholder;
import static dev.warmstart.endpoint.WarmPlacementTest.withWarmPool;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.events.EventRecorder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient
class WarmPlacerTest {
  KubernetesMockServer server;
  KubernetesClient client;

  /** A clock the test moves. */
  static final class Hands extends Clock {
    Instant now = ServingPods.T0;

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  String path(Pod pod) {
    return "/api/v1/namespaces/"
        + pod.getMetadata().getNamespace()
        + "/pods/"
        + pod.getMetadata().getName();
  }

  List<RecordedRequest> requests() throws InterruptedException {
    List<RecordedRequest> seen = new ArrayList<>();
    for (RecordedRequest r; (r = server.takeRequest(100, TimeUnit.MILLISECONDS)) != null; ) {
      seen.add(r);
    }
    return seen;
  }

  String patchOf(List<RecordedRequest> requests, Pod pod) {
    return requests.stream()
        .filter(r -> r.getMethod().equals("PATCH") && r.getPath().equals(path(pod)))
        .map(r -> r.getBody().readUtf8())
        .findFirst()
        .orElseThrow();
  }

  @Test
  void aPodThatCannotReachItsWarmNodeIsDeletedAndTheNodeLeftOutForAWhile() throws Exception {
    InferenceEndpoint ie = withWarmPool(1);
    Hands clock = new Hands();
    var placer =
        new WarmPlacer(
            new EventRecorder(client, clock, "test"),
            new ColdStartMetrics(new SimpleMeterRegistry()),
            clock,
            WarmPlacement.STUCK_AFTER);
    List<Pod> placeholders = List.of(placeholder(ie, "p", "gpu-a", true));
    Pod stuck = WarmPlacementTest.sentToWarmNodeButUnschedulable(ie, "old", "gpu-a");
    Pod first = gated(ie, "new", 20);
    server.expect().delete().withPath(path(stuck)).andReturn(200, stuck).once();
    server.expect().patch().withPath(path(first)).andReturn(200, first).once();
    clock.now = ServingPods.T0.plusSeconds(10).plus(WarmPlacement.STUCK_AFTER);

    placer.place(ie, List.of(stuck, first), placeholders, client);
    List<RecordedRequest> round = requests();
    assertTrue(
        round.stream()
            .anyMatch(r -> r.getMethod().equals("DELETE") && r.getPath().equals(path(stuck))),
        "the stuck pod is deleted, for its ReplicaSet to make another");
    assertTrue(
        round.stream()
            .anyMatch(
                r ->
                    r.getMethod().equals("POST")
                        && r.getBody().readUtf8().contains("WarmNodeUnreachable")),
        "and the user is told why");
    assertFalse(patchOf(round, first).contains("gpu-a"));

    // Its replacement, once the stuck pod is gone: gpu-a is still left out.
    Pod second = gated(ie, "second", 90);
    server.expect().patch().withPath(path(second)).andReturn(200, second).once();
    clock.now = clock.now.plusSeconds(60);
    placer.place(ie, List.of(second), placeholders, client);
    assertFalse(
        patchOf(requests(), second).contains("gpu-a"), "gpu-a was unreachable a minute ago");

    Pod third = gated(ie, "third", 700);
    server.expect().patch().withPath(path(third)).andReturn(200, third).once();
    clock.now = clock.now.plus(WarmPlacer.UNREACHABLE_FOR);
    placer.place(ie, List.of(third), placeholders, client);
    assertTrue(
        patchOf(requests(), third).contains("gpu-a"), "after a while gpu-a is offered again");
  }
}
