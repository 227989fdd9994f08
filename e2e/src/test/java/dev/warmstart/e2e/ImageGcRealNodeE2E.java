package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The kubelet's image garbage collector against an ImageCache: an image the cache holds survives a
 * collection that removes everything else unused, and once the cache is deleted the next collection
 * removes that image too.
 *
 * <p>Slow by nature, about 6 minutes: the kubelet collects images every 5 minutes (a constant in
 * the kubelet, not a setting); its first attempt, right after it starts, fails while its image
 * statistics are not initialised; and it takes stock of the node's images only when it starts,
 * every 5 minutes after, and when it collects, so an image it first sees in a collection is too
 * young for that collection (imageMinimumGCAge, 1 s here; 0 would mean the default, 2 minutes). So
 * the test adds two nodes whose kubelets collect as hard as they can (whenever the disk is over 1%
 * full, down to 0%), sets both cases up, restarts the two kubelets (the containers keep running) so
 * that they see the images at once, and lets their first real collection, 5 minutes later, show
 * both cases: node A keeps the image its cache holds while an unused image there goes; node B,
 * whose cache was deleted, loses the image.
 */
@Tag("real-node")
class ImageGcRealNodeE2E {
  private static final Map<String, String> AGGRESSIVE_GC =
      Map.of("REAL_IMAGE_GC_HIGH", "1", "REAL_IMAGE_GC_LOW", "0", "REAL_IMAGE_GC_MIN_AGE", "1s");
  private static KubernetesClient client;
  private static final List<String> added = new ArrayList<>();

  @BeforeAll
  static void start() {
    client = RealNodes.prepare();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.resources(ImageCache.class).inNamespace(RealNodes.NAMESPACE).delete();
      client.close();
    }
    added.forEach(RealNodes::removeNode);
  }

  @Test
  void aCachedImageSurvivesTheKubeletsImageGcAndGoesOnceTheCacheIsDeleted() {
    String image = RealNodes.get("SERVER_IMAGE");
    String unused =
        RealNodes.paddedServerImage(200); // another image ID: the server image's names share theirs
    String kept = RealNodes.addNode(AGGRESSIVE_GC);
    added.add(kept);
    String dropped = RealNodes.addNode(AGGRESSIVE_GC);
    added.add(dropped);
    long joined = System.nanoTime();
    cache("gc-kept", image, kept);
    cache("gc-dropped", image, dropped);
    for (String name : List.of("gc-kept", "gc-dropped")) {
      RealNodes.await(
          name + " cached",
          Duration.ofMinutes(2),
          () -> cache(name),
          c -> c.getStatus() != null && Conditions.isTrue(c.getStatus().getConditions(), "Ready"));
    }
    // An image nothing uses on the kept node: the proof that a collection ran there.
    RealNodes.ctr(kept, "images", "pull", "--plain-http", unused);
    assertTrue(RealNodes.images(kept).contains(unused));
    client
        .resources(ImageCache.class)
        .inNamespace(RealNodes.NAMESPACE)
        .withName("gc-dropped")
        .delete();
    RealNodes.await(
        "gc-dropped's pod gone",
        Duration.ofMinutes(1),
        () ->
            client
                .pods()
                .inNamespace(RealNodes.NAMESPACE)
                .withLabel(Labels.IMAGE_CACHE, "imagecache-gc-dropped")
                .list()
                .getItems(),
        List::isEmpty);
    assertTrue(RealNodes.images(dropped).contains(image), "still there until the kubelet collects");
    for (String node : List.of(kept, dropped)) {
      RealNodes.kubelet("stop", node);
      RealNodes.kubelet("start", node);
    }
    long restarted = System.nanoTime();

    RealNodes.await(
        "the kubelets' image collection on " + kept + " and " + dropped,
        Duration.ofMinutes(7),
        () -> List.of(RealNodes.images(kept), RealNodes.images(dropped)),
        images -> !images.get(0).contains(unused) && !images.get(1).contains(image));
    System.out.printf(
        "real-node e2e: image GC ran %.0f s after the kubelets restarted, %.0f s after the nodes joined%n",
        (System.nanoTime() - restarted) / 1e9, (System.nanoTime() - joined) / 1e9);
    assertTrue(
        RealNodes.images(kept).contains(image),
        "the cached image survived the collection on " + kept);
    ImageCache survivor = cache("gc-kept");
    assertTrue(
        Conditions.isTrue(survivor.getStatus().getConditions(), "Ready"),
        survivor.getStatus().toString());
    assertEquals(1, survivor.getStatus().getNodes().getCached());
  }

  private static void cache(String name, String image, String node) {
    Cluster.applyYaml(
        client,
        """
        apiVersion: warmstart.dev/v1alpha1
        kind: ImageCache
        metadata: {name: %s, namespace: %s}
        spec:
          images: [%s]
          nodeSelector: {kubernetes.io/hostname: %s}
          tolerations: %s
        """
            .formatted(name, RealNodes.NAMESPACE, image, node, RealNodes.tolerationsYaml()),
        "e2e");
  }

  private static ImageCache cache(String name) {
    return client.resources(ImageCache.class).inNamespace(RealNodes.NAMESPACE).withName(name).get();
  }
}
