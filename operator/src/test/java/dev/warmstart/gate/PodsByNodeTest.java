package dev.warmstart.gate;

import static dev.warmstart.gate.TestPods.running;
import static dev.warmstart.gate.TestPods.serving;
import static dev.warmstart.gate.TestPods.withInit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The informer side of the gate against Fabric8's mock API server: selection, node index, change
 * events.
 */
@EnableKubernetesMockClient(crud = true)
class PodsByNodeTest {
  private static final String IMAGE = "vllm/vllm-openai:v0.11.0";
  KubernetesClient client;

  @Test
  void indexesManagedPodsByNodeAndReportsChanges() throws Exception {
    client.resource(serving("a", "node-1", IMAGE, true)).create();
    client.resource(serving("b", "node-2", IMAGE, true)).create();
    client
        .resource(
            new PodBuilder(serving("foreign", "node-1", IMAGE, true))
                .editMetadata()
                .removeFromLabels(Labels.MANAGED_BY)
                .endMetadata()
                .build())
        .create();

    try (PodsByNode pods = new PodsByNode(client, Set.of())) {
      LinkedBlockingQueue<String> changes = new LinkedBlockingQueue<>();
      pods.onNodeChange(changes::add);
      pods.start();
      await(pods::isReady);

      assertEquals(List.of("a"), names(pods.onNode("node-1")), "only warmstart-managed pods");
      assertEquals(List.of("b"), names(pods.onNode("node-2")));
      assertTrue(pods.get(TestPods.NAMESPACE, "a").isPresent());
      assertFalse(pods.get(TestPods.NAMESPACE, "foreign").isPresent());
      awaitChange(changes, "node-1");
      awaitChange(changes, "node-2");
      changes.clear();

      Pod a = client.pods().inNamespace(TestPods.NAMESPACE).withName("a").get();
      client.resource(withInit(a, HelperContract.CONTAINER_FETCH_MODEL, running())).updateStatus();
      awaitChange(changes, "node-1");
      await(() -> pods.get(TestPods.NAMESPACE, "a").map(p -> p.getStatus() != null).orElse(false));

      client.pods().inNamespace(TestPods.NAMESPACE).withName("b").delete();
      awaitChange(changes, "node-2");
      await(() -> pods.onNode("node-2").isEmpty());
    }
  }

  @Test
  void watchesOnlyTheGivenNamespaces() throws Exception {
    client.resource(serving("a", "node-1", IMAGE, true)).create();
    client
        .resource(
            new PodBuilder(serving("elsewhere", "node-1", IMAGE, true))
                .editMetadata()
                .withNamespace("other")
                .endMetadata()
                .build())
        .create();
    try (PodsByNode pods = new PodsByNode(client, Set.of(TestPods.NAMESPACE))) {
      pods.start();
      await(pods::isReady);
      assertEquals(List.of("a"), names(pods.onNode("node-1")));
      assertFalse(pods.get("other", "elsewhere").isPresent());
    }
  }

  private static List<String> names(List<Pod> pods) {
    return pods.stream().map(p -> p.getMetadata().getName()).sorted().toList();
  }

  /**
   * The informer reports asynchronously: its initial adds may still come in after it has synced.
   */
  private static void awaitChange(LinkedBlockingQueue<String> changes, String node)
      throws InterruptedException {
    long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < until) {
      if (node.equals(changes.poll(100, TimeUnit.MILLISECONDS))) {
        return;
      }
    }
    throw new AssertionError("no change reported on " + node + " within 10s");
  }

  private static void await(BooleanSupplier condition) throws InterruptedException {
    long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > until) {
        throw new AssertionError("condition not met within 10s");
      }
      Thread.sleep(20);
    }
  }
}
