package dev.warmstart.imagecache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeout;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.CachedImage;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.NodeCounts;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.PullFailure;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Names;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetStatusBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Status of an ImageCache from pods as the kubelet reports them. */
class CacheStatusTest {
  static final String HELPER = "ghcr.io/warmstart/warmstart:0.1.0";
  static final HelperSettings HELPERS = new HelperSettings(HELPER, null);
  static final String VLLM = "vllm/vllm-openai:v0.11.0";
  static final String SGLANG = "lmsysorg/sglang:v0.5.4";
  static final String DIGEST_A = digestOf("a");
  static final String DIGEST_B = digestOf("b");
  static final String NO_SUCH_TAG =
      "rpc error: code = NotFound desc = failed to pull and unpack image "
          + "\"docker.io/vllm/vllm-openai:v0.11.0\": failed to resolve reference "
          + "\"docker.io/vllm/vllm-openai:v0.11.0\": docker.io/vllm/vllm-openai:v0.11.0: not found";

  // ---------------------------------------------------------------- fixtures

  static String digestOf(String seed) {
    try {
      return "sha256:"
          + HexFormat.of()
              .formatHex(
                  MessageDigest.getInstance("SHA-256")
                      .digest(seed.getBytes(StandardCharsets.UTF_8)));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static ImageCache cache(String... images) {
    ImageCache cache = new ImageCache();
    cache.setMetadata(
        new ObjectMetaBuilder()
            .withName("serving-images")
            .withNamespace("ml")
            .withGeneration(3L)
            .withUid("6f1c0d1e-8a3b-4a5e-9d0f-3c2b1a0f9e8d")
            .build());
    ImageCacheSpec spec = new ImageCacheSpec();
    spec.setImages(new ArrayList<>(List.of(images)));
    cache.setSpec(spec);
    return cache;
  }

  /** The cache's DaemonSet after the DaemonSet controller saw its latest generation. */
  static DaemonSet observed(ImageCache cache, int desiredNumberScheduled) {
    return daemonSet(cache, 2L, 2L, desiredNumberScheduled);
  }

  static DaemonSet daemonSet(
      ImageCache cache, long generation, Long observedGeneration, int desiredNumberScheduled) {
    DaemonSet ds = CacheDaemonSetModel.desired(cache, HELPERS);
    ds.getMetadata().setGeneration(generation);
    ds.getMetadata().setUid("0b7d3c4e-1111-2222-3333-444455556666");
    ds.setStatus(
        new DaemonSetStatusBuilder()
            .withObservedGeneration(observedGeneration)
            .withDesiredNumberScheduled(desiredNumberScheduled)
            .withCurrentNumberScheduled(desiredNumberScheduled)
            .withNumberMisscheduled(0)
            .withNumberReady(0)
            .build());
    return ds;
  }

  private static int podCounter;
  private static final Map<ImageCache, DaemonSet> TEMPLATES = new java.util.IdentityHashMap<>();

  /** A DaemonSet pod of {@code cache}'s current template, bound to {@code node}. */
  static PodBuilder podOf(ImageCache cache, String node) {
    DaemonSet ds = TEMPLATES.computeIfAbsent(cache, c -> CacheDaemonSetModel.desired(c, HELPERS));
    var template = ds.getSpec().getTemplate();
    return new PodBuilder()
        .withNewMetadata()
        .withName(
            ds.getMetadata().getName() + "-" + Integer.toString(36 * 36 * 36 + podCounter++, 36))
        .withGenerateName(ds.getMetadata().getName() + "-")
        .withNamespace("ml")
        .withLabels(template.getMetadata().getLabels())
        .addToLabels(
            "controller-revision-hash", Names.hash(String.join(",", cache.getSpec().getImages())))
        .withAnnotations(template.getMetadata().getAnnotations())
        .endMetadata()
        .withSpec(new PodSpecBuilder(template.getSpec()).withNodeName(node).build());
  }

  /**
   * A pod as the kubelet reports it: the install-pause init container done, then the given
   * container statuses.
   */
  static Pod pod(ImageCache cache, String node, ContainerStatus... statuses) {
    boolean allRunning =
        Arrays.stream(statuses).allMatch(s -> s.getState().getRunning() != null)
            && statuses.length == cache.getSpec().getImages().size();
    return podOf(cache, node)
        .withNewStatus()
        .withPhase(allRunning ? "Running" : "Pending")
        .withHostIP("10.0.0.1")
        .withPodIP("10.1.0.1")
        .withStartTime("2025-06-01T10:00:00Z")
        .withInitContainerStatuses(helperCompleted())
        .withContainerStatuses(statuses)
        .endStatus()
        .build();
  }

  static ContainerStatus helperCompleted() {
    return new ContainerStatusBuilder()
        .withName(HelperContract.CONTAINER_INSTALL_PAUSE)
        .withImage(HELPER)
        .withImageID("ghcr.io/warmstart/warmstart@" + digestOf("helper"))
        .withContainerID("containerd://" + digestOf("helper-c").substring(7))
        .withReady(true)
        .withStarted(false)
        .withRestartCount(0)
        .withNewState()
        .withNewTerminated()
        .withExitCode(0)
        .withReason("Completed")
        .withStartedAt("2025-06-01T10:00:01Z")
        .withFinishedAt("2025-06-01T10:00:02Z")
        .endTerminated()
        .endState()
        .build();
  }

  /** Running, as containerd reports it: the fully qualified image and a repo digest as imageID. */
  static ContainerStatus running(String image, String imageId) {
    return new ContainerStatusBuilder()
        .withName(CacheDaemonSetModel.containerName(image))
        .withImage("docker.io/" + image)
        .withImageID(imageId)
        .withContainerID("containerd://" + digestOf(image + imageId).substring(7))
        .withReady(true)
        .withStarted(true)
        .withRestartCount(0)
        .withNewState()
        .withNewRunning()
        .withStartedAt("2025-06-01T10:00:05Z")
        .endRunning()
        .endState()
        .build();
  }

  static ContainerStatus running(String image) {
    return running(image, "docker.io/" + image.replaceFirst(":[^:/]*$", "") + "@" + DIGEST_A);
  }

  static ContainerStatus waiting(String image, String reason, String message) {
    return new ContainerStatusBuilder()
        .withName(CacheDaemonSetModel.containerName(image))
        .withImage(image)
        .withImageID("")
        .withReady(false)
        .withStarted(false)
        .withRestartCount(0)
        .withNewState()
        .withNewWaiting()
        .withReason(reason)
        .withMessage(message)
        .endWaiting()
        .endState()
        .build();
  }

  static ImageCacheStatus compute(ImageCache cache, DaemonSet ds, List<Pod> pods) {
    return CacheStatus.compute(cache, ds, pods, List.of());
  }

  static Condition condition(ImageCacheStatus status, String type) {
    return Conditions.find(status.getConditions(), type)
        .orElseThrow(
            () -> new AssertionError("no " + type + " condition in " + status.getConditions()));
  }

  static void assertCondition(
      ImageCacheStatus status, String type, String expectedStatus, String expectedReason) {
    Condition c = condition(status, type);
    assertEquals(expectedStatus, c.getStatus(), () -> type + ": " + c);
    assertEquals(expectedReason, c.getReason(), () -> type + ": " + c);
    assertTrue(
        c.getMessage() != null && !c.getMessage().isBlank(), () -> type + " needs a message: " + c);
  }

  static void assertNodes(
      ImageCacheStatus status, int desired, int cached, int pulling, int failed) {
    assertEquals(
        new NodeCounts(desired, cached, pulling, failed),
        status.getNodes(),
        () ->
            "expected "
                + new NodeCounts(desired, cached, pulling, failed)
                + " but was "
                + status.getNodes());
  }

  static CachedImage image(ImageCacheStatus status, String image) {
    return status.getImages().stream()
        .filter(i -> i.getImage().equals(image))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no status for " + image));
  }

  // ---------------------------------------------------------------- all cached

  @Test
  void allNodesRunningIsReady() {
    ImageCache cache = cache(VLLM, SGLANG);
    List<Pod> pods =
        List.of(
            pod(cache, "node-a", running(VLLM), running(SGLANG)),
            pod(cache, "node-b", running(VLLM), running(SGLANG)),
            pod(cache, "node-c", running(VLLM), running(SGLANG)));
    ImageCacheStatus status = compute(cache, observed(cache, 3), pods);

    assertNodes(status, 3, 3, 0, 0);
    assertCondition(status, CacheStatus.READY, Condition.TRUE, "AllNodesCached");
    assertEquals("all 3 nodes hold 2 images", condition(status, CacheStatus.READY).getMessage());
    assertCondition(status, CacheStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertTrue(status.getFailures().isEmpty());
    assertEquals(3L, status.getObservedGeneration());
    assertEquals(
        List.of(new CachedImage(VLLM, DIGEST_A, 3), new CachedImage(SGLANG, DIGEST_A, 3)),
        status.getImages());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "docker-pullable://vllm/vllm-openai@",
        "docker.io/vllm/vllm-openai@",
        "vllm/vllm-openai@",
        ""
      })
  void digestFromImageId(String prefix) {
    ImageCache cache = cache(VLLM);
    ImageCacheStatus status =
        compute(
            cache,
            observed(cache, 1),
            List.of(pod(cache, "node-a", running(VLLM, prefix + DIGEST_B))));
    assertEquals(DIGEST_B, image(status, VLLM).getDigest());
    assertEquals(1, image(status, VLLM).getCachedNodes());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "docker.io/vllm/vllm-openai:v0.11.0"})
  void noDigestWhenImageIdHasNone(String imageId) {
    ImageCache cache = cache(VLLM);
    ImageCacheStatus status =
        compute(cache, observed(cache, 1), List.of(pod(cache, "node-a", running(VLLM, imageId))));
    assertNull(image(status, VLLM).getDigest(), "a tag is not a digest");
    assertNodes(status, 1, 1, 0, 0);
  }

  // ---------------------------------------------------------------- failures

  @ParameterizedTest
  @ValueSource(strings = {"ErrImagePull", "ImagePullBackOff"})
  void failedPullOfOneImageFailsTheNode(String reason) {
    ImageCache cache = cache(VLLM, SGLANG);
    String message =
        reason.equals("ErrImagePull") ? NO_SUCH_TAG : "Back-off pulling image \"" + VLLM + "\"";
    List<Pod> pods =
        List.of(
            pod(cache, "node-a", waiting(VLLM, reason, message), running(SGLANG)),
            pod(cache, "node-b", running(VLLM), running(SGLANG)));
    ImageCacheStatus status = compute(cache, observed(cache, 2), pods);

    assertNodes(status, 2, 1, 0, 1);
    assertEquals(List.of(new PullFailure("node-a", VLLM, reason, message)), status.getFailures());
    assertCondition(status, CacheStatus.READY, Condition.FALSE, "PullFailed");
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "ImagePullFailed");
    String degraded = condition(status, CacheStatus.DEGRADED).getMessage();
    assertTrue(degraded.contains(VLLM), degraded);
    assertTrue(degraded.contains("node-a"), degraded);
    assertTrue(degraded.contains(message), "the kubelet's message tells the user why: " + degraded);
    assertEquals(1, image(status, VLLM).getCachedNodes());
    assertEquals(2, image(status, SGLANG).getCachedNodes());
  }

