package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.HELPERS;
import static dev.warmstart.endpoint.ServingPods.NODE;
import static dev.warmstart.endpoint.ServingPods.VLLM;
import static dev.warmstart.endpoint.ServingPods.completed;
import static dev.warmstart.endpoint.ServingPods.condition;
import static dev.warmstart.endpoint.ServingPods.podOf;
import static dev.warmstart.endpoint.ServingPods.qwen;
import static dev.warmstart.endpoint.ServingPods.waiting;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec.ImageCachePolicy;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.api.v1alpha1.WarmPool;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An InferenceEndpoint's status from its Deployment, pods as the kubelet reports them, and
 * ImageCache.
 */
class EndpointStatusTest {
  static final Instant NOW = Instant.parse("2025-06-01T10:00:00Z");
  static final String NO_GPU =
      "0/4 nodes are available: 1 node(s) had untolerated taint "
          + "{node-role.kubernetes.io/control-plane: }, 3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
          + "1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.";
  static final String PULL_DENIED =
      "failed to pull and unpack image \"docker.io/vllm/vllm-openai:v0.11.0\": failed to "
          + "resolve reference \"docker.io/vllm/vllm-openai:v0.11.0\": pull access denied, repository does not exist or "
          + "may require authorization: server message: insufficient_scope: authorization failed";
  static final String FETCH_ERROR =
      "{\"error\":\"s3://models/qwen3-8b/: 403 Forbidden (AccessDenied): check the "
          + "credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\"}";

  // ---------------------------------------------------------------- fixtures

  /** The endpoint's Deployment as the Deployment controller reports it. */
  static Deployment deployment(
      InferenceEndpoint ie,
      Integer specReplicas,
      long generation,
      Long observedGeneration,
      int replicas,
      int ready,
      int updated) {
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    d.getSpec().setReplicas(specReplicas);
    d.getMetadata().setGeneration(generation);
    d.getMetadata().setUid("9a8b7c6d-0000-1111-2222-333344445555");
    d.setStatus(
        new DeploymentStatusBuilder()
            .withObservedGeneration(observedGeneration)
            .withReplicas(replicas)
            .withReadyReplicas(ready == 0 ? null : ready) // the controller leaves zero counts out
            .withAvailableReplicas(ready == 0 ? null : ready)
            .withUpdatedReplicas(updated == 0 ? null : updated)
            .withUnavailableReplicas(replicas - ready == 0 ? null : replicas - ready)
            .build());
    return d;
  }

  /**
   * The Deployment controller has seen the latest spec; {@code replicas} pods, all of the current
   * template.
   */
  static Deployment observed(InferenceEndpoint ie, int specReplicas, int replicas, int ready) {
    return deployment(ie, specReplicas, 3L, 3L, replicas, ready, replicas);
  }

  static InferenceEndpointStatus compute(
      InferenceEndpoint ie,
      Deployment d,
      List<Pod> pods,
      ImageCache cache,
      String missingCredentials) {
    return compute(ie, d, pods, cache, missingCredentials, null);
  }

  /**
   * The status of an endpoint without warm pool or autoscaling, its conditions stamped at {@link
   * #NOW}.
   */
  static InferenceEndpointStatus compute(
      InferenceEndpoint ie,
      Deployment d,
      List<Pod> pods,
      ImageCache cache,
      String missingCredentials,
      ColdStart coldStart) {
    return compute(ie, d, pods, cache, missingCredentials, coldStart, Map.of());
  }

  static InferenceEndpointStatus compute(
      InferenceEndpoint ie,
      Deployment d,
      List<Pod> pods,
      ImageCache cache,
      String missingCredentials,
      ColdStart coldStart,
      Map<String, HealthChecks.Answer> health) {
    return EndpointStatus.compute(
        new EndpointObservation(
            ie, d, pods, List.of(), cache, missingCredentials, coldStart, health, null, true, null),
        NOW);
  }

