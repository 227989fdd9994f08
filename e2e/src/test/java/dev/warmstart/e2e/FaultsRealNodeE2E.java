package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What goes wrong on real nodes, and what the endpoint's status says about it: a node whose kubelet
 * stops, the registry or S3 down and back, a server that exits at once, a server that never turns
 * healthy. Each shows as a condition with a reason a user can act on, and recovers without help
 * once the cause is gone.
 */
@Tag("real-node")
class FaultsRealNodeE2E {
  private static final Duration START = Duration.ofMinutes(3);
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = RealNodes.prepare();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.resources(InferenceEndpoint.class).inNamespace(RealNodes.NAMESPACE).delete();
      client.resources(ImageCache.class).inNamespace(RealNodes.NAMESPACE).delete();
      client.close();
    }
  }

  /**
   * The kubelet of the node serving the endpoint stops (the node's containers keep running, as when
   * a kubelet crashes or the node drops off the network): once the node controller marks the node
   * NotReady (40 s here), the endpoint says which node and why its replica no longer counts; the
   * kubelet comes back and the endpoint is Ready again, with nothing done to it.
   */
  @Test
  void aNodeWhoseKubeletStopsShowsInTheStatusAndTheEndpointRecoversWhenItReturns() {
    String node = RealNodes.addNode();
    RealEndpoint steady = RealEndpoint.named("steady").onNode(node);
    boolean stopped = false;
    try {
      steady.apply(client);
      RealNodes.await(
          "steady Ready on " + node,
          START,
          () -> steady.get(client),
          e -> RealEndpoint.is(e, "Ready", "True", "ReplicasReady"));
      String replica = steady.pods(client).get(0).getMetadata().getUid();
      RealNodes.kubelet("stop", node);
      stopped = true;
      RealNodes.await(
          node + " NotReady",
          Duration.ofMinutes(2),
          () -> client.nodes().withName(node).get(),
          n -> !ready(n));
      InferenceEndpoint ie =
          RealNodes.await(
              "the lost node in steady's status",
              Duration.ofMinutes(1),
              () -> steady.get(client),
              e -> RealEndpoint.is(e, "Ready", "False", "NodeNotReady"));
      Condition readyCondition = RealEndpoint.condition(ie, "Ready").orElseThrow();
      Condition degraded = RealEndpoint.condition(ie, "Degraded").orElseThrow();
      System.out.println("real-node e2e: kubelet stopped: " + readyCondition.getMessage());
      assertEquals("NodeNotReady", degraded.getReason());
      assertTrue(readyCondition.getMessage().contains("node " + node), readyCondition.getMessage());
      assertTrue(
          readyCondition.getMessage().contains("kubectl describe node " + node),
          readyCondition.getMessage());

      RealNodes.kubelet("start", node);
      stopped = false;
      ie =
          RealNodes.await(
              "steady Ready again",
              START,
              () -> steady.get(client),
              e ->
                  RealEndpoint.is(e, "Ready", "True", "ReplicasReady")
                      && RealEndpoint.is(e, "Degraded", "False", "AsExpected"));
      assertEquals(
          List.of(replica),
          steady.pods(client).stream().map(p -> p.getMetadata().getUid()).toList(),
          "the same replica, back: nothing was replaced");
    } finally {
      if (stopped) {
        RealNodes.kubelet("start", node);
      }
      RealNodes.deleteEndpoint(client, "steady");
      RealNodes.removeNodeIfPresent(node);
    }
  }

  /**
   * The registry goes down while a new node joins: the node has what a node image brings (the pod
   * sandbox image) and warmstart's helper image (in a real cluster it comes from another registry
   * than the serving image), not the serving image. The pull fails and the status carries the
   * kubelet's reason; the registry comes back and the endpoint starts without help.
   */
  @Test
  void theRegistryDownFailsThePullOnANewNodeWithTheKubeletsReasonAndTheEndpointRecovers() {
    String node = RealNodes.addNode();
    RealNodes.ctr(node, "images", "pull", "--plain-http", RealNodes.get("PAUSE_IMAGE"));
    String helper = RealNodes.get("HELPER_IMAGE");
    RealNodes.ctr(
        node,
        "images",
        "pull",
        "--plain-http",
        helper.substring(0, helper.lastIndexOf(':')) + "@" + RealNodes.get("HELPER_IMAGE_DIGEST"));
    RealEndpoint outage = RealEndpoint.named("registry-outage").onNode(node);
    try {
      RealNodes.service("stop", "registry");
      outage.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "the failed pull in the status",
              START,
              () -> outage.get(client),
              e -> RealEndpoint.is(e, "Degraded", "True", "ImagePullFailed"));
      Condition degraded = RealEndpoint.condition(ie, "Degraded").orElseThrow();
      System.out.println(
          "real-node e2e: registry down: "
              + degraded.getMessage()
              + " / ImageCached: "
              + RealEndpoint.condition(ie, "ImageCached").orElseThrow().getMessage());
      assertTrue(degraded.getMessage().contains("on node " + node), degraded.getMessage());
      assertTrue(degraded.getMessage().contains("connection refused"), degraded.getMessage());
      assertEquals(
          "ImagePullFailed", RealEndpoint.condition(ie, "Ready").orElseThrow().getReason());

      RealNodes.service("start", "registry");
      // The kubelet retries on its back-off (10 s, doubling): the outage was short, so is the wait.
      RealNodes.await(
          "registry-outage Ready after the registry returned",
          START,
          () -> outage.get(client),
          e ->
              RealEndpoint.is(e, "Ready", "True", "ReplicasReady")
                  && RealEndpoint.is(e, "ImageCached", "True", "AllNodesCached"));
    } finally {
      RealNodes.service("start", "registry");
      RealNodes.deleteEndpoint(client, "registry-outage");
      RealNodes.removeNodeIfPresent(node);
    }
  }

  /**
   * S3 down: fetch-model's failure, in its own words, is the endpoint's condition; S3 back, the
   * replica starts.
   */
  @Test
  void s3DownFailsTheModelDownloadWithAnActionableReasonAndTheEndpointRecovers() {
    RealEndpoint outage = RealEndpoint.named("s3-outage");
    try {
      RealNodes.service("stop", "s3");
      outage.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "the failed download in the status",
              START,
              () -> outage.get(client),
              e -> RealEndpoint.is(e, "Degraded", "True", "ModelDownloadFailed"));
      String message = RealEndpoint.condition(ie, "Degraded").orElseThrow().getMessage();
      System.out.println("real-node e2e: S3 down: " + message);
      assertTrue(
          message.contains("cannot reach the S3 endpoint " + RealNodes.get("S3_ENDPOINT")),
          message);
      assertTrue(message.contains("Connection refused"), message);
      assertEquals(
          "ModelDownloadFailed", RealEndpoint.condition(ie, "Ready").orElseThrow().getReason());

      RealNodes.service("start", "s3");
      RealNodes.await(
          "s3-outage Ready after S3 returned",
          START,
          () -> outage.get(client),
          e ->
              RealEndpoint.is(e, "Ready", "True", "ReplicasReady")
                  && RealEndpoint.is(e, "Degraded", "False", "AsExpected"));
    } finally {
      RealNodes.service("start", "s3");
      RealNodes.deleteEndpoint(client, "s3-outage");
    }
  }

  /**
   * The server exits at once (its model directory does not exist): crash-looping, with the server's
   * last words.
   */
  @Test
  void aServerThatExitsAtOnceIsReportedCrashLoopingWithItsExitCodeAndLastWords() {
    RealEndpoint crash = RealEndpoint.named("crash").with("args", "[/models/missing]");
    try {
      crash.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "crash-looping in the status",
              START,
              () -> crash.get(client),
              e -> RealEndpoint.is(e, "Degraded", "True", "ServerCrashLooping"));
      String message = RealEndpoint.condition(ie, "Degraded").orElseThrow().getMessage();
      System.out.println("real-node e2e: crash: " + message);
      String pod = crash.pods(client).get(0).getMetadata().getName();
      assertTrue(message.contains("exit code 1"), message);
      assertTrue(message.contains("model directory /models/missing does not exist"), message);
      assertTrue(message.contains("kubectl logs " + pod + " -c server --previous"), message);
      assertEquals(
          "ServerCrashLooping", RealEndpoint.condition(ie, "Ready").orElseThrow().getReason());
    } finally {
      RealNodes.deleteEndpoint(client, "crash");
    }
  }

  /**
   * The server runs but its health check never passes (spec.healthPath names a path it does not
   * serve): the kubelet would keep probing for the 30-minute startup budget; the status says what
   * the server answers.
   */
  @Test
  void aServerThatNeverTurnsHealthyIsReportedWithWhatItsHealthCheckAnswers() {
    RealEndpoint sick = RealEndpoint.named("unhealthy").with("healthPath", "/nope");
    try {
      sick.apply(client);
      InferenceEndpoint ie =
          RealNodes.await(
              "the failing health check in the status",
              START,
              () -> sick.get(client),
              e -> RealEndpoint.is(e, "Degraded", "True", "HealthCheckFailing"));
      String message = RealEndpoint.condition(ie, "Degraded").orElseThrow().getMessage();
      System.out.println("real-node e2e: never healthy: " + message);
      assertTrue(message.contains("GET /nope"), message);
      assertTrue(message.contains("404"), message);
      assertTrue(message.contains("spec.healthPath"), message);
      assertEquals(
          "HealthCheckFailing", RealEndpoint.condition(ie, "Ready").orElseThrow().getReason());
    } finally {
      RealNodes.deleteEndpoint(client, "unhealthy");
    }
  }

  private static boolean ready(Node node) {
    return node.getStatus().getConditions().stream()
        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }
}
