package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * InferenceEndpoint on real kubelets: the gate, fetch-model from the local S3 and the model-server
 * as real containers, the Service through cluster DNS and kube-proxy, cold-start phases from the
 * kubelet's own timestamps, the node-local model cache as a real hostPath with hard links.
 */
@Tag("real-node")
class InferenceEndpointRealNodeE2E {
  private static final Duration START = Duration.ofMinutes(3);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** s3://models/tiny-llm/: two 4 MiB shards and three JSON files. */
  private static final long SHARDS = 2L * 4 * 1024 * 1024;

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
  void servesTheModelFromS3ThroughItsServiceScalesAndCleansUp() throws Exception {
    RealEndpoint tiny = RealEndpoint.named("tiny");
    tiny.apply(client);
    InferenceEndpoint ie =
        RealNodes.await(
            "tiny Ready",
            START,
            () -> tiny.get(client),
            e -> RealEndpoint.is(e, "Ready", "True", "ReplicasReady"));
    Pod pod = tiny.pods(client).get(0);
    // gate, then fetch-model from S3, then the server: each a real container that ran to its end.
    for (String init :
        List.of(HelperContract.CONTAINER_GATE, HelperContract.CONTAINER_FETCH_MODEL)) {
      ContainerStatus s = RealEndpoint.container(pod, init).orElseThrow();
      assertEquals(0, s.getState().getTerminated().getExitCode(), init + ": " + s);
    }
    JsonNode fetched = JSON.readTree(RealEndpoint.fetchSummary(pod));
    assertEquals(5, fetched.get("files").asInt(), fetched.toString());
    assertTrue(fetched.get("bytes").asLong() > SHARDS, fetched.toString());
    assertFalse(fetched.get("cacheHit").asBoolean(), fetched.toString());
    assertTrue(
        RealEndpoint.container(pod, HelperContract.CONTAINER_SERVER).orElseThrow().getReady());
    assertEquals("http://tiny." + RealNodes.NAMESPACE + ".svc:8000", ie.getStatus().getUrl());
    Phases phases =
        RealNodes.await(
                "its cold start recorded",
                Duration.ofSeconds(30),
                () -> tiny.get(client),
                e -> RealEndpoint.coldStartOf(e, pod.getMetadata().getName()).isPresent())
            .getStatus()
            .getColdStart()
            .getLast();
    assertEquals(pod.getSpec().getNodeName(), phases.getNode());
    System.out.println(
        "real-node e2e: tiny's cold start: "
            + phases.getTotal()
            + " (gate "
            + phases.getGateWait()
            + ", download "
            + phases.getModelDownload()
            + ", pull "
            + phases.getImagePull()
            + ", server start "
            + phases.getServerStart()
            + ")");

    // A completion through the endpoint's Service: cluster DNS, kube-proxy, the server's
    // /v1/completions.
    RealNodes.startLoad(client, "tiny-completion", ie.getStatus().getUrl(), 1, "3s");
    String out = RealNodes.awaitLoad(client, "tiny-completion", Duration.ofMinutes(2));
    String last = out.strip().lines().reduce((a, b) -> b).orElse("");
    assertTrue(last.matches(".* ok=[1-9][0-9]* failed=0 .*"), out);
    RealNodes.deletePod(client, "tiny-completion");

    // kubectl scale goes through the /scale subresource: one more replica, on the other GPU node.
    Cluster.kubectl("scale", "ie/tiny", "-n", RealNodes.NAMESPACE, "--replicas=2");
    ie =
        RealNodes.await(
            "tiny scaled to 2",
            START,
            () -> tiny.get(client),
            e ->
                RealEndpoint.readyReplicas(e) == 2
                    && RealEndpoint.is(e, "Ready", "True", "ReplicasReady"));
    assertEquals(2, ie.getSpec().getReplicas());
    assertEquals(
        2,
        client
            .apps()
            .deployments()
            .inNamespace(RealNodes.NAMESPACE)
            .withName("tiny")
            .get()
            .getSpec()
            .getReplicas());
    List<Pod> pods = tiny.pods(client);
    assertEquals(2, pods.size());
    assertNotEquals(
        pods.get(0).getSpec().getNodeName(),
        pods.get(1).getSpec().getNodeName(),
        "one GPU per node");
    System.out.println(
        Cluster.kubectl("get", "ie", "tiny", "-n", RealNodes.NAMESPACE, "-o", "wide"));

    // Deleting the endpoint removes everything it owned: Deployment, Service, ImageCache, their
    // pods.
    RealNodes.deleteEndpoint(client, "tiny");
    assertNull(client.apps().deployments().inNamespace(RealNodes.NAMESPACE).withName("tiny").get());
    assertNull(client.services().inNamespace(RealNodes.NAMESPACE).withName("tiny").get());
    RealNodes.await(
        "its ImageCache and DaemonSet gone",
        Duration.ofMinutes(1),
        () ->
            (client
                            .resources(ImageCache.class)
                            .inNamespace(RealNodes.NAMESPACE)
                            .withName("tiny-serving-image")
                            .get()
                        == null
                    ? 0
                    : 1)
                + client
                    .apps()
                    .daemonSets()
                    .inNamespace(RealNodes.NAMESPACE)
                    .list()
                    .getItems()
                    .size(),
        n -> n == 0);
    RealNodes.await(
        "its pods gone",
        Duration.ofMinutes(1),
        () -> client.pods().inNamespace(RealNodes.NAMESPACE).list().getItems(),
        List::isEmpty);
  }