  static InferenceEndpointStatus compute(InferenceEndpoint ie, Deployment d, List<Pod> pods) {
    return compute(
        ie, d, pods, cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"), null);
  }

  /**
   * One replica asked for, {@code pods} as they are, with what their servers answered the health
   * check.
   */
  static InferenceEndpointStatus computeWith(
      InferenceEndpoint ie, List<Pod> pods, Map<String, HealthChecks.Answer> health) {
    return compute(
        ie,
        observed(ie, pods.size(), pods.size(), 0),
        pods,
        cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
        null,
        null,
        health);
  }

  static ImageCache cache(InferenceEndpoint ie, String status, String reason, String message) {
    ImageCache cache = EndpointModel.imageCache(ie);
    ImageCacheStatus s = new ImageCacheStatus();
    s.setObservedGeneration(1L);
    s.setConditions(
        new ArrayList<>(
            List.of(
                new Condition("Ready", status, reason, message),
                new Condition("Degraded", Condition.FALSE, "AsExpected", "no failures"))));
    cache.setStatus(s);
    return cache;
  }

  static Pod ready(InferenceEndpoint ie, String name) {
    return new ServingPods.Life(name).pod(ie);
  }

  static Pod starting(InferenceEndpoint ie, String name) {
    return new ServingPods.Life(name).ready(null).pod(ie);
  }

  /** Pending: the scheduler found no node with a free GPU. */
  static Pod unschedulable(InferenceEndpoint ie, String name) {
    return podOf(ie, name, null, 0)
        .withNewStatus()
        .withPhase("Pending")
        .withQosClass("Burstable")
        .addToConditions(condition("PodScheduled", "False", "Unschedulable", NO_GPU, 1))
        .endStatus()
        .build();
  }

  /** Bound and initialized, but the serving image cannot be pulled. */
  static Pod pullFailing(InferenceEndpoint ie, String name, String reason, String message) {
    return podOf(ie, name, NODE, 0)
        .withNewStatus()
        .withPhase("Pending")
        .withHostIP("10.0.1.23")
        .withPodIP("10.0.1.78")
        .withStartTime(ServingPods.at(3))
        .withQosClass("Burstable")
        .withConditions(
            condition("PodReadyToStartContainers", "True", 3),
            condition("Initialized", "True", 125),
            condition(
                "Ready",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                0),
            condition(
                "ContainersReady",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                0),
            condition("PodScheduled", "True", 2))
        .withInitContainerStatuses(
            completed(HelperContract.CONTAINER_GATE, 15, 45, null),
            completed(HelperContract.CONTAINER_FETCH_MODEL, 46, 125, ServingPods.FETCH_SUMMARY))
        .withContainerStatuses(waiting(HelperContract.CONTAINER_SERVER, VLLM, reason, message))
        .endStatus()
        .build();
  }

  /**
   * fetch-model exited 1: either just now ({@code restarted} false) or before, and the kubelet
   * backs off.
   */
  static Pod downloadFailing(InferenceEndpoint ie, String name, boolean restarted) {
    var failedRun =
        new io.fabric8.kubernetes.api.model.ContainerStateBuilder()
            .withNewTerminated()
            .withExitCode(1)
            .withReason("Error")
            .withMessage(FETCH_ERROR)
            .withStartedAt(ServingPods.at(46))
            .withFinishedAt(ServingPods.at(48))
            .withContainerID("containerd://" + "ab".repeat(32))
            .endTerminated()
            .build();
    ContainerStatusBuilder fetch =
        new ContainerStatusBuilder()
            .withName(HelperContract.CONTAINER_FETCH_MODEL)
            .withImage("docker.io/" + HELPERS.image())
            .withImageID("docker.io/warmstart/warmstart@" + ServingPods.digest("helper"))
            .withContainerID("containerd://" + "ab".repeat(32))
            .withReady(false)
            .withStarted(false);
    if (restarted) {
      fetch
          .withRestartCount(3)
          .withNewState()
          .withNewWaiting()
          .withReason("CrashLoopBackOff")
          .withMessage(
              "back-off 40s restarting failed container=fetch-model pod=" + name + "_ml(uid)")
          .endWaiting()
          .endState()
          .withLastState(failedRun);
    } else {
      fetch.withRestartCount(0).withState(failedRun);
    }
    return initStuck(ie, name, fetch.build());
  }

  static Pod initStuck(InferenceEndpoint ie, String name, ContainerStatus fetch) {
    return podOf(ie, name, NODE, 0)
        .withNewStatus()
        .withPhase("Pending")
        .withHostIP("10.0.1.23")
        .withPodIP("10.0.1.79")
        .withStartTime(ServingPods.at(3))
        .withQosClass("Burstable")
        .withConditions(
            condition("PodReadyToStartContainers", "True", 3),
            condition(
                "Initialized",
                "False",
                "ContainersNotInitialized",
                "containers with incomplete status: [fetch-model]",
                0),
            condition(
                "Ready",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                0),
            condition(
                "ContainersReady",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                0),
            condition("PodScheduled", "True", 2))
        .withInitContainerStatuses(completed(HelperContract.CONTAINER_GATE, 15, 45, null), fetch)
        .withContainerStatuses(
            waiting(HelperContract.CONTAINER_SERVER, VLLM, "PodInitializing", null))
        .endStatus()
        .build();
  }

  /** The server keeps exiting (for example out of GPU memory) and the kubelet backs off. */
  static Pod crashLooping(InferenceEndpoint ie, String name) {
    Pod pod = new ServingPods.Life(name).ready(null).pod(ie);
    ContainerStatus server =
        new ContainerStatusBuilder(pod.getStatus().getContainerStatuses().get(0))
            .withRestartCount(4)
            .withStarted(false)
            .withNewState()
            .withNewWaiting()
            .withReason("CrashLoopBackOff")
            .withMessage(
                "back-off 1m20s restarting failed container=server pod=" + name + "_ml(uid)")
            .endWaiting()
            .endState()
            .withNewLastState()
            .withNewTerminated()
            .withExitCode(1)
            .withReason("Error")
            .withStartedAt(ServingPods.at(300))
            .withFinishedAt(ServingPods.at(340))
            .endTerminated()
            .endLastState()
            .build();
    return new PodBuilder(pod).editStatus().withContainerStatuses(server).endStatus().build();
  }

  static Pod terminating(Pod pod) {
    return new PodBuilder(pod)
        .editMetadata()
        .withDeletionTimestamp(ServingPods.at(4000))
        .withDeletionGracePeriodSeconds(30L)
        .endMetadata()
        .build();
  }

  static Condition find(InferenceEndpointStatus status, String type) {
    return Conditions.find(status.getConditions(), type)
        .orElseThrow(
            () -> new AssertionError("no " + type + " condition in " + status.getConditions()));
  }

  static Condition assertCondition(
      InferenceEndpointStatus status, String type, String expectedStatus, String expectedReason) {
    Condition c = find(status, type);
    assertEquals(expectedStatus, c.getStatus(), () -> type + ": " + c);
    assertEquals(expectedReason, c.getReason(), () -> type + ": " + c);
    assertTrue(
        c.getMessage() != null && !c.getMessage().isBlank(), () -> type + " needs a message: " + c);
    return c;
  }

  static void assertContains(String text, String... parts) {
    for (String part : parts) {
      assertTrue(text.contains(part), () -> "'" + part + "' missing from: " + text);
    }
  }

  // ---------------------------------------------------------------- Ready

  @Test
  void readyWhenEveryReplicaIsReady() {
    InferenceEndpoint ie = qwen();
    ColdStart coldStart =
        ColdStarts.record(null, ColdStarts.newSince(null, List.of(ready(ie, "a"), ready(ie, "b"))));
    InferenceEndpointStatus status =
        compute(
            ie,
            observed(ie, 2, 2, 2),
            List.of(ready(ie, "a"), ready(ie, "b")),
            cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
            null,
            coldStart);

    Condition readyCondition =
        assertCondition(status, EndpointStatus.READY, Condition.TRUE, "ReplicasReady");
    assertContains(readyCondition.getMessage(), "2/2");
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.FALSE, "Complete");
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertCondition(status, EndpointStatus.IMAGE_CACHED, Condition.TRUE, "AllNodesCached");
    assertEquals(
        List.of("Ready", "ImageCached", "Progressing", "Degraded"),
        status.getConditions().stream().map(Condition::getType).toList());
    assertEquals(2, status.getReplicas());
    assertEquals(2, status.getReadyReplicas());
    assertEquals(4L, status.getObservedGeneration());
    assertEquals("warmstart.dev/endpoint=qwen3-8b", status.getSelector());
    assertEquals("http://qwen3-8b.ml.svc:8000", status.getUrl());
    assertSame(coldStart, status.getColdStart());
  }

