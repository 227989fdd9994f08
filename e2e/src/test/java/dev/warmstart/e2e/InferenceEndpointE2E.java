package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * examples/qwen3-8b.yaml on the local cluster: the real Deployment controller, scheduler and
 * garbage collector; KWOK plays the kubelet and walks serving pods through timed phases (gate,
 * model download, image pull, server start), so the cold-start accounting has real numbers to read.
 */
class InferenceEndpointE2E {
  private static final String NS = "ml";
  private static final String NAME = "qwen3-8b";
  @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = CLUSTER.client();
  }

  @Test
  void servesScalesAccountsForColdStartsAndCleansUp() throws Exception {
    Cluster.deleteAndWait(client, InferenceEndpoint.class, NS, NAME);
    Cluster.await("leftover serving pods gone", InferenceEndpointE2E::servingPods, List::isEmpty);
    Cluster.apply(client, Cluster.repoRoot().resolve("examples/qwen3-8b.yaml"));

    // kubectl wait works on the Ready condition.
    Cluster.kubectl("wait", "--for=condition=Ready", "ie/" + NAME, "-n", NS, "--timeout=90s");
    InferenceEndpoint ie = endpoint();
    assertEquals("http://qwen3-8b.ml.svc:8000", ie.getStatus().getUrl());
    assertEquals(1, ie.getStatus().getReadyReplicas());
    Phases first =
        Cluster.await(
                "a cold start accounted for",
                InferenceEndpointE2E::endpoint,
                e -> e.getStatus().getColdStart() != null)
            .getStatus()
            .getColdStart()
            .getLast();
    assertNotEquals("0s", first.getTotal(), "KWOK's stages make every phase take time");
    assertNotEquals("0s", first.getGateWait());
    assertNotEquals("0s", first.getModelDownload());
    assertNotEquals("0s", first.getServerStart());
    assertTrue(
        Conditions.isTrue(
            Cluster.await(
                    "serving image cached",
                    InferenceEndpointE2E::endpoint,
                    e -> Conditions.isTrue(e.getStatus().getConditions(), "ImageCached"))
                .getStatus()
                .getConditions(),
            "ImageCached"));
    System.out.println(Cluster.kubectl("get", "ie", "-n", NS, "-o", "wide"));

    // kubectl scale goes through the /scale subresource to the Deployment.
    Cluster.kubectl("scale", "ie/" + NAME, "-n", NS, "--replicas=3");
    Cluster.await(
        "3 replicas ready",
        InferenceEndpointE2E::endpoint,
        e -> e.getStatus().getReadyReplicas() == 3 && e.getStatus().getColdStart().getCount() == 3);
    assertEquals(
        3,
        servingPods().stream().map(p -> p.getSpec().getNodeName()).distinct().count(),
        "one GPU per node: each replica on its own GPU node");

    // More replicas than free GPUs: the one left Pending is reported, with the scheduler's reason.
    int gpuNodes = Cluster.fakeGpuNodes(client).size();
    Cluster.kubectl("scale", "ie/" + NAME, "-n", NS, "--replicas=" + (gpuNodes + 1));
    InferenceEndpoint crowded =
        Cluster.await(
            "unschedulable replica reported",
            InferenceEndpointE2E::endpoint,
            e ->
                Conditions.find(e.getStatus().getConditions(), "Ready")
                    .map(c -> "Unschedulable".equals(c.getReason()))
                    .orElse(false));
    assertTrue(
        Conditions.find(crowded.getStatus().getConditions(), "Ready")
            .orElseThrow()
            .getMessage()
            .contains("Insufficient nvidia.com/gpu"));
    System.out.println(
        Cluster.kubectl(
            "get",
            "ie",
            NAME,
            "-n",
            NS,
            "-o",
            "jsonpath={.status.coldStart}{\"\\n\"}{.status.conditions}"));

    // Deleting the endpoint removes everything it created.
    client.resources(InferenceEndpoint.class).inNamespace(NS).withName(NAME).delete();
    Cluster.await("serving pods gone", InferenceEndpointE2E::servingPods, List::isEmpty);
    Cluster.await(
        "deployment, service and image cache gone",
        () ->
            List.of(
                client.apps().deployments().inNamespace(NS).withName(NAME).get() == null,
                client.services().inNamespace(NS).withName(NAME).get() == null,
                client
                        .resources(ImageCache.class)
                        .inNamespace(NS)
                        .withName(NAME + "-serving-image")
                        .get()
                    == null),
        gone -> !gone.contains(false));
  }

  private static InferenceEndpoint endpoint() {
    return client.resources(InferenceEndpoint.class).inNamespace(NS).withName(NAME).get();
  }

  private static List<Pod> servingPods() {
    return client
        .pods()
        .inNamespace(NS)
        .withLabel("warmstart.dev/endpoint", NAME)
        .list()
        .getItems();
  }
}