  /**
   * A node that joins without the serving image (a heavy one, 200 MiB more, over a 200 Mbit/s
   * link), with the image cache off so that the kubelet pulls on the replica's critical path: the
   * image-pull phase is the pull's seconds. The next replica on that node finds the image there:
   * its pull phase is nothing.
   */
  @Test
  void coldStartPhasesComeFromTheKubeletsPullOnAFreshNode() {
    String image = RealNodes.paddedServerImage(200);
    String node = RealNodes.addNode();
    try {
      RealNodes.shape(node, 200);
      RealEndpoint cold =
          RealEndpoint.named("cold")
              .with("image", image)
              .onNode(node)
              .with("imageCache", "{enabled: false}");
      cold.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "cold Ready on " + node,
              START,
              () -> cold.get(client),
              e -> RealEndpoint.coldStarts(e) == 1);
      Phases fresh = ie.getStatus().getColdStart().getLast();
      assertEquals(node, fresh.getNode());
      assertTrue(RealNodes.images(node).contains(image));

      // The replica's pod goes; its replacement starts on the same node, which now holds the image.
      String first = cold.pods(client).get(0).getMetadata().getName();
      client.pods().inNamespace(RealNodes.NAMESPACE).withName(first).delete();
      ie =
          RealNodes.await(
              "the second start on " + node,
              START,
              () -> cold.get(client),
              e -> RealEndpoint.coldStarts(e) == 2);
      Phases warm = ie.getStatus().getColdStart().getLast();
      assertNotEquals(first, warm.getPod());
      System.out.println(
          "real-node e2e: image pull on fresh node "
              + node
              + ": "
              + fresh.getImagePull()
              + " of "
              + fresh.getTotal()
              + "; on the same node holding the image: "
              + warm.getImagePull()
              + " of "
              + warm.getTotal());
      // 200 MiB at 200 Mbit/s is over 8 s on the wire alone.
      assertTrue(
          RealEndpoint.seconds(fresh.getImagePull()) >= 5,
          "pull on the fresh node: " + fresh.getImagePull());
      assertTrue(
          RealEndpoint.seconds(warm.getImagePull()) <= 1,
          "pull with the image present: " + warm.getImagePull());
      assertTrue(RealEndpoint.seconds(warm.getTotal()) < RealEndpoint.seconds(fresh.getTotal()));
    } finally {
      RealNodes.deleteEndpoint(client, "cold");
      RealNodes.removeNodeIfPresent(node);
    }
  }

  /**
   * spec.model.nodeCache on a real hostPath: the second replica on a node gets the weights from the
   * node's cache (cacheHit) as hard links in its own pod directory, which its server mounts and
   * reads; that directory is removed by a later download on the node once its pod is gone.
   */
  @Test
  void aSecondReplicaOnTheNodeLinksTheCachedModelAndItsDirectoryGoesWithThePod() throws Exception {
    String node = RealNodes.nodes().get(0);
    String cachePath =
        "/var/lib/warmstart/e2e-node-cache"; // the node's own; the test reads it from the host
    RealNodes.deleteOnNode(node, cachePath);
    Path cacheDir = RealNodes.onNode(node, cachePath);
    RealEndpoint cached =
        RealEndpoint.named("cached").withoutGpu().onNode(node).nodeCache(Path.of(cachePath));
    try {
      cached.apply(client);
      RealNodes.await(
          "cached Ready", START, () -> cached.get(client), e -> RealEndpoint.readyReplicas(e) == 1);
      Pod first = cached.pods(client).get(0);
      assertFalse(JSON.readTree(RealEndpoint.fetchSummary(first)).get("cacheHit").asBoolean());

      Cluster.kubectl("scale", "ie/cached", "-n", RealNodes.NAMESPACE, "--replicas=2");
      RealNodes.await(
          "a second replica Ready",
          START,
          () -> cached.get(client),
          e -> RealEndpoint.readyReplicas(e) == 2);
      Pod second =
          cached.pods(client).stream()
              .filter(p -> !p.getMetadata().getUid().equals(first.getMetadata().getUid()))
              .findFirst()
              .orElseThrow();
      JsonNode summary = JSON.readTree(RealEndpoint.fetchSummary(second));
      System.out.println("real-node e2e: the second replica's fetch-model: " + summary);
      assertTrue(summary.get("cacheHit").asBoolean(), summary.toString());

      // Its directory holds the model as hard links to the files the first replica's download left
      // in the cache.
      Path firstDir = podDir(cacheDir, first);
      Path secondDir = podDir(cacheDir, second);
      List<Path> files = regularFiles(secondDir);
      assertEquals(5, files.size(), files.toString());
      for (Path file : files) {
        Path twin = firstDir.resolve(secondDir.relativize(file));
        assertEquals(
            Files.getAttribute(twin, "unix:ino"),
            Files.getAttribute(file, "unix:ino"),
            file.toString());
        assertTrue(
            (Integer) Files.getAttribute(file, "unix:nlink") >= 3,
            "cache entry + two pods: " + file);
      }
      // Its server reads the model from that very directory: the mount the kubelet gave the
      // container.
      ContainerStatus server =
          RealEndpoint.container(second, HelperContract.CONTAINER_SERVER).orElseThrow();
      int pid = RealNodes.containerProcesses(node, server.getContainerID()).get(0).pid();
      String mount =
          Files.readAllLines(Path.of("/proc", Integer.toString(pid), "mountinfo")).stream()
              .filter(l -> l.split(" ")[4].equals(RealEndpoint.MODEL_PATH))
              .findFirst()
              .orElseThrow();
      assertTrue(
          mount.split(" ")[3].endsWith(
              "/pods/" + RealNodes.NAMESPACE + "/" + second.getMetadata().getUid()),
          mount);
      assertTrue(mount.split(" ")[5].startsWith("ro"), "read-only: " + mount);

      // One replica goes; its directory stays until a later download on the node clears it
      // (fetch-model asks
      // the operator which pods live there). The cleanup spares directories younger than 2 minutes
      // (a pod just
      // created may not be in the operator's view yet): the test ages the directory instead of
      // waiting.
      Cluster.kubectl("scale", "ie/cached", "-n", RealNodes.NAMESPACE, "--replicas=1");
      RealNodes.await(
          "one replica left",
          START,
          () ->
              cached.pods(client).size()
                  + client
                      .pods()
                      .inNamespace(RealNodes.NAMESPACE)
                      .withLabel(Labels.ENDPOINT, "cached")
                      .list()
                      .getItems()
                      .size(),
          n -> n == 2);
      Pod kept = cached.pods(client).get(0);
      Pod gone = kept.getMetadata().getUid().equals(first.getMetadata().getUid()) ? second : first;
      Path goneDir = podDir(cacheDir, gone);
      assertTrue(Files.isDirectory(goneDir), "nothing removed it yet: " + goneDir);
      Files.setLastModifiedTime(goneDir, FileTime.from(Instant.now().minus(Duration.ofMinutes(3))));
      Cluster.kubectl("scale", "ie/cached", "-n", RealNodes.NAMESPACE, "--replicas=2");
      RealNodes.await(
          "a new replica Ready",
          START,
          () -> cached.get(client),
          e -> RealEndpoint.readyReplicas(e) == 2);
      Pod third =
          cached.pods(client).stream()
              .filter(p -> !p.getMetadata().getUid().equals(kept.getMetadata().getUid()))
              .findFirst()
              .orElseThrow();
      assertTrue(JSON.readTree(RealEndpoint.fetchSummary(third)).get("cacheHit").asBoolean());
      assertFalse(Files.exists(goneDir), "the directory of the pod that went: " + goneDir);
      assertTrue(Files.isDirectory(podDir(cacheDir, kept)));
      assertTrue(Files.isDirectory(podDir(cacheDir, third)));
    } finally {
      RealNodes.deleteEndpoint(client, "cached");
      RealNodes.deleteOnNode(node, cachePath);
    }
  }

  /**
   * Readiness within a second of the server answering (issue 14, item 7: the serving container's
   * readiness probe every second from its start, no startup probe). Measured on five starts of a
   * server that answers at once (the model-server loads the tiny model and answers /health about
   * 0.5 s after its process starts):
   *
   * <ul>
   *   <li>by the test: from the server's own log line saying it loaded the model (the container
   *       runtime's timestamp, sub-second) to the test seeing the pod Ready (polled every 100 ms);
   *   <li>by the operator: the server-start phase of status.coldStart (the container's start to the
   *       pod's Ready transition, both whole seconds in the pod's status, so one start reads 1 or 2
   *       s).
   * </ul>
   *
   * The kubelet probes a container once a relist of the runtime (every second) has shown it
   * running, at the probe's next tick (1 s): about 0.8 s from answering to Ready here (1.7 s with a
   * startup probe, which adds a relist before the first readiness probe; up to 11 s with the former
   * 10 s period). The phase in status also holds the server's own start (0.3 s on a quiet machine,
   * over a second on a busy one) and reads whole seconds: median 1 s here when quiet, 2 s under
   * load. Asserted with room for a busy machine, and still failed by a startup probe in front or a
   * longer period: a median of at most 1.2 s from answering to Ready as the test sees it, and a
   * median server-start phase of at most 2 s.
   */
  @Test
  void aServerThatAnswersAtOnceIsSeenReadyWithinASecond() {
    String node = RealNodes.nodes().get(0);
    RealEndpoint quick = RealEndpoint.named("quick").onNode(node);
    try {
      quick.apply(client);
      List<Double> detection = new ArrayList<>();
      for (int start = 1; start <= 5; start++) {
        int count = start;
        long deadline = System.nanoTime() + START.toNanos();
        while (true) {
          assertTrue(System.nanoTime() < deadline, "start " + count + " not ready within " + START);
          List<Pod> pods = quick.pods(client);
          Pod pod = pods.isEmpty() ? null : pods.get(0);
          if (pod != null && RealEndpoint.podReady(pod)) {
            Instant seenReady = Instant.now();
            String name = pod.getMetadata().getName();
            String log =
                client
                    .pods()
                    .inNamespace(RealNodes.NAMESPACE)
                    .withName(name)
                    .inContainer("server")
                    .usingTimestamps()
                    .getLog();
            Instant loaded =
                Instant.parse(
                    log.lines()
                        .filter(l -> l.contains("model-server: loaded"))
                        .findFirst()
                        .orElseThrow(
                            () ->
                                new AssertionError("no 'loaded' line in the server's log: " + log))
                        .split(" ")[0]);
            detection.add(Duration.between(loaded, seenReady).toMillis() / 1000.0);
            RealNodes.await(
                "start " + count + " accounted for",
                Duration.ofSeconds(30),
                () -> quick.get(client),
                e -> RealEndpoint.coldStarts(e) == count);
            if (count < 5) {
              client.pods().inNamespace(RealNodes.NAMESPACE).withName(name).delete();
              RealNodes.await(
                  "pod " + count + " gone",
                  Duration.ofMinutes(1),
                  () -> quick.pods(client),
                  p -> p.stream().noneMatch(q -> q.getMetadata().getName().equals(name)));
            }
            break;
          }
          sleep(100);
        }
      }
      var coldStart = quick.get(client).getStatus().getColdStart();
      List<Long> serverStarts =
          coldStart.getRecent().stream()
              .map(p -> RealEndpoint.seconds(p.getServerStart()))
              .toList();
      double medianDetection = detection.stream().sorted().toList().get(detection.size() / 2);
      System.out.println(
          "real-node e2e: server start per status.coldStart (s): "
              + serverStarts
              + ", median "
              + coldStart.getMedian().getServerStart()
              + "; from the server's 'loaded' log line to the pod seen Ready (s): "
              + detection.stream().map(d -> String.format("%.2f", d)).toList()
              + ", median "
              + String.format("%.2f", medianDetection));
      assertEquals(5, serverStarts.size());
      assertTrue(
          RealEndpoint.seconds(coldStart.getMedian().getServerStart()) <= 2,
          "median server start " + coldStart.getMedian().getServerStart() + " of " + serverStarts);
      assertTrue(medianDetection <= 1.2, "median time from answering to Ready: " + detection);
    } finally {
      RealNodes.deleteEndpoint(client, "quick");
    }
  }

  private static Path podDir(Path cacheDir, Pod pod) {
    return cacheDir
        .resolve("pods")
        .resolve(RealNodes.NAMESPACE)
        .resolve(pod.getMetadata().getUid());
  }

  private static List<Path> regularFiles(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      return walk.filter(Files::isRegularFile).sorted().toList();
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
