package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.events.EventRecorder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true)
class ColdStartLedgerTest {
  KubernetesClient client;

  @Test
  void eachColdStartIsAnnouncedOnceThoughTheStatusLagsBehind() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    var ledger =
        new ColdStartLedger(
            new EventRecorder(client, Clock.systemUTC(), "test"), new ColdStartMetrics(registry));
    InferenceEndpoint ie = qwen();
    List<Pod> pods = List.of(new ServingPods.Life("a").pod(ie));

    ColdStart first = ledger.account(ie, pods);
    // The next round still reads the status from before the patch that recorded it.
    ColdStart again = ledger.account(ie, pods);
    assertEquals(1, first.getCount());
    assertEquals(first, again, "the record is the same: the status gets it once");
    assertEquals(
        1, registry.get("warmstart.coldstart.phase").tag("phase", "total").summary().count());
    assertEquals(
        1,
        client
            .resources(Event.class)
            .inNamespace(ie.getMetadata().getNamespace())
            .list()
            .getItems()
            .stream()
            .filter(e -> "ColdStart".equals(e.getReason()))
            .count());

    InferenceEndpointStatus recorded = new InferenceEndpointStatus();
    recorded.setColdStart(first);
    ie.setStatus(recorded);
    assertEquals(first, ledger.account(ie, pods), "recorded: nothing new");

    ledger.retainOnly(Set.<ResourceID>of()::contains);
    ie.setStatus(null);
    ledger.account(ie, pods);
    assertEquals(
        2,
        registry.get("warmstart.coldstart.phase").tag("phase", "total").summary().count(),
        "a forgotten endpoint starts a fresh ledger");
  }
}
