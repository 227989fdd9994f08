package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The in-pod {@code gate} helper, run as a real process (java -cp … gate) against the operator's
 * gate API, claiming to be a real pod of the local cluster. KWOK plays the kubelet for the pods
 * around it: a cache pod still pulling, another replica's model download in progress.
 */
class GateE2E {
  private static final String NS = "gate-e2e";

  /** An image no other test or example caches, so only this test's cache pods hold it. */
  private static final String IMAGE = "warmstart-e2e/gate-test-server:1";

  @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = CLUSTER.client();
    client.namespaces().withName(NS).delete();
    client.namespaces().withName(NS).waitUntilCondition(n -> n == null, 60, TimeUnit.SECONDS);
    client
        .resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build())
        .create();
  }

  @AfterAll
  static void stop() {
    client.namespaces().withName(NS).delete();
  }

  @Test
  void goesAlongsideThePrePullOfItsImage() throws Exception {
    // The node's cache pod is still pulling the serving image for 20 s: the pod needs both the
    // image and
    // the model, so the download shares the link with the pull rather than wait for it
    // (GatePolicy.IMAGE_PULLING).
    cachePod("cache-gpu-0", "gpu-0", Map.of("pod-ready.stage.kwok.x-k8s.io/delay", "20s"));
    Pod replica = servingPod("replica-a", "gpu-0", Map.of());

    long start = System.nanoTime();
    Gate gate = Gate.start(replica, gateUrl(), "60s");
    String out = gate.await(30);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(0, gate.exitCode(), out);
    assertTrue(out.contains("ImagePulling"), "it said why it went:\n" + out);
    assertTrue(seconds < 15, "it did not wait for the pull to end (" + seconds + " s):\n" + out);
    System.out.printf(
        "e2e: gate opened after %.1fs alongside the image's pre-pull%n%s", seconds, out);
  }

  @Test
  void waitsWhileAnotherTransferRunsOnTheNode() throws Exception {
    cachePod("cache-gpu-1", "gpu-1", Map.of());
    // Another replica on the same node is downloading its model for 5 s (KWOK's stages time it).
    servingPod(
        "replica-downloading",
        "gpu-1",
        Map.of("warmstart.dev/kwok-gate-seconds", "0", "warmstart.dev/kwok-download-seconds", "5"));
    Cluster.await(
        "the other download running",
        () -> client.pods().inNamespace(NS).withName("replica-downloading").get(),
        p ->
            p.getStatus().getInitContainerStatuses() != null
                && p.getStatus().getInitContainerStatuses().stream()
                    .anyMatch(
                        c ->
                            c.getName().equals("fetch-model")
                                && c.getState().getRunning() != null));
    Pod replica = servingPod("replica-b", "gpu-1", Map.of());

    long start = System.nanoTime();
    Gate gate = Gate.start(replica, gateUrl(), "60s");
    String out = gate.await(30);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(0, gate.exitCode(), out);
    assertTrue(out.contains("TransferRunning"), "it waited for the other transfer:\n" + out);
    assertTrue(seconds >= 2, "it waited (" + seconds + " s):\n" + out);
    System.out.printf(
        "e2e: gate opened after %.1fs when the other download finished%n%s", seconds, out);
  }

  @Test
  void proceedsAfterItsDeadlineWhenTheOperatorIsDown() throws Exception {
    Pod replica = servingPod("replica-c", "gpu-2", Map.of());
    long start = System.nanoTime();
    Gate gate = Gate.start(replica, "http://127.0.0.1:1", "3s"); // nothing listens there
    String out = gate.await(30);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(0, gate.exitCode(), "the gate fails open:\n" + out);
    assertTrue(seconds >= 3 && seconds < 15, seconds + " s:\n" + out);
    System.out.printf(
        "e2e: gate proceeded after its 3s deadline with the operator down (%.1fs)%n%s",
        seconds, out);
  }

  private static String gateUrl() {
    return "http://127.0.0.1:" + CLUSTER.operator().gate().port();
  }

  /** A cache pod as the ImageCache DaemonSet makes them, bound to a node; KWOK marks it Running. */
  private static void cachePod(String name, String node, Map<String, String> annotations) {
    client
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NS)
                .withAnnotations(annotations)
                .withLabels(
                    Map.of(
                        Labels.MANAGED_BY,
                        Labels.MANAGED_BY_VALUE,
                        Labels.COMPONENT,
                        Labels.COMPONENT_IMAGE_CACHE))
                .endMetadata()
                .withNewSpec()
                .withNodeName(node)
                .withAutomountServiceAccountToken(false)
                .addNewToleration()
                .withKey("nvidia.com/gpu")
                .withOperator("Exists")
                .endToleration()
                .addNewContainer()
                .withName("vllm")
                .withImage(IMAGE)
                .withCommand("/warmstart/bin/pause")
                .endContainer()
                .endSpec()
                .build())
        .create();
  }

  /** A serving pod as an InferenceEndpoint's Deployment makes them, bound to a node. */
  private static Pod servingPod(String name, String node, Map<String, String> annotations) {
    var meta = new java.util.HashMap<>(annotations);
    meta.put(Labels.IMAGE_CACHE_ENABLED, "true");
    // Keep KWOK's fake gate "running" so that only the real gate process decides for this pod.
    meta.putIfAbsent("warmstart.dev/kwok-gate-seconds", "3600");
    return client
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NS)
                .withAnnotations(meta)
                .withLabels(
                    Map.of(
                        Labels.MANAGED_BY,
                        Labels.MANAGED_BY_VALUE,
                        Labels.COMPONENT,
                        Labels.COMPONENT_SERVER))
                .endMetadata()
                .withNewSpec()
                .withNodeName(node)
                .withAutomountServiceAccountToken(false)
                .addNewToleration()
                .withKey("nvidia.com/gpu")
                .withOperator("Exists")
                .endToleration()
                .addNewInitContainer()
                .withName("gate")
                .withImage("warmstart/warmstart:e2e")
                .endInitContainer()
                .addNewInitContainer()
                .withName("fetch-model")
                .withImage("warmstart/warmstart:e2e")
                .endInitContainer()
                .addNewContainer()
                .withName("server")
                .withImage(IMAGE)
                .endContainer()
                .endSpec()
                .build())
        .create();
  }

  /** The gate helper in its own JVM, with the identity the downward API would give it. */
  private record Gate(Process process) {
    static Gate start(Pod pod, String url, String timeout) throws Exception {
      ProcessBuilder pb =
          new ProcessBuilder(
                  new File(System.getProperty("java.home"), "bin/java").getPath(),
                  "-Xmx32m",
                  "-cp",
                  System.getProperty("java.class.path"),
                  "dev.warmstart.Main",
                  "gate",
                  "--kind=model",
                  "--url=" + url,
                  "--timeout=" + timeout)
              .redirectErrorStream(true);
      pb.environment()
          .putAll(
              Map.of(
                  "POD_NAMESPACE",
                  NS,
                  "POD_NAME",
                  pod.getMetadata().getName(),
                  "POD_UID",
                  pod.getMetadata().getUid(),
                  "NODE_NAME",
                  pod.getSpec().getNodeName()));
      return new Gate(pb.start());
    }

    String await(int seconds) throws Exception {
      if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new AssertionError(
            "the gate did not finish within "
                + seconds
                + " s: "
                + new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
      }
      return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    int exitCode() {
      return process.exitValue();
    }
  }
}
