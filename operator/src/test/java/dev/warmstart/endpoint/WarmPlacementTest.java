package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.HELPERS;
import static dev.warmstart.endpoint.ServingPods.at;
import static dev.warmstart.endpoint.ServingPods.condition;
import static dev.warmstart.endpoint.ServingPods.podOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.WarmPool;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WarmPlacementTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static InferenceEndpoint withWarmPool(int replicas) {
    InferenceEndpoint ie = EndpointModelTest.withNodeCache(null, null);
    WarmPool pool = new WarmPool();
    pool.setReplicas(replicas);
    ie.getSpec().setWarmPool(pool);
    return ie;
  }

  /** A placeholder of {@code ie}'s current warm-pool template on {@code node}, ready or not. */
  static Pod placeholder(InferenceEndpoint ie, String name, String node, boolean ready) {
    Deployment d = EndpointModel.warmPool(ie, HELPERS);
    var template = d.getSpec().getTemplate();
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(ie.getMetadata().getNamespace())
        .withUid("uid-" + name)
        .withCreationTimestamp(at(0))
        .withLabels(template.getMetadata().getLabels())
        .withAnnotations(template.getMetadata().getAnnotations())
        .endMetadata()
        .withSpec(new PodSpecBuilder(template.getSpec()).withNodeName(node).build())
        .withNewStatus()
        .addToConditions(
            condition(
                "PodScheduled",
                node == null ? "False" : "True",
                node == null ? "Unschedulable" : null,
                node == null ? "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." : null,
                1))
        .addToConditions(condition("Ready", ready ? "True" : "False", 30))
        .endStatus()
        .build();
  }

  /** A new serving pod, still behind the warm-placement gate. */
  /**
   * A pod released towards warm node {@code node} that the scheduler found no room for at T0 + 10
   * s.
   */
  static Pod sentToWarmNodeButUnschedulable(InferenceEndpoint ie, String name, String node) {
    return podOf(ie, name, null, 0)
        .editSpec()
        .withSchedulingGates(List.of())
        .endSpec()
        .editMetadata()
        .addToAnnotations(Labels.WARM_NODE, node)
        .endMetadata()
        .withNewStatus()
        .addToConditions(condition("PodScheduled", "False", "Unschedulable", "0/3 nodes", 10))
        .endStatus()
        .build();
  }

  static Pod gated(InferenceEndpoint ie, String name, long created) {
    return podOf(ie, name, null, created).build();
  }

  @Test
  void
      servingPodsOfAnEndpointWithAWarmPoolStartGatedAndPlaceholdersHoldTheGpuAtTheLowestPriority() {
    InferenceEndpoint ie = withWarmPool(2);
    var serving = EndpointModel.deployment(ie, HELPERS).getSpec().getTemplate().getSpec();
    assertEquals(
        List.of(Labels.WARM_PLACEMENT_GATE),
        serving.getSchedulingGates().stream().map(g -> g.getName()).toList());

    Deployment pool = EndpointModel.warmPool(ie, HELPERS);
    assertEquals(2, pool.getSpec().getReplicas());
    var pod = pool.getSpec().getTemplate();
    assertEquals(WarmPool.PRIORITY_CLASS, pod.getSpec().getPriorityClassName());
    assertFalse(
        pod.getMetadata().getLabels().containsKey(Labels.ENDPOINT),
        "the Service and the serving selector must not take placeholders");
    assertEquals(
        pool.getSpec().getSelector().getMatchLabels(),
        Map.of(Labels.WARM_POOL, EndpointModel.name(ie)));
    assertEquals(
        List.of(
            HelperContract.CONTAINER_INSTALL_PAUSE,
            HelperContract.CONTAINER_GATE,
            HelperContract.CONTAINER_FETCH_MODEL),
        pod.getSpec().getInitContainers().stream().map(Container::getName).toList());
    Container holder = pod.getSpec().getContainers().get(0);
    assertEquals(
        ie.getSpec().getImage(), holder.getImage(), "it holds the serving image on its node");
    assertEquals(List.of("/warmstart/bin/pause"), holder.getCommand());
    assertEquals(
        ie.getSpec().getResources(),
        holder.getResources(),
        "it reserves what a replica needs, GPU included");
    assertEquals(
        EndpointModelTest.fetchModel(serving).getArgs(),
        EndpointModelTest.fetchModel(pod.getSpec()).getArgs(),
        "the weights go to the same node cache");
    assertTrue(pod.getSpec().getVolumes().stream().anyMatch(v -> v.getHostPath() != null));
    assertEquals(Boolean.FALSE, pod.getSpec().getAutomountServiceAccountToken());
    assertEquals(Boolean.TRUE, holder.getSecurityContext().getRunAsNonRoot());
    assertEquals(List.of("ALL"), holder.getSecurityContext().getCapabilities().getDrop());
  }

  @Test
  void withoutAWarmPoolServingPodsAreNotGated() {
    var serving =
        EndpointModel.deployment(ServingPods.qwen(), HELPERS).getSpec().getTemplate().getSpec();
    assertTrue(serving.getSchedulingGates() == null || serving.getSchedulingGates().isEmpty());
  }

  @Test
  void gatedPodsGoToFreeWarmNodesOldestFirstAndTheRestAnywhere() {
    InferenceEndpoint ie = withWarmPool(2);
    List<Pod> placeholders =
        List.of(
            placeholder(ie, "w-1", "gpu-b", true),
            placeholder(ie, "w-2", "gpu-a", true),
            placeholder(ie, "w-3", "gpu-c", false),
            placeholder(ie, "w-4", null, false));
    List<Pod> serving =
        List.of(
            gated(ie, "new-2", 20),
            gated(ie, "new-1", 10),
            gated(ie, "new-3", 30),
            podOf(ie, "running", "gpu-z", 0)
                .editSpec()
                .withSchedulingGates(List.of())
                .endSpec()
                .build());

    var plan = WarmPlacement.plan(ie, serving, placeholders, Set.of());
    assertEquals(
        List.of("new-1", "new-2", "new-3"),
        plan.stream().map(r -> r.pod().getMetadata().getName()).toList());
    assertEquals("gpu-a", plan.get(0).node());
    assertEquals("gpu-b", plan.get(1).node());
    assertNull(plan.get(2).node(), "no third warm node: the pod schedules anywhere");
  }

  @Test
  void aWarmNodeAlreadyPromisedOrUnreachableIsNotOfferedAgain() {
    InferenceEndpoint ie = withWarmPool(2);
    List<Pod> placeholders =
        List.of(placeholder(ie, "w-1", "gpu-a", true), placeholder(ie, "w-2", "gpu-b", true));
    Pod onItsWay =
        podOf(ie, "earlier", null, 0)
            .editSpec()
            .withSchedulingGates(List.of())
            .endSpec()
            .editMetadata()
            .addToAnnotations(Labels.WARM_NODE, "gpu-a")
            .endMetadata()
            .build();
    var plan =
        WarmPlacement.plan(
            ie, List.of(onItsWay, gated(ie, "new", 10)), placeholders, Set.of("gpu-b"));
    assertEquals(1, plan.size());
    assertNull(
        plan.get(0).node(), "gpu-a is promised to 'earlier', gpu-b could not be reached lately");
  }

  @Test
  void placeholdersOfAnOlderSpecOrOnTheirWayOutDoNotMakeANodeWarm() {
    InferenceEndpoint ie = withWarmPool(2);
    Pod terminating =
        new PodBuilder(placeholder(ie, "w-1", "gpu-a", true))
            .editMetadata()
            .withDeletionTimestamp(at(50))
            .endMetadata()
            .build();
    InferenceEndpoint before = withWarmPool(2);
    before.getSpec().setImage("vllm/vllm-openai:v0.10.0");
    Pod oldImage = placeholder(before, "w-2", "gpu-b", true);
    InferenceEndpoint otherModel = withWarmPool(2);
    otherModel.getSpec().getModel().setUri("s3://models/qwen3-14b/");
    Pod oldModel = placeholder(otherModel, "w-3", "gpu-c", true);

    assertEquals(List.of(), WarmPlacement.warmNodes(ie, List.of(terminating, oldImage, oldModel)));
    assertEquals(
        List.of("gpu-b"),
        WarmPlacement.warmNodes(before, List.of(terminating, oldImage, oldModel)));
  }

  @Test
  void theReleasePatchChecksThePodPinsItToTheNodeAndLiftsOnlyOurGate() throws Exception {
    InferenceEndpoint ie = withWarmPool(1);
    Pod pod =
        podOf(ie, "new", null, 0)
            .editSpec()
            .addNewSchedulingGate()
            .withName("example.com/other")
            .endSchedulingGate()
            .endSpec()
            .build();
    JsonNode ops = JSON.readTree(WarmPlacement.patch(new WarmPlacement.Release(pod, "gpu-a")));

    assertEquals("test", ops.get(0).get("op").asText());
    assertEquals(pod.getMetadata().getUid(), ops.get(0).get("value").asText());
    assertEquals("/spec/schedulingGates", ops.get(1).get("path").asText());
    assertEquals(
        2, ops.get(1).get("value").size(), "it fails if the gates changed since this view");
    assertEquals(
        "gpu-a",
        ops.get(2)
            .at(
                "/value/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
                    + "/nodeSelectorTerms/0/matchFields/0/values/0")
            .asText());
    assertEquals(
        "metadata.name",
        ops.get(2)
            .at(
                "/value/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
                    + "/nodeSelectorTerms/0/matchFields/0/key")
            .asText());
    assertEquals("/metadata/annotations/warmstart.dev~1warm-node", ops.get(3).get("path").asText());
    assertEquals("gpu-a", ops.get(3).get("value").asText());
    assertEquals("replace", ops.get(4).get("op").asText());
    assertEquals("[{\"name\":\"example.com/other\"}]", ops.get(4).get("value").toString());

    JsonNode cold =
        JSON.readTree(WarmPlacement.patch(new WarmPlacement.Release(gated(ie, "other", 0), null)));
    assertTrue(
        cold.findValues("path").stream().noneMatch(p -> p.asText().equals("/spec/affinity")));
    assertEquals("", cold.get(2).get("value").asText(), "placed, on no warm node");
    assertEquals("remove", cold.get(3).get("op").asText());
  }

  @Test
  void aPodThatCannotReachItsWarmNodeIsStuckOnlyAfterAMinuteWithoutPreemption() {
    InferenceEndpoint ie = withWarmPool(1);
    Pod waiting = sentToWarmNodeButUnschedulable(ie, "new", "gpu-a");
    Pod preempting =
        new PodBuilder(waiting)
            .editMetadata()
            .withName("preempting")
            .endMetadata()
            .editStatus()
            .withNominatedNodeName("gpu-a")
            .endStatus()
            .build();
    var stuckAt = ServingPods.T0.plusSeconds(10).plus(WarmPlacement.STUCK_AFTER);

    assertEquals(
        List.of(),
        WarmPlacement.stuck(
            List.of(waiting, preempting), stuckAt.minusSeconds(1), WarmPlacement.STUCK_AFTER));
    assertEquals(
        List.of(waiting),
        WarmPlacement.stuck(List.of(waiting, preempting), stuckAt, WarmPlacement.STUCK_AFTER));
    assertEquals(
        stuckAt,
        WarmPlacement.nextStuckCheck(List.of(waiting), WarmPlacement.STUCK_AFTER).orElseThrow());
  }

  @Test
  void aReplicaOnItsWarmNodeCountsAsAWarmStartOthersAsCold() {
    InferenceEndpoint ie = withWarmPool(1);
    Pod warm =
        podOf(ie, "a", "gpu-a", 0)
            .editMetadata()
            .addToAnnotations(Labels.WARM_NODE, "gpu-a")
            .endMetadata()
            .build();
    Pod sentNowhere =
        podOf(ie, "b", "gpu-b", 0)
            .editMetadata()
            .addToAnnotations(Labels.WARM_NODE, "")
            .endMetadata()
            .build();
    Pod elsewhere =
        podOf(ie, "c", "gpu-c", 0)
            .editMetadata()
            .addToAnnotations(Labels.WARM_NODE, "gpu-a")
            .endMetadata()
            .build();
    assertEquals("Warm", WarmPlacement.placement(warm));
    assertEquals("Cold", WarmPlacement.placement(sentNowhere));
    assertEquals("Cold", WarmPlacement.placement(elsewhere));
    assertNull(
        WarmPlacement.placement(podOf(ServingPods.qwen(), "d", "gpu-d", 0).build()),
        "no warm pool");
  }

  @Test
  void theStatusCountsWarmNodesAndTheConditionSaysWhyThePoolIsShort() {
    InferenceEndpoint ie = withWarmPool(2);
    Pod warm = placeholder(ie, "w-1", "gpu-a", true);
    Pod pending = placeholder(ie, "w-2", null, false);

    var status = WarmPlacement.status(ie, List.of(warm, pending));
    assertEquals(2, status.getDesired());
    assertEquals(1, status.getReady());
    assertEquals(List.of("gpu-a"), status.getNodes());
    assertEquals(at(30), status.getLastRefillTime());

    Condition short1 = WarmPlacement.condition(ie, List.of(warm, pending), null);
    assertEquals(Condition.FALSE, short1.getStatus());
    assertEquals(WarmPlacement.UNSCHEDULABLE, short1.getReason());
    assertTrue(short1.getMessage().contains("Insufficient nvidia.com/gpu"), short1.getMessage());

    Condition warming =
        WarmPlacement.condition(ie, List.of(warm, placeholder(ie, "w-3", "gpu-b", false)), null);
    assertEquals(WarmPlacement.WARMING, warming.getReason());
    Condition full =
        WarmPlacement.condition(ie, List.of(warm, placeholder(ie, "w-3", "gpu-b", true)), null);
    assertEquals(Condition.TRUE, full.getStatus());
    assertEquals("2 of 2 nodes warm: gpu-a, gpu-b", full.getMessage());
    Condition noClass = WarmPlacement.condition(ie, List.of(), "PriorityClass missing");
    assertEquals(WarmPlacement.PRIORITY_CLASS_MISSING, noClass.getReason());
  }
}
