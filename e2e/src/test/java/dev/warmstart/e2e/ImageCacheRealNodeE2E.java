package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.PullFailure;
import dev.warmstart.imagecache.CacheDaemonSetModel;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * ImageCache on real kubelets with containerd, pulling from the local registry: what is cached is
 * what the registry serves, nothing of the image runs but the pause binary, and what the kubelet
 * says when a pull fails reaches the status. (Image garbage collection is {@link
 * ImageGcRealNodeE2E}: it takes minutes.)
 */
@Tag("real-node")
class ImageCacheRealNodeE2E {
  private static final Duration PULL = Duration.ofMinutes(3);
  private static KubernetesClient client;

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
  }

  @Test
  void cachesWhatTheRegistryServesAndRunsOnlyThePauseBinaryAsNonRoot() {
    String image = RealNodes.get("SERVER_IMAGE");
    List<String> nodes = RealNodes.nodes(client);
    apply("serving", image, "");
    ImageCache cache =
        awaitCache(
            "serving",
            c ->
                Conditions.isTrue(c.getStatus().getConditions(), "Ready")
                    && c.getStatus().getNodes().getCached() == nodes.size());
    assertEquals(
        nodes.size(),
        cache.getStatus().getNodes().getDesired(),
        cache.getStatus().getNodes().toString());
    // The digest in status is the one the registry serves for the tag, read from the containers'
    // imageID.
    assertEquals(
        RealNodes.get("SERVER_IMAGE_DIGEST"), cache.getStatus().getImages().get(0).getDigest());
    assertEquals(nodes.size(), cache.getStatus().getImages().get(0).getCachedNodes());

    List<Pod> pods = cachePods("serving");
    assertEquals(nodes, pods.stream().map(p -> p.getSpec().getNodeName()).sorted().toList());
    for (Pod pod : pods) {
      String node = pod.getSpec().getNodeName();
      ContainerStatus container =
          RealEndpoint.container(pod, CacheDaemonSetModel.containerName(image)).orElseThrow();
      assertTrue(
          container.getImageID().endsWith("@" + RealNodes.get("SERVER_IMAGE_DIGEST")),
          container.getImageID());
      assertTrue(
          RealNodes.images(node).contains(image), "containerd on " + node + " holds " + image);
      // In the container runs the pause binary alone, as 65532; the image's entrypoint (java) never
      // ran.
      List<RealNodes.HostProcess> processes =
          RealNodes.containerProcesses(node, container.getContainerID());
      assertEquals(
          1, processes.size(), "one process in the cache container on " + node + ": " + processes);
      RealNodes.HostProcess pause = processes.get(0);
      assertEquals(65532, pause.uid(), pause.toString());
      assertEquals(HelperSettings.PAUSE, pause.cmdline(), pause.toString());
      assertEquals(0, container.getRestartCount(), "never restarted: " + container);
      System.out.printf(
          "real-node e2e: %s on %s: %s, pid %d uid %d%n",
          image, node, container.getImageID(), pause.pid(), pause.uid());
    }
    System.out.println(kubectl("get", "ic", "serving"));

    client
        .resources(ImageCache.class)
        .inNamespace(RealNodes.NAMESPACE)
        .withName("serving")
        .delete();
    RealNodes.await(
        "the cache's pods and DaemonSet gone",
        Duration.ofMinutes(1),
        () ->
            cachePods("serving").size()
                + (client
                            .apps()
                            .daemonSets()
                            .inNamespace(RealNodes.NAMESPACE)
                            .withName("imagecache-serving")
                            .get()
                        == null
                    ? 0
                    : 1),
        n -> n == 0);
  }

  @Test
  void aTagTheRegistryLacksIsImagePullFailedWithTheKubeletsMessage() {
    String image = RealNodes.get("REGISTRY") + "/warmstart/model-server:no-such-tag";
    apply("missing-tag", image, "");
    ImageCache cache =
        awaitCache(
            "missing-tag",
            c ->
                is(c, "Degraded", "ImagePullFailed")
                    && c.getStatus().getNodes().getFailed() == RealNodes.nodes(client).size());
    Condition degraded =
        Conditions.find(cache.getStatus().getConditions(), "Degraded").orElseThrow();
    Condition ready = Conditions.find(cache.getStatus().getConditions(), "Ready").orElseThrow();
    System.out.println("real-node e2e: " + degraded.getMessage());
    assertEquals("PullFailed", ready.getReason());
    // containerd's own words, through the kubelet: the registry has no such manifest.
    assertTrue(
        degraded.getMessage().contains(image + "\": not found")
            || degraded.getMessage().contains("no-such-tag: not found"),
        degraded.getMessage());
    PullFailure failure = cache.getStatus().getFailures().get(0);
    assertTrue(
        List.of("ErrImagePull", "ImagePullBackOff").contains(failure.getReason()),
        failure.getReason());
    assertTrue(failure.getMessage().contains("not found"), failure.getMessage());
    assertTrue(RealNodes.nodes(client).contains(failure.getNode()), failure.getNode());
    client
        .resources(ImageCache.class)
        .inNamespace(RealNodes.NAMESPACE)
        .withName("missing-tag")
        .delete();
  }

  /**
   * The model-server image in the private registry (htpasswd): without its pull secret the cache
   * says the secret is missing and the pulls are refused; once the docker-registry Secret exists
   * every node pulls it.
   */
  @Test
  void aPrivateRepositoryIsPulledWithItsPullSecretAndSaysWhenTheSecretIsMissing() {
    String image = RealNodes.get("PRIVATE_REGISTRY") + "/warmstart/model-server:0.1.0";
    String user = RealNodes.get("PRIVATE_REGISTRY_USER");
    String password = RealNodes.get("PRIVATE_REGISTRY_PASSWORD");
    RealNodes.run(
        "skopeo",
        "copy",
        "-q",
        "--dest-tls-verify=false",
        "--dest-creds",
        user + ":" + password,
        "oci-archive:"
            + Cluster.repoRoot().resolve("model-server/target/image/model-server-0.1.0.oci.tar"),
        "docker://" + image);
    forgetOnNodes(
        image); // IfNotPresent: a node that holds the name from an earlier run would not pull
    String secret = "private-pull";
    client.secrets().inNamespace(RealNodes.NAMESPACE).withName(secret).delete();
    try {
      apply("private", image, "  imagePullSecrets: [{name: " + secret + "}]\n");
      ImageCache cache =
          awaitCache(
              "private",
              c ->
                  is(c, "Degraded", "PullSecretNotFound")
                      && !c.getStatus().getFailures().isEmpty());
      Condition degraded =
          Conditions.find(cache.getStatus().getConditions(), "Degraded").orElseThrow();
      assertTrue(
          degraded.getMessage().contains("secret " + secret + " not found"), degraded.getMessage());
      PullFailure refused = cache.getStatus().getFailures().get(0);
      System.out.println(
          "real-node e2e: " + degraded.getMessage() + "; the kubelet: " + refused.getMessage());
      assertTrue(
          refused.getMessage().toLowerCase(Locale.ROOT).contains("unauthorized")
              || refused.getMessage().contains("401"),
          refused.getMessage());

      String auth =
          Base64.getEncoder()
              .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
      client
          .resource(
              new SecretBuilder()
                  .withNewMetadata()
                  .withName(secret)
                  .withNamespace(RealNodes.NAMESPACE)
                  .endMetadata()
                  .withType("kubernetes.io/dockerconfigjson")
                  .addToStringData(
                      ".dockerconfigjson",
                      "{\"auths\":{\""
                          + RealNodes.get("PRIVATE_REGISTRY")
                          + "\":{\"username\":\""
                          + user
                          + "\",\"password\":\""
                          + password
                          + "\",\"auth\":\""
                          + auth
                          + "\"}}}")
                  .build())
          .create();
      // The kubelet retries on its back-off (10 s, doubling); the operator re-reads missing secrets
      // every 30 s.
      cache =
          awaitCache(
              "private",
              c ->
                  Conditions.isTrue(c.getStatus().getConditions(), "Ready")
                      && is(c, "Degraded", "AsExpected"));
      assertEquals(RealNodes.nodes(client).size(), cache.getStatus().getNodes().getCached());
      assertEquals(
          RealNodes.get("SERVER_IMAGE_DIGEST"), cache.getStatus().getImages().get(0).getDigest());
      for (String node : RealNodes.nodes(client)) {
        assertTrue(RealNodes.images(node).contains(image), node + " holds " + image);
      }
      System.out.println(kubectl("get", "ic", "private"));
    } finally {
      client
          .resources(ImageCache.class)
          .inNamespace(RealNodes.NAMESPACE)
          .withName("private")
          .delete();
      RealNodes.await(
          "the private cache's pods gone",
          Duration.ofMinutes(1),
          () -> cachePods("private"),
          List::isEmpty);
      client.secrets().inNamespace(RealNodes.NAMESPACE).withName(secret).delete();
      forgetOnNodes(image);
    }
  }

  /**
   * Removes the image's name from every real node's containerd (its layers stay: other names share
   * them).
   */
  private static void forgetOnNodes(String image) {
    for (String node : RealNodes.nodes(client)) {
      if (RealNodes.images(node).contains(image)) {
        RealNodes.ctr(node, "images", "rm", image);
      }
      assertFalse(RealNodes.images(node).contains(image));
    }
  }

  private static void apply(String name, String image, String more) {
    Cluster.applyYaml(
        client,
        """
        apiVersion: warmstart.dev/v1alpha1
        kind: ImageCache
        metadata: {name: %s, namespace: %s}
        spec:
          images: [%s]
          nodeSelector: {%s: "true"}
          tolerations: %s
        """
                .formatted(
                    name, RealNodes.NAMESPACE, image, RealNodes.LABEL, RealNodes.tolerationsYaml())
            + more,
        "e2e");
  }

  private static ImageCache awaitCache(
      String name, java.util.function.Predicate<ImageCache> condition) {
    return RealNodes.await(
        "ImageCache " + name,
        PULL,
        () ->
            client
                .resources(ImageCache.class)
                .inNamespace(RealNodes.NAMESPACE)
                .withName(name)
                .get(),
        c -> c.getStatus() != null && c.getStatus().getNodes() != null && condition.test(c));
  }

  private static boolean is(ImageCache cache, String type, String reason) {
    return Conditions.find(cache.getStatus().getConditions(), type)
        .map(c -> reason.equals(c.getReason()))
        .orElse(false);
  }

  private static List<Pod> cachePods(String name) {
    return client
        .pods()
        .inNamespace(RealNodes.NAMESPACE)
        .withLabel(Labels.IMAGE_CACHE, "imagecache-" + name)
        .list()
        .getItems();
  }

  private static String kubectl(String... args) {
    List<String> all = new java.util.ArrayList<>(List.of(args));
    all.addAll(List.of("-n", RealNodes.NAMESPACE));
    try {
      return Cluster.kubectl(all.toArray(String[]::new));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