  @Test
  void invalidImageName() {
    ImageCache cache = cache(VLLM);
    String message =
        "Failed to apply default image tag \""
            + VLLM
            + "\": couldn't parse image name: invalid reference format";
    ImageCacheStatus status =
        compute(
            cache,
            observed(cache, 1),
            List.of(pod(cache, "node-a", waiting(VLLM, "InvalidImageName", message))));
    assertNodes(status, 1, 0, 0, 1);
    assertEquals(
        List.of(new PullFailure("node-a", VLLM, "InvalidImageName", message)),
        status.getFailures());
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "InvalidImageName");
    assertTrue(condition(status, CacheStatus.DEGRADED).getMessage().contains("spec.images"));
  }

  @Test
  void helperImageThatCannotBePulledFailsTheNode() {
    ImageCache cache = cache(VLLM, SGLANG);
    String message = "failed to pull and unpack image \"" + HELPER + "\": 403 Forbidden";
    Pod stuck =
        podOf(cache, "node-a")
            .withNewStatus()
            .withPhase("Pending")
            .withInitContainerStatuses(
                new ContainerStatusBuilder()
                    .withName(HelperContract.CONTAINER_INSTALL_PAUSE)
                    .withImage(HELPER)
                    .withImageID("")
                    .withReady(false)
                    .withStarted(false)
                    .withRestartCount(0)
                    .withNewState()
                    .withNewWaiting()
                    .withReason("ErrImagePull")
                    .withMessage(message)
                    .endWaiting()
                    .endState()
                    .build())
            .withContainerStatuses(
                waiting(VLLM, "PodInitializing", null), waiting(SGLANG, "PodInitializing", null))
            .endStatus()
            .build();
    ImageCacheStatus status =
        compute(
            cache,
            observed(cache, 2),
            List.of(stuck, pod(cache, "node-b", running(VLLM), running(SGLANG))));

    assertNodes(status, 2, 1, 0, 1);
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "HelperImageUnavailable");
    String degraded = condition(status, CacheStatus.DEGRADED).getMessage();
    assertTrue(degraded.contains(HELPER), degraded);
    assertTrue(degraded.contains("node-a"), degraded);
    assertTrue(degraded.contains("--helper-image"), degraded);
    assertTrue(
        status.getFailures().stream().allMatch(f -> f.getNode().equals("node-a")),
        status.getFailures()::toString);
  }

  @Test
  void crashingCacheContainerFailsTheNode() {
    ImageCache cache = cache(VLLM);
    ContainerStatus crashing =
        new ContainerStatusBuilder(
                waiting(
                    VLLM,
                    "CrashLoopBackOff",
                    "back-off 5m0s restarting failed container="
                        + CacheDaemonSetModel.containerName(VLLM)))
            .withRestartCount(7)
            .withNewLastState()
            .withNewTerminated()
            .withExitCode(128)
            .withReason("StartError")
            .endTerminated()
            .endLastState()
            .build();
    ContainerStatus exited =
        new ContainerStatusBuilder(running(VLLM))
            .withReady(false)
            .withStarted(false)
            .withNewState()
            .withNewTerminated()
            .withExitCode(1)
            .withReason("Error")
            .endTerminated()
            .endState()
            .build();
    ImageCacheStatus status =
        compute(
            cache,
            observed(cache, 2),
            List.of(pod(cache, "node-a", crashing), pod(cache, "node-b", exited)));
    assertNodes(status, 2, 0, 0, 2);
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "CacheContainerFailed");
    assertEquals(
        List.of("CrashLoopBackOff", "Error"),
        status.getFailures().stream().map(PullFailure::getReason).toList());
    assertTrue(
        status.getFailures().get(1).getMessage().contains("exited with code 1"),
        status.getFailures().get(1).getMessage());
  }

  @Test
  void missingPullSecretIsNamedWithItsNamespace() {
    ImageCache cache = cache(VLLM);
    cache.getSpec().setImagePullSecrets(List.of(new LocalObjectReference("ecr-pull")));
    // The pull fails too (no credentials): the missing secret is the cause to report.
    ImageCacheStatus status =
        CacheStatus.compute(
            cache,
            observed(cache, 1),
            List.of(pod(cache, "node-a", waiting(VLLM, "ErrImagePull", "401 Unauthorized"))),
            List.of("ecr-pull"));
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "PullSecretNotFound");
    String degraded = condition(status, CacheStatus.DEGRADED).getMessage();
    assertTrue(degraded.contains("ecr-pull"), degraded);
    assertTrue(degraded.contains("namespace ml"), degraded);
    assertTrue(
        degraded.contains("spec.imagePullSecrets"), "tell the user what to change: " + degraded);
    assertEquals(1, status.getNodes().getFailed());
  }

  @Test
  void failuresAreCappedAndTheCountIsNot() {
    ImageCache cache = cache(VLLM);
    List<Pod> pods = new ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      pods.add(
          pod(
              cache,
              String.format("node-%04d", i),
              waiting(VLLM, "ImagePullBackOff", "Back-off pulling image")));
    }
    DaemonSet ds = observed(cache, 5000);
    ImageCacheStatus status =
        assertTimeout(
            Duration.ofMillis(1500),
            () -> compute(cache, ds, pods),
            "a 5,000-node pool must not slow the reconciler down");

    assertNodes(status, 5000, 0, 0, 5000);
    assertEquals(ImageCacheStatus.MAX_FAILURES, status.getFailures().size());
    assertEquals(
        ImageCacheStatus.MAX_FAILURES,
        status.getFailures().stream().map(PullFailure::getNode).distinct().count(),
        "one failure per node listed");
    assertEquals("node-0000", status.getFailures().get(0).getNode(), "listed in node order");
    assertCondition(status, CacheStatus.DEGRADED, Condition.TRUE, "ImagePullFailed");
    assertTrue(
        condition(status, CacheStatus.DEGRADED).getMessage().startsWith("5000 nodes failed"),
        condition(status, CacheStatus.DEGRADED).getMessage());
  }

  // ---------------------------------------------------------------- in progress

  @Test
  void creatingOrNotYetReportedIsPulling() {
    ImageCache cache = cache(VLLM);
    Pod noStatus = podOf(cache, "node-b").withNewStatus().withPhase("Pending").endStatus().build();
    Pod unscheduled =
        new PodBuilder(podOf(cache, null).build())
            .withNewStatus()
            .withPhase("Pending")
            .endStatus()
            .build();
    List<Pod> pods =
        List.of(
            pod(cache, "node-a", waiting(VLLM, "ContainerCreating", null)),
            noStatus,
            pod(cache, "node-c", running(VLLM)),
            unscheduled);
    // Four nodes match; the pod of the fourth is not bound yet.
    ImageCacheStatus status = compute(cache, observed(cache, 4), pods);

    assertNodes(status, 4, 1, 3, 0);
    assertCondition(status, CacheStatus.READY, Condition.FALSE, "Pulling");
    assertCondition(status, CacheStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertTrue(status.getFailures().isEmpty());
  }

  @Test
  void noMatchingNodes() {
    ImageCache cache = cache(VLLM);
    ImageCacheStatus status = compute(cache, observed(cache, 0), List.of());
    assertNodes(status, 0, 0, 0, 0);
    assertCondition(status, CacheStatus.READY, Condition.FALSE, "NoMatchingNodes");
    assertTrue(condition(status, CacheStatus.READY).getMessage().contains("nodeSelector"));
  }

  @Test
  void daemonSetNotYetObservedIsReconciling() {
    ImageCache cache = cache(VLLM);
    // Stale status from the previous generation: desiredNumberScheduled 0 is not known to be true
    // yet.
    ImageCacheStatus status = compute(cache, daemonSet(cache, 5L, 4L, 0), List.of());
    assertCondition(status, CacheStatus.READY, Condition.FALSE, "Reconciling");
    assertCondition(status, CacheStatus.DEGRADED, Condition.FALSE, "AsExpected");

    ImageCacheStatus noDaemonSet = compute(cache, null, List.of());
    assertCondition(noDaemonSet, CacheStatus.READY, Condition.FALSE, "Reconciling");

    ImageCacheStatus noStatus = compute(cache, daemonSet(cache, 1L, null, 0), List.of());
    assertCondition(noStatus, CacheStatus.READY, Condition.FALSE, "Reconciling");
  }

  // ---------------------------------------------------------------- rollouts

  @Test
  void twoPodsOnOneNodeDuringRolloutCountOnce() {
    ImageCache old = cache("vllm/vllm-openai:v0.10.2");
    ImageCache cache = cache(VLLM);
    List<Pod> pods =
        List.of(
            pod(old, "node-a", running("vllm/vllm-openai:v0.10.2")),
            pod(cache, "node-a", running(VLLM)));
    ImageCacheStatus status = compute(cache, observed(cache, 1), pods);
    assertNodes(status, 1, 1, 0, 0);
    assertEquals(List.of(new CachedImage(VLLM, DIGEST_A, 1)), status.getImages());
    assertCondition(status, CacheStatus.READY, Condition.TRUE, "AllNodesCached");
  }

  @Test
  void sameImageInOldAndNewPodCountsOnce() {
    // The helper image changed: the new pod starts while the old one still pins the image.
    ImageCache cache = cache(VLLM);
    List<Pod> pods =
        List.of(
            pod(cache, "node-a", running(VLLM)),
            pod(cache, "node-a", waiting(VLLM, "ContainerCreating", null)),
            pod(cache, "node-b", running(VLLM)));
    ImageCacheStatus status = compute(cache, observed(cache, 2), pods);
    assertNodes(status, 2, 2, 0, 0);
    assertEquals(2, image(status, VLLM).getCachedNodes());
  }

  @Test
  void podsOfAnOlderTemplateDoNotCount() {
    ImageCache old = cache("vllm/vllm-openai:v0.10.2");
    ImageCache cache = cache(VLLM);
    List<Pod> pods =
        List.of(
            pod(old, "node-a", running("vllm/vllm-openai:v0.10.2")),
            pod(cache, "node-b", running(VLLM)));
    ImageCacheStatus status = compute(cache, observed(cache, 2), pods);
    assertNodes(status, 2, 1, 1, 0);
    assertEquals(List.of(new CachedImage(VLLM, DIGEST_A, 1)), status.getImages());
    assertCondition(status, CacheStatus.READY, Condition.FALSE, "Pulling");
  }

  @Test
  void failuresOfAnImageNoLongerInSpecDoNotCount() {
    // The user fixed a typo in spec.images; the old pod keeps backing off on the bad image until it
    // is replaced.
    ImageCache old = cache("vllm/vllm-openai:v0.11.O");
    ImageCache cache = cache(VLLM);
    List<Pod> pods =
        List.of(
            pod(
                old,
                "node-a",
                waiting("vllm/vllm-openai:v0.11.O", "ImagePullBackOff", "Back-off pulling image")),
            pod(cache, "node-a", waiting(VLLM, "ContainerCreating", null)),
            pod(cache, "node-b", running(VLLM)));
    ImageCacheStatus status = compute(cache, observed(cache, 2), pods);
    assertNodes(status, 2, 1, 1, 0);
    assertTrue(status.getFailures().isEmpty(), status.getFailures()::toString);
    assertCondition(status, CacheStatus.DEGRADED, Condition.FALSE, "AsExpected");
  }

  @Test
  void addedImageIsNotCachedUntilItRuns() {
    // Old pods run VLLM only; SGLANG was just added to the spec.
    ImageCache old = cache(VLLM);
    ImageCache cache = cache(VLLM, SGLANG);
    List<Pod> pods = List.of(pod(old, "node-a", running(VLLM)), pod(old, "node-b", running(VLLM)));
    ImageCacheStatus status = compute(cache, observed(cache, 2), pods);
    assertNodes(status, 2, 0, 2, 0);
    assertEquals(0, image(status, SGLANG).getCachedNodes());
    assertEquals(2, image(status, VLLM).getCachedNodes());
  }

  @Test
  void podsBeingDeletedAreIgnored() {
    ImageCache cache = cache(VLLM);
    Pod deletingRunning =
        new PodBuilder(pod(cache, "node-a", running(VLLM)))
            .editMetadata()
            .withDeletionTimestamp("2025-06-01T11:00:00Z")
            .withDeletionGracePeriodSeconds(5L)
            .endMetadata()
            .build();
    Pod deletingFailed =
        new PodBuilder(pod(cache, "node-b", waiting(VLLM, "ErrImagePull", NO_SUCH_TAG)))
            .editMetadata()
            .withDeletionTimestamp("2025-06-01T11:00:00Z")
            .endMetadata()
            .build();
    ImageCacheStatus status =
        compute(
            cache,
            observed(cache, 2),
            List.of(
                deletingRunning,
                deletingFailed,
                pod(cache, "node-b", waiting(VLLM, "ContainerCreating", null))));
    assertNodes(status, 2, 0, 2, 0);
    assertTrue(status.getFailures().isEmpty(), status.getFailures()::toString);
    assertCondition(status, CacheStatus.DEGRADED, Condition.FALSE, "AsExpected");
    assertEquals(0, image(status, VLLM).getCachedNodes());
  }

  @Test
  void movedTagReportsTheMajorityDigest() {
    ImageCache cache = cache(VLLM);
    String idA = "docker.io/vllm/vllm-openai@" + DIGEST_A;
    String idB = "docker.io/vllm/vllm-openai@" + DIGEST_B;
    // Minority first, so that "first seen" or "last seen" would both be wrong for one of the
    // orders.
    List<Pod> pods =
        new ArrayList<>(
            List.of(
                pod(cache, "node-a", running(VLLM, idB)),
                pod(cache, "node-b", running(VLLM, idA)),
                pod(cache, "node-c", running(VLLM, idA)),
                pod(cache, "node-d", running(VLLM, idA)),
                pod(cache, "node-e", running(VLLM, idB))));
    assertEquals(DIGEST_A, image(compute(cache, observed(cache, 5), pods), VLLM).getDigest());
    java.util.Collections.reverse(pods);
    assertEquals(DIGEST_A, image(compute(cache, observed(cache, 5), pods), VLLM).getDigest());

    List<Pod> majorityB =
        List.of(
            pod(cache, "node-a", running(VLLM, idA)),
            pod(cache, "node-b", running(VLLM, idB)),
            pod(cache, "node-c", running(VLLM, idB)));
    assertEquals(DIGEST_B, image(compute(cache, observed(cache, 3), majorityB), VLLM).getDigest());
  }

  // ---------------------------------------------------------------- equality

  static List<Pod> mixedPods(ImageCache cache) {
    List<Pod> pods = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      String node = "node-" + i;
      pods.add(
          switch (i % 4) {
            case 0 ->
                pod(
                    cache,
                    node,
                    running(VLLM),
                    running(SGLANG, "docker.io/lmsysorg/sglang@" + DIGEST_B));
            case 1 -> pod(cache, node, waiting(VLLM, "ErrImagePull", NO_SUCH_TAG), running(SGLANG));
            case 2 ->
                pod(
                    cache,
                    node,
                    waiting(VLLM, "ContainerCreating", null),
                    waiting(SGLANG, "ImagePullBackOff", "Back-off"));
            default -> pod(cache, node, running(VLLM), waiting(SGLANG, "ContainerCreating", null));
          });
    }
    return pods;
  }

  @Test
  void sameInputGivesEqualStatus() {
    ImageCache cache = cache(VLLM, SGLANG);
    Supplier<ImageCacheStatus> compute =
        () -> compute(cache, observed(cache, 22), mixedPods(cache));
    ImageCacheStatus a = compute.get();
    ImageCacheStatus b = compute.get();
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());

    ImageCacheStatus other = compute(cache, observed(cache, 23), mixedPods(cache));
    assertNotEquals(a, other, "a different node count must not compare equal");
  }

  @Test
  void statusReadBackFromTheApiServerEqualsTheRecomputedOne() {
    // What the reconciler does: merge conditions, patch, read back, recompute later, compare.
    ImageCache cache = cache(VLLM, SGLANG);
    ImageCacheStatus first = compute(cache, observed(cache, 22), mixedPods(cache));
    first.setConditions(
        Conditions.merge(null, first.getConditions(), 3, Instant.parse("2025-06-01T10:00:00Z")));
    ImageCacheStatus stored =
        Serialization.unmarshal(Serialization.asYaml(first), ImageCacheStatus.class);

    ImageCacheStatus again = compute(cache, observed(cache, 22), mixedPods(cache));
    again.setConditions(
        Conditions.merge(
            stored.getConditions(),
            again.getConditions(),
            3,
            Instant.parse("2025-06-01T10:07:00Z")));
    assertEquals(
        stored,
        again,
        () ->
            "a no-op reconcile would patch the status:\n"
                + Serialization.asYaml(stored)
                + "---\n"
                + Serialization.asYaml(again));
  }

  @Test
  void podOrderDoesNotChangeTheStatus() {
    ImageCache cache = cache(VLLM, SGLANG);
    List<Pod> pods = mixedPods(cache);
    ImageCacheStatus a = compute(cache, observed(cache, 22), pods);
    List<Pod> reversed = new ArrayList<>(pods);
    java.util.Collections.reverse(reversed);
    assertEquals(a, compute(cache, observed(cache, 22), reversed));
    Map<String, Long> reasons =
        a.getFailures().stream()
            .collect(Collectors.groupingBy(PullFailure::getReason, Collectors.counting()));
    assertEquals(ImageCacheStatus.MAX_FAILURES, a.getFailures().size(), reasons::toString);
  }

  @Test
  void theFinishedStatusKeepsTransitionTimesWhereNothingChanged() {
    ImageCache cache = cache(VLLM);
    Instant t0 = Instant.parse("2025-06-01T10:00:00Z");
    ImageCacheStatus first =
        CacheStatus.compute(cache, observed(cache, 1), List.of(), List.of(), t0);
    assertEquals(t0.toString(), condition(first, CacheStatus.READY).getLastTransitionTime());
    cache.setStatus(first);
    Instant later = t0.plusSeconds(90);
    assertEquals(
        first, CacheStatus.compute(cache, observed(cache, 1), List.of(), List.of(), later));
    ImageCacheStatus secretGone =
        CacheStatus.compute(cache, observed(cache, 1), List.of(), List.of("ecr-pull"), later);
    assertEquals(
        later.toString(), condition(secretGone, CacheStatus.DEGRADED).getLastTransitionTime());
    assertEquals(t0.toString(), condition(secretGone, CacheStatus.READY).getLastTransitionTime());
  }
}
