package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A warm pool of one node on the two real GPU nodes (one GPU each): the placeholder pins the
 * serving image (200 MiB heavier than the plain model-server) and the weights on its node, a
 * scale-out lands there by the scheduler's real preemption and starts warm, and a replica on a node
 * that just joined (behind a 200 Mbit/s link, nothing pulled) starts cold. Both are measured by the
 * operator in status.coldStart.
 */
@Tag("real-node")
class WarmPoolRealNodeE2E {
  private static final Duration START = Duration.ofMinutes(4);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = RealNodes.prepare();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.resources(InferenceEndpoint.class).inNamespace(RealNodes.NAMESPACE).delete();
      client.close();
    }
  }

  @Test
  void aScaleOutPreemptsThePlaceholderAndStartsInAFractionOfAColdNodesTime() throws Exception {
    String image = RealNodes.paddedServerImage(200);
    String cachePath = "/var/lib/warmstart/e2e-warm-pool-cache";
    RealNodes.nodes().forEach(n -> RealNodes.deleteOnNode(n, cachePath));
    RealEndpoint llm =
        RealEndpoint.named("warm")
            .with("image", image)
            .nodeCache(Path.of(cachePath))
            .with("replicas", "1")
            .with("warmPool", "{replicas: 1}");
    String coldNode = null;
    try {
      llm.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "one replica Ready and one node warm",
              START,
              () -> llm.get(client),
              e ->
                  RealEndpoint.readyReplicas(e) == 1
                      && RealEndpoint.is(e, "WarmPoolReady", "True", "Warm"));
      String warmNode = ie.getStatus().getWarmPool().getNodes().get(0);
      Pod first = llm.pods(client).get(0);
      assertNotEquals(
          warmNode,
          first.getSpec().getNodeName(),
          "one GPU per node: the placeholder holds its own");
      Pod placeholder = placeholders().get(0);
      assertEquals(warmNode, placeholder.getSpec().getNodeName());
      // The placeholder pinned the image on its node (its running container) and put the weights in
      // the cache.
      assertTrue(RealNodes.images(warmNode).contains(image), warmNode + " holds " + image);
      assertFalse(
          JSON.readTree(RealEndpoint.fetchSummary(placeholder)).get("cacheHit").asBoolean());
      System.out.println(
          Cluster.kubectl("get", "ie,pods", "-n", RealNodes.NAMESPACE, "-o", "wide"));

      // Scale out: the new replica is sent to the warm node, where the scheduler preempts the
      // placeholder.
      Cluster.kubectl("scale", "ie/warm", "-n", RealNodes.NAMESPACE, "--replicas=2");
      ie =
          RealNodes.await(
              "the warm start recorded",
              START,
              () -> llm.get(client),
              e -> RealEndpoint.coldStarts(e) >= 2 && RealEndpoint.readyReplicas(e) == 2);
      Pod second =
          llm.pods(client).stream()
              .filter(p -> !p.getMetadata().getName().equals(first.getMetadata().getName()))
              .findFirst()
              .orElseThrow();
      assertEquals(warmNode, second.getSpec().getNodeName(), "it took the warm node");
      List<Event> events =
          client.resources(Event.class).inNamespace(RealNodes.NAMESPACE).list().getItems();
      assertTrue(
          events.stream()
              .anyMatch(
                  e ->
                      "Preempted".equals(e.getReason())
                          && placeholder
                              .getMetadata()
                              .getName()
                              .equals(e.getRegarding().getName())),
          "the placeholder preempted");
      assertTrue(
          events.stream()
              .anyMatch(
                  e ->
                      "WarmPlacement".equals(e.getReason())
                          && e.getNote().contains(second.getMetadata().getName())),
          "the WarmPlacement event");
      assertTrue(
          JSON.readTree(RealEndpoint.fetchSummary(second)).get("cacheHit").asBoolean(),
          "weights from the cache");
      Phases warm = RealEndpoint.coldStartOf(ie, second.getMetadata().getName()).orElseThrow();
      assertEquals("Warm", warm.getPlacement());

      // A third replica has no warm node (the displaced placeholder waits for a GPU too) until a
      // new node joins,
      // with nothing pulled and an empty /var/lib/warmstart of its own: the replica, of higher
      // priority, takes it.
      Cluster.kubectl("scale", "ie/warm", "-n", RealNodes.NAMESPACE, "--replicas=3");
      RealNodes.await(
          "the third replica waits for a GPU",
          Duration.ofMinutes(1),
          () -> llm.get(client),
          e -> RealEndpoint.is(e, "Ready", "False", "Unschedulable"));
      coldNode = RealNodes.addNode();
      RealNodes.shape(coldNode, 200);
      String newNode = coldNode;
      ie =
          RealNodes.await(
              "the cold start on " + coldNode + " recorded",
              START,
              () -> llm.get(client),
              e ->
                  RealEndpoint.readyReplicas(e) == 3
                      && e.getStatus().getColdStart().getRecent().stream()
                          .anyMatch(p -> newNode.equals(p.getNode())));
      Phases cold =
          ie.getStatus().getColdStart().getRecent().stream()
              .filter(p -> newNode.equals(p.getNode()))
              .findFirst()
              .orElseThrow();
      assertEquals("Cold", cold.getPlacement());
      Pod third =
          llm.pods(client).stream()
              .filter(p -> newNode.equals(p.getSpec().getNodeName()))
              .findFirst()
              .orElseThrow();
      assertFalse(
          JSON.readTree(RealEndpoint.fetchSummary(third)).get("cacheHit").asBoolean(),
          "downloaded");
      System.out.println(
          Cluster.kubectl("get", "ie", "warm", "-n", RealNodes.NAMESPACE, "-o", "wide"));
      System.out.println(
          "real-node e2e: warm start "
              + RealEndpoint.describe(warm)
              + "; cold start on a new node "
              + RealEndpoint.describe(cold));
      // The cold node's time is spent getting the image (its gate waits for the cache's pull, or
      // the kubelet
      // pulls) and the weights; the warm one's in scheduling (the preemption) and the server's
      // start.
      long coldFetch =
          RealEndpoint.seconds(cold.getGateWait())
              + RealEndpoint.seconds(cold.getImagePull())
              + RealEndpoint.seconds(cold.getModelDownload());
      assertTrue(coldFetch >= 5, "200 MiB over 200 Mbit/s: " + RealEndpoint.describe(cold));
      // On the warm node nothing is fetched: the weights came from the node cache (above) and the
      // kubelet found
      // the serving image there. What is left of the gate, download and pull phases is the helpers'
      // own start,
      // which a busy machine stretches: not asserted in seconds.
      assertTrue(
          events.stream()
              .anyMatch(
                  e ->
                      "Pulled".equals(e.getReason())
                          && second.getMetadata().getName().equals(e.getRegarding().getName())
                          && String.valueOf(e.getRegarding().getFieldPath())
                              .contains("{" + HelperContract.CONTAINER_SERVER + "}")
                          && e.getNote().contains("already present on machine")),
          "the serving image already on the warm node: " + RealEndpoint.describe(warm));
      assertTrue(
          2 * RealEndpoint.seconds(warm.getTotal()) <= RealEndpoint.seconds(cold.getTotal()),
          "warm " + warm.getTotal() + " is at most half of cold " + cold.getTotal());
    } finally {
      RealNodes.deleteEndpoint(client, "warm");
      RealNodes.await(
          "placeholders gone",
          Duration.ofMinutes(1),
          WarmPoolRealNodeE2E::placeholders,
          List::isEmpty);
      if (coldNode != null) {
        RealNodes.removeNodeIfPresent(coldNode);
      }
      RealNodes.nodes().forEach(n -> RealNodes.deleteOnNode(n, cachePath));
    }
  }

  private static List<Pod> placeholders() {
    return client
        .pods()
        .inNamespace(RealNodes.NAMESPACE)
        .withLabel(Labels.WARM_POOL, "warm")
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }
}
