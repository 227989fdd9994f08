package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * examples/imagecache.yaml on the local cluster: real kube-controller-manager (DaemonSet
 * controller, garbage collector), real kube-scheduler, KWOK nodes labelled like EKS GPU nodes. The
 * operator runs in this JVM.
 */
class ImageCacheE2E {
  private static final String NS = "ml";
  private static final String NAME = "serving-images";
  @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = CLUSTER.client();
  }

  @Test
  void cachesOnEveryGpuNodeFollowsNewNodesAndCleansUp() throws Exception {
    // A clean start: no cache left over from an earlier run (or from e2e/demo.sh), nor its pods.
    Cluster.deleteAndWait(client, ImageCache.class, NS, NAME);
    Cluster.await("leftover cache pods gone", ImageCacheE2E::cachePods, List::isEmpty);
    List<HasMetadata> applied =
        Cluster.apply(client, Cluster.repoRoot().resolve("examples/imagecache.yaml"));
    assertEquals(2, applied.size());
    Set<String> gpuNodes = gpuNodes();
    assertTrue(
        gpuNodes.size() >= 4, "the local cluster has a GPU pool of at least 4 nodes: " + gpuNodes);

    // One cache pod on every GPU node, none on the CPU node, and the status says every node is
    // cached.
    ImageCache cache =
        Cluster.await(
            "every GPU node cached",
            () -> client.resources(ImageCache.class).inNamespace(NS).withName(NAME).get(),
            c ->
                c.getStatus() != null
                    && c.getStatus().getNodes().getCached() == gpuNodes.size()
                    && Conditions.isTrue(c.getStatus().getConditions(), "Ready"));
    assertEquals(gpuNodes.size(), cache.getStatus().getNodes().getDesired());
    assertEquals(gpuNodes, nodesWithCachePods());
    System.out.println(Cluster.kubectl("get", "ic", "-n", NS));

    // A GPU node that joins later is covered without touching the ImageCache.
    String newNode = "gpu-e2e-" + System.currentTimeMillis() % 100000;
    try {
      Cluster.addGpuNode(newNode);
      Cluster.await(
          "the new node cached",
          () -> client.resources(ImageCache.class).inNamespace(NS).withName(NAME).get(),
          c ->
              c.getStatus().getNodes().getCached() == gpuNodes.size() + 1
                  && c.getStatus().getNodes().getDesired() == gpuNodes.size() + 1);
      assertTrue(nodesWithCachePods().contains(newNode));

      // Deleting the cache removes its DaemonSet and pods (owner references, the real garbage
      // collector).
      client.resources(ImageCache.class).inNamespace(NS).withName(NAME).delete();
      Cluster.await("cache pods gone", ImageCacheE2E::cachePods, List::isEmpty);
      assertTrue(
          client.apps().daemonSets().inNamespace(NS).withName("imagecache-" + NAME).get() == null);
    } finally {
      // Removed last: pods left on a deleted node wait out the pod GC's 40 s quarantine.
      client.nodes().withName(newNode).delete();
    }
  }

  private static Set<String> gpuNodes() {
    return Cluster.fakeGpuNodes(client).stream()
        .map(Node::getMetadata)
        .map(m -> m.getName())
        .collect(Collectors.toSet());
  }

  private static List<Pod> cachePods() {
    // Only this cache's pods: other caches in the namespace (e.g. the demo's endpoint's) are not
    // ours.
    return client
        .pods()
        .inNamespace(NS)
        .withLabel("warmstart.dev/image-cache", "imagecache-" + NAME)
        .list()
        .getItems();
  }

  private static Set<String> nodesWithCachePods() {
    return cachePods().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .map(Pod::getSpec)
        .map(s -> s.getNodeName())
        .collect(Collectors.toSet());
  }
}