  @Test
  void moreReadyThanDesiredIsReady() {
    // Scaling down from 3 to 2: the third replica is still ready while it terminates.
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(
            ie,
            deployment(ie, 2, 3, 3L, 3, 3, 3),
            List.of(ready(ie, "a"), ready(ie, "b"), ready(ie, "c")));
    assertCondition(status, EndpointStatus.READY, Condition.TRUE, "ReplicasReady");
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.TRUE, "RollingOut");
  }

  @Test
  void notReadyBeforeTheDeploymentControllerSawTheSpec() {
    // The counts still describe the previous generation, which may have had fewer replicas.
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(ie, deployment(ie, 2, 4, 3L, 2, 2, 2), List.of(ready(ie, "a"), ready(ie, "b")));
    assertEquals(Condition.FALSE, find(status, EndpointStatus.READY).getStatus());
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.TRUE, "Reconciling");

    InferenceEndpointStatus unobserved =
        compute(ie, deployment(ie, 2, 1, null, 0, 0, 0), List.of());
    assertEquals(Condition.FALSE, find(unobserved, EndpointStatus.READY).getStatus());
    assertCondition(unobserved, EndpointStatus.PROGRESSING, Condition.TRUE, "Reconciling");
  }

  @Test
  void beforeTheDeploymentExists() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status = compute(ie, null, List.of(), null, null);
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
    assertContains(find(status, EndpointStatus.READY).getMessage(), "0/2");
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.TRUE, "Reconciling");
    assertCondition(status, EndpointStatus.IMAGE_CACHED, Condition.UNKNOWN, "Reconciling");
    assertEquals(0, status.getReplicas());
    assertEquals(0, status.getReadyReplicas());
  }

  @Test
  void scaledToZero() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setReplicas(0);
    InferenceEndpointStatus status = compute(ie, observed(ie, 0, 0, 0), List.of());
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ScaledToZero");
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.FALSE, "Complete");
    assertCondition(
        compute(ie, null, List.of(), null, null),
        EndpointStatus.READY,
        Condition.FALSE,
        "ScaledToZero");
  }

  @Test
  void autoscalerScaledToZero() {
    // With autoscaling the count is the Deployment's, where the autoscaler writes it.
    InferenceEndpoint ie = qwen();
    ie.getSpec().setReplicas(null);
    Autoscaling autoscaling = new Autoscaling();
    autoscaling.setMinReplicas(0);
    autoscaling.setMaxReplicas(4);
    ie.getSpec().setAutoscaling(autoscaling);
    assertCondition(
        compute(ie, observed(ie, 0, 0, 0), List.of()),
        EndpointStatus.READY,
        Condition.FALSE,
        "ScaledToZero");
    InferenceEndpointStatus three =
        compute(
            ie,
            observed(ie, 3, 3, 1),
            List.of(ready(ie, "a"), starting(ie, "b"), starting(ie, "c")));
    assertCondition(three, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
    assertContains(find(three, EndpointStatus.READY).getMessage(), "1/3");
  }

  @Test
  void replicasStarting() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 1), List.of(ready(ie, "a"), starting(ie, "b")));
    Condition ready =
        assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
    assertContains(ready.getMessage(), "1/2");
    assertCondition(status, EndpointStatus.PROGRESSING, Condition.TRUE, "ReplicasStarting");
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertEquals(2, status.getReplicas());
    assertEquals(1, status.getReadyReplicas());
  }

  @Test
  void unschedulableCarriesTheSchedulersMessage() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 1), List.of(ready(ie, "a"), unschedulable(ie, "b")));
    Condition ready =
        assertCondition(status, EndpointStatus.READY, Condition.FALSE, "Unschedulable");
    assertContains(ready.getMessage(), NO_GPU, "1/2");
    // A node may yet come (Karpenter, cluster autoscaler): waiting for one is not a failure.
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
  }

  @Test
  void scheduledPodIsNotUnschedulable() {
    InferenceEndpoint ie = qwen();
    Pod gated =
        podOf(ie, "b", null, 0)
            .withNewStatus()
            .withPhase("Pending")
            .addToConditions(
                condition(
                    "PodScheduled",
                    "False",
                    "SchedulingGated",
                    "Scheduling is blocked due to " + "non-empty scheduling gates",
                    1))
            .endStatus()
            .build();
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 1), List.of(ready(ie, "a"), gated));
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
  }

  // ---------------------------------------------------------------- Degraded

  @ParameterizedTest
  @ValueSource(strings = {"ErrImagePull", "ImagePullBackOff"})
  void imagePullFailureNamesImageAndNode(String reason) {
    InferenceEndpoint ie = qwen();
    String message =
        reason.equals("ErrImagePull")
            ? PULL_DENIED
            : "Back-off pulling image \"" + VLLM + "\": ErrImagePull: " + PULL_DENIED;
    InferenceEndpointStatus status =
        compute(
            ie,
            observed(ie, 2, 2, 1),
            List.of(ready(ie, "a"), pullFailing(ie, "b", reason, message)));
    Condition degraded =
        assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "ImagePullFailed");
    assertContains(degraded.getMessage(), VLLM, NODE, reason, message);
    Condition ready =
        assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ImagePullFailed");
    assertContains(ready.getMessage(), "1/2", NODE);
  }

  @Test
  void stillPullingIsNoFailure() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(
            ie, observed(ie, 1, 1, 0), List.of(pullFailing(ie, "a", "ContainerCreating", null)));
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void modelDownloadFailureCarriesTheTerminationMessage(boolean restarted) {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(
            ie,
            observed(ie, 1, 1, 0),
            List.of(downloadFailing(ie, "qwen3-8b-7d9f8c6b5-x2x4q", restarted)));
    Condition degraded =
        assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "ModelDownloadFailed");
    assertContains(
        degraded.getMessage(), "qwen3-8b-7d9f8c6b5-x2x4q", "403 Forbidden (AccessDenied)");
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ModelDownloadFailed");
  }

  @Test
  void modelDownloadFailureWithoutMessageGivesTheExitCode() {
    InferenceEndpoint ie = qwen();
    ContainerStatus killed =
        new ContainerStatusBuilder()
            .withName(HelperContract.CONTAINER_FETCH_MODEL)
            .withImage(HELPERS.image())
            .withImageID("")
            .withReady(false)
            .withStarted(false)
            .withRestartCount(1)
            .withNewState()
            .withNewWaiting()
            .withReason("CrashLoopBackOff")
            .endWaiting()
            .endState()
            .withNewLastState()
            .withNewTerminated()
            .withExitCode(137)
            .withReason("OOMKilled")
            .withStartedAt(ServingPods.at(46))
            .withFinishedAt(ServingPods.at(90))
            .endTerminated()
            .endLastState()
            .build();
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 1, 1, 0), List.of(initStuck(ie, "p", killed)));
    Condition degraded =
        assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "ModelDownloadFailed");
    assertContains(degraded.getMessage(), "137");
  }

  @Test
  void downloadThatFailedOnceAndThenSucceededIsNoFailure() {
    // A transient error: fetch-model exited 1, the kubelet ran it again, it completed, the server
    // is ready.
    InferenceEndpoint ie = qwen();
    Pod pod = ready(ie, "a");
    ContainerStatus fetch =
        new ContainerStatusBuilder(pod.getStatus().getInitContainerStatuses().get(1))
            .withRestartCount(1)
            .withNewLastState()
            .withNewTerminated()
            .withExitCode(1)
            .withReason("Error")
            .withMessage(FETCH_ERROR)
            .withStartedAt(ServingPods.at(20))
            .withFinishedAt(ServingPods.at(22))
            .endTerminated()
            .endLastState()
            .build();
    Pod recovered =
        new PodBuilder(pod)
            .editStatus()
            .withInitContainerStatuses(pod.getStatus().getInitContainerStatuses().get(0), fetch)
            .endStatus()
            .build();
    InferenceEndpointStatus status = compute(ie, observed(ie, 1, 1, 1), List.of(recovered));
    assertCondition(status, EndpointStatus.READY, Condition.TRUE, "ReplicasReady");
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
  }

  @Test
  void serverCrashLooping() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus status =
        compute(
            ie,
            observed(ie, 2, 2, 1),
            List.of(ready(ie, "a"), crashLooping(ie, "qwen3-8b-7d9f8c6b5-zz9k2")));
    Condition degraded =
        assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "ServerCrashLooping");
    assertContains(degraded.getMessage(), "qwen3-8b-7d9f8c6b5-zz9k2", "kubectl logs");
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ServerCrashLooping");
  }

  @Test
  void crashLoopingSaysHowTheServerLastExited() {
    InferenceEndpoint ie = qwen();
    Pod pod = crashLooping(ie, "a");
    ContainerStatus server = pod.getStatus().getContainerStatuses().get(0);
    // With terminationMessagePolicy FallbackToLogsOnError, the kubelet puts the log's tail there.
    server
        .getLastState()
        .getTerminated()
        .setMessage(
            "INFO loading weights\n"
                + "ERROR torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n\n");
    Condition degraded =
        assertCondition(
            compute(ie, observed(ie, 1, 1, 0), List.of(pod)),
            EndpointStatus.DEGRADED,
            Condition.TRUE,
            "ServerCrashLooping");
    assertContains(
        degraded.getMessage(),
        "keeps exiting (exit code 1: ERROR torch.OutOfMemoryError: CUDA out of "
            + "memory. Tried to allocate 2.00 GiB): see kubectl logs a -c server --previous");

    server.getLastState().getTerminated().setMessage("x".repeat(5000));
    degraded =
        assertCondition(
            compute(ie, observed(ie, 1, 1, 0), List.of(pod)),
            EndpointStatus.DEGRADED,
            Condition.TRUE,
            "ServerCrashLooping");
    assertContains(
        degraded.getMessage(),
        "(exit code 1: " + "x".repeat(EndpointStatus.MAX_LAST_WORDS) + "...)");

    server.getLastState().getTerminated().setMessage(null);
    degraded =
        assertCondition(
            compute(ie, observed(ie, 1, 1, 0), List.of(pod)),
            EndpointStatus.DEGRADED,
            Condition.TRUE,
            "ServerCrashLooping");
    assertContains(degraded.getMessage(), "keeps exiting (exit code 1): see kubectl logs");
  }

  /**
   * The node controller marks the pods of a node that stopped reporting not ready, and only the
   * pod's Ready condition: its containers' last report (ready) stays.
   */
  @Test
  void aReplicaOnANodeThatStoppedReportingNamesTheNode() {
    InferenceEndpoint ie = qwen();
    Pod lost = ready(ie, "a");
    lost.getStatus().getConditions().stream()
        .filter(c -> "Ready".equals(c.getType()))
        .forEach(
            c -> {
              c.setStatus("False");
              c.setLastTransitionTime(ServingPods.at(900));
            });
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 1), List.of(lost, ready(ie, "b")));
    Condition ready =
        assertCondition(status, EndpointStatus.READY, Condition.FALSE, "NodeNotReady");
    assertContains(
        ready.getMessage(),
        "1/2 replicas ready",
        "pod a on node " + NODE,
        "stopped reporting",
        "kubectl describe node " + NODE,
        ServingPods.at(900));
    assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "NodeNotReady");

    // The kubelet's own not-ready (a failing readiness probe) is not that: its containers say so
    // too.
    Pod unready = ready(ie, "a");
    unready.getStatus().getConditions().stream()
        .filter(c -> c.getType().endsWith("Ready"))
        .forEach(c -> c.setStatus("False"));
    unready.getStatus().getContainerStatuses().get(0).setReady(false);
    status = compute(ie, observed(ie, 2, 2, 1), List.of(unready, ready(ie, "b")));
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
  }

  @Test
  void missingCredentialsSecretComesFirst() {
    InferenceEndpoint ie = qwen();
    List<Pod> pods =
        List.of(
            pullFailing(ie, "a", "ErrImagePull", PULL_DENIED),
            downloadFailing(ie, "b", true),
            crashLooping(ie, "c"));
    InferenceEndpointStatus status =
        compute(
            ie,
            observed(ie, 2, 3, 0),
            pods,
            cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
            "s3-models");
    Condition degraded =
        assertCondition(
            status, EndpointStatus.DEGRADED, Condition.TRUE, "CredentialsSecretNotFound");
    assertContains(degraded.getMessage(), "s3-models", "ml");
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "CredentialsSecretNotFound");
    // Even with every replica up (the secret was deleted after they started) the user must hear of
    // it.
    InferenceEndpointStatus up =
        compute(
            ie,
            observed(ie, 1, 1, 1),
            List.of(ready(ie, "a")),
            cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
            "s3-models");
    assertCondition(up, EndpointStatus.DEGRADED, Condition.TRUE, "CredentialsSecretNotFound");
  }

  @Test
  void firstPodByNameDecidesWhatIsReported() {
    InferenceEndpoint ie = qwen();
    List<Pod> pods =
        new ArrayList<>(
            List.of(
                crashLooping(ie, "b"),
                pullFailing(ie, "a", "ErrImagePull", PULL_DENIED),
                downloadFailing(ie, "c", true)));
    InferenceEndpointStatus status = compute(ie, observed(ie, 3, 3, 0), pods);
    assertCondition(status, EndpointStatus.DEGRADED, Condition.TRUE, "ImagePullFailed");
    Collections.reverse(pods);
    assertEquals(
        status,
        compute(ie, observed(ie, 3, 3, 0), pods),
        "the order pods are listed in does not matter");
  }

  @Test
  void terminatingPodsAreIgnored() {
    InferenceEndpoint ie = qwen();
    List<Pod> pods =
        List.of(
            terminating(pullFailing(ie, "old-a", "ImagePullBackOff", PULL_DENIED)),
            terminating(downloadFailing(ie, "old-b", true)),
            terminating(crashLooping(ie, "old-c")),
            terminating(unschedulable(ie, "old-d")),
            starting(ie, "new"));
    InferenceEndpointStatus status = compute(ie, deployment(ie, 1, 3, 3L, 1, 0, 1), pods);
    assertCondition(status, EndpointStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertCondition(status, EndpointStatus.READY, Condition.FALSE, "ReplicasStarting");
  }

  // ---------------------------------------------------------------- ImageCached

  @ParameterizedTest
  @ValueSource(
      strings = {
        "True/AllNodesCached",
        "False/Pulling",
        "False/PullFailed",
        "False/NoMatchingNodes"
      })
  void imageCachedMirrorsTheImageCache(String statusAndReason) {
    String[] sr = statusAndReason.split("/");
    InferenceEndpoint ie = qwen();
    String message = "2 of 3 nodes hold 1 images (" + sr[1] + ")";
    ImageCache cache = cache(ie, sr[0], sr[1], message);
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 2), List.of(ready(ie, "a"), ready(ie, "b")), cache, null);
    Condition cached = assertCondition(status, EndpointStatus.IMAGE_CACHED, sr[0], sr[1]);
    assertContains(cached.getMessage(), "qwen3-8b-serving-image", message);
  }

  @Test
  void cachingDisabled() {
    InferenceEndpoint ie = qwen();
    ImageCachePolicy off = new ImageCachePolicy();
    off.setEnabled(false);
    ie.getSpec().setImageCache(off);
    InferenceEndpointStatus status =
        compute(ie, observed(ie, 2, 2, 2), List.of(ready(ie, "a"), ready(ie, "b")), null, null);
    Condition cached =
        assertCondition(status, EndpointStatus.IMAGE_CACHED, Condition.FALSE, "CachingDisabled");
    assertContains(cached.getMessage(), "spec.imageCache.enabled");
    assertCondition(status, EndpointStatus.READY, Condition.TRUE, "ReplicasReady");
    // An ImageCache left over from before, not yet deleted, does not count.
    InferenceEndpointStatus stale =
        compute(
            ie,
            observed(ie, 2, 2, 2),
            List.of(ready(ie, "a"), ready(ie, "b")),
            cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
            null);
    assertCondition(stale, EndpointStatus.IMAGE_CACHED, Condition.FALSE, "CachingDisabled");
  }

  @Test
  void imageCachedUnknownUntilTheCacheHasStatus() {
    InferenceEndpoint ie = qwen();
    Deployment d = observed(ie, 2, 2, 2);
    List<Pod> pods = List.of(ready(ie, "a"), ready(ie, "b"));
    assertCondition(
        compute(ie, d, pods, null, null),
        EndpointStatus.IMAGE_CACHED,
        Condition.UNKNOWN,
        "Reconciling");
    assertCondition(
        compute(ie, d, pods, EndpointModel.imageCache(ie), null),
        EndpointStatus.IMAGE_CACHED,
        Condition.UNKNOWN,
        "Reconciling");
    ImageCache noReady = EndpointModel.imageCache(ie);
    noReady.setStatus(new ImageCacheStatus());
    assertCondition(
        compute(ie, d, pods, noReady, null),
        EndpointStatus.IMAGE_CACHED,
        Condition.UNKNOWN,
        "Reconciling");
    // Serving does not wait for the cache.
    assertCondition(
        compute(ie, d, pods, null, null), EndpointStatus.READY, Condition.TRUE, "ReplicasReady");
  }

  // ---------------------------------------------------------------- Progressing

  @Test
  void progressingWhileRollingOut() {
    InferenceEndpoint ie = qwen();
    // One of two replicas runs the new template; a third (old) one still serves.
    InferenceEndpointStatus rolling =
        compute(
            ie,
            deployment(ie, 2, 3, 3L, 3, 2, 1),
            List.of(ready(ie, "old-a"), ready(ie, "old-b"), starting(ie, "new-a")));
    Condition progressing =
        assertCondition(rolling, EndpointStatus.PROGRESSING, Condition.TRUE, "RollingOut");
    assertContains(progressing.getMessage(), "1/2");
    assertCondition(rolling, EndpointStatus.READY, Condition.TRUE, "ReplicasReady");

    // Every replica is new but an old one has yet to go.
    InferenceEndpointStatus surplus =
        compute(
            ie,
            deployment(ie, 2, 3, 3L, 3, 2, 2),
            List.of(ready(ie, "new-a"), ready(ie, "new-b"), ready(ie, "old-a")));
    assertCondition(surplus, EndpointStatus.PROGRESSING, Condition.TRUE, "RollingOut");

    InferenceEndpointStatus starting =
        compute(ie, observed(ie, 2, 2, 1), List.of(ready(ie, "a"), starting(ie, "b")));
    assertCondition(starting, EndpointStatus.PROGRESSING, Condition.TRUE, "ReplicasStarting");

    InferenceEndpointStatus complete =
        compute(ie, observed(ie, 2, 2, 2), List.of(ready(ie, "a"), ready(ie, "b")));
    assertCondition(complete, EndpointStatus.PROGRESSING, Condition.FALSE, "Complete");
  }

  // ---------------------------------------------------------------- what the autoscaler owns

  @Test
  void autoscalerFieldsAreCarriedOver() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus previous = new InferenceEndpointStatus();
    previous.setDesiredReplicas(3);
    previous.setLastScaleTime("2025-06-01T09:58:12Z");
    previous.setReplicas(2);
    previous.setReadyReplicas(2);
    ie.setStatus(previous);
    InferenceEndpointStatus status =
        compute(
            ie, observed(ie, 3, 3, 2), List.of(ready(ie, "a"), ready(ie, "b"), starting(ie, "c")));
    assertEquals(3, status.getDesiredReplicas());
    assertEquals("2025-06-01T09:58:12Z", status.getLastScaleTime());
    assertEquals(3, status.getReplicas(), "the rest is computed afresh");

    ie.setStatus(null);
    InferenceEndpointStatus first =
        compute(
            ie, observed(ie, 3, 3, 2), List.of(ready(ie, "a"), ready(ie, "b"), starting(ie, "c")));
    assertNull(first.getDesiredReplicas());
    assertNull(first.getLastScaleTime());
  }

  // ---------------------------------------------------------------- equality

  static List<Pod> mixedPods(InferenceEndpoint ie) {
    return List.of(
        ready(ie, "a"),
        ready(ie, "b"),
        starting(ie, "c"),
        unschedulable(ie, "d"),
        pullFailing(ie, "e", "ImagePullBackOff", PULL_DENIED),
        downloadFailing(ie, "f", true),
        crashLooping(ie, "g"),
        terminating(ready(ie, "h")));
  }

  @Test
  void computingTwiceGivesEqualStatuses() {
    InferenceEndpoint ie = qwen();
    ImageCache cache = cache(ie, "False", "Pulling", "1 of 3 nodes hold 1 images");
    ColdStart coldStart = ColdStarts.record(null, ColdStarts.newSince(null, mixedPods(ie)));
    InferenceEndpointStatus a =
        compute(ie, observed(ie, 7, 7, 2), mixedPods(ie), cache, null, coldStart);
    InferenceEndpointStatus b =
        compute(
            qwen(),
            observed(qwen(), 7, 7, 2),
            mixedPods(qwen()),
            cache(qwen(), "False", "Pulling", "1 of 3 nodes hold 1 images"),
            null,
            ColdStarts.record(null, ColdStarts.newSince(null, mixedPods(qwen()))));
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(
        a,
        compute(ie, observed(ie, 7, 7, 3), mixedPods(ie), cache, null, coldStart),
        "another ready count is another status");
  }

  @Test
  void statusReadBackFromTheApiServerEqualsTheRecomputedOne() {
    // What the reconciler does: record cold starts, compute, merge conditions, patch; later read
    // the status
    // back with the endpoint and do it all again. Nothing changed, so nothing may be patched.
    InferenceEndpoint ie = qwen();
    Deployment d = observed(ie, 7, 7, 2);
    ImageCache cache = cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images");
    InferenceEndpointStatus first =
        compute(
            ie,
            d,
            mixedPods(ie),
            cache,
            null,
            ColdStarts.record(null, ColdStarts.newSince(null, mixedPods(ie))));
    first.setConditions(
        Conditions.merge(null, first.getConditions(), 4, Instant.parse("2025-06-01T10:10:00Z")));
    InferenceEndpointStatus stored =
        Serialization.unmarshal(Serialization.asJson(first), InferenceEndpointStatus.class);
    assertEquals(first, stored, "the status survives JSON");

    InferenceEndpoint later = qwen();
    later.setStatus(stored);
    ColdStart previous = stored.getColdStart();
    List<ColdStarts.Measured> fresh = ColdStarts.newSince(previous, mixedPods(later));
    assertEquals(List.of(), fresh, "no new cold start");
    InferenceEndpointStatus again =
        compute(later, d, mixedPods(later), cache, null, ColdStarts.record(previous, fresh));
    again.setConditions(
        Conditions.merge(
            stored.getConditions(),
            again.getConditions(),
            4,
            Instant.parse("2025-06-01T10:17:00Z")));
    assertEquals(
        stored,
        again,
        () ->
            "a no-op reconcile would patch the status:\n"
                + Serialization.asYaml(stored)
                + "---\n"
                + Serialization.asYaml(again));
    assertFalse(stored.getColdStart().getRecent().isEmpty());
  }

  // ---------------------------------------------------------------- the finished status, one
  // writer

  static EndpointObservation observation(
      InferenceEndpoint ie,
      List<Pod> placeholders,
      Autoscaler.Outcome scaling,
      boolean autoscalerRuns,
      String priorityClassProblem) {
    return new EndpointObservation(
        ie,
        observed(ie, 2, 2, 2),
        List.of(ready(ie, "a"), ready(ie, "b")),
        placeholders,
        cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
        null,
        null,
        Map.of(),
        scaling,
        autoscalerRuns,
        priorityClassProblem);
  }

  @Test
  void transitionTimesAreKeptWhereTheStatusDidNotChange() {
    InferenceEndpoint ie = qwen();
    InferenceEndpointStatus first =
        EndpointStatus.compute(observation(ie, List.of(), null, true, null), NOW);
    assertEquals(NOW.toString(), find(first, EndpointStatus.READY).getLastTransitionTime());
    assertEquals(
        ie.getMetadata().getGeneration(),
        find(first, EndpointStatus.READY).getObservedGeneration());

    ie.setStatus(first);
    Instant later = NOW.plusSeconds(60);
    InferenceEndpointStatus same =
        EndpointStatus.compute(observation(ie, List.of(), null, true, null), later);
    assertEquals(first, same, "nothing changed, nothing to patch");

    InferenceEndpointStatus degraded =
        EndpointStatus.compute(
            new EndpointObservation(
                ie,
                observed(ie, 2, 2, 2),
                List.of(ready(ie, "a"), ready(ie, "b")),
                List.of(),
                cache(ie, "True", "AllNodesCached", "all 3 nodes hold 1 images"),
                "s3-creds",
                null,
                Map.of(),
                null,
                true,
                null),
            later);
    assertEquals(later.toString(), find(degraded, EndpointStatus.DEGRADED).getLastTransitionTime());
    assertEquals(NOW.toString(), find(degraded, EndpointStatus.READY).getLastTransitionTime());
  }

  @Test
  void theAutoscalersPartComesFromItsRound() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setAutoscaling(new Autoscaling());
    InferenceEndpointStatus previous = new InferenceEndpointStatus();
    previous.setDesiredReplicas(2);
    previous.setLastScaleTime("2025-06-01T09:00:00Z");
    ie.setStatus(previous);
    var scaled =
        new Autoscaler.Outcome(
            3,
            Instant.parse("2025-06-01T09:58:12.345Z"),
            List.of(new InferenceEndpointStatus.MetricValue("Pods", "vllm:num_requests_waiting")),
            List.of(
                new Condition(
                    "AbleToScale",
                    Condition.TRUE,
                    "SucceededRescale",
                    "the Deployment was scaled to 3"),
                new Condition("ScalingActive", Condition.TRUE, "ValidMetricFound", "read"),
                new Condition(
                    "ScalingLimited", Condition.FALSE, "DesiredWithinRange", "within range")),
            Duration.ofSeconds(2));
    InferenceEndpointStatus status =
        EndpointStatus.compute(observation(ie, List.of(), scaled, true, null), NOW);
    assertEquals(3, status.getDesiredReplicas());
    assertEquals("2025-06-01T09:58:12Z", status.getLastScaleTime());
    assertEquals(1, status.getCurrentMetrics().size());
    assertEquals(
        List.of(
            "Ready",
            "ImageCached",
            "Progressing",
            "Degraded",
            "AbleToScale",
            "ScalingActive",
            "ScalingLimited"),
        status.getConditions().stream().map(Condition::getType).toList());

    InferenceEndpointStatus waiting =
        EndpointStatus.compute(observation(ie, List.of(), null, true, null), NOW);
    assertEquals(2, waiting.getDesiredReplicas(), "no round yet: the last decision stands");
    assertEquals("2025-06-01T09:00:00Z", waiting.getLastScaleTime());
    assertCondition(waiting, "AbleToScale", Condition.FALSE, "NoScaleTarget");
    assertCondition(
        EndpointStatus.compute(observation(ie, List.of(), null, false, null), NOW),
        "AbleToScale",
        Condition.FALSE,
        "AutoscalerOff");
  }

  @Test
  void theWarmPoolsPartComesWithSpecWarmPool() {
    InferenceEndpoint ie = qwen();
    assertNull(
        EndpointStatus.compute(observation(ie, List.of(), null, true, null), NOW).getWarmPool());
    ie.getSpec().setWarmPool(new WarmPool());
    ie.getSpec().getWarmPool().setReplicas(1);
    InferenceEndpointStatus status =
        EndpointStatus.compute(observation(ie, List.of(), null, true, null), NOW);
    assertEquals(1, status.getWarmPool().getDesired());
    assertEquals(0, status.getWarmPool().getReady());
    assertCondition(status, WarmPlacement.WARM_POOL_READY, Condition.FALSE, WarmPlacement.WARMING);
    assertCondition(
        EndpointStatus.compute(
            observation(ie, List.of(), null, true, "PriorityClass x is missing"), NOW),
        WarmPlacement.WARM_POOL_READY,
        Condition.FALSE,
        WarmPlacement.PRIORITY_CLASS_MISSING);
  }
}
