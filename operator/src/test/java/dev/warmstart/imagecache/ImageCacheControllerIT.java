package dev.warmstart.imagecache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.kube.Labels;
import dev.warmstart.operator.OperatorCommand;
import dev.warmstart.status.Conditions;
import dev.warmstart.testing.Await;
import dev.warmstart.testing.KubeApi;
import dev.warmstart.testing.Pods;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetStatusBuilder;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The ImageCache controller against a real API server. No kubelet or DaemonSet controller runs
 * here, so the tests play their part: they write the DaemonSet's status and its pods the way those
 * components would, and check what the operator makes of it.
 */
class ImageCacheControllerIT {
  private static final String HELPER = "warmstart/warmstart:it";
  private static final String VLLM = "vllm/vllm-openai:v0.11.0";
  private static final String DIGEST = "sha256:" + "b".repeat(64);
  private static KubernetesClient client;
  private static OperatorCommand.Running operator;

  @BeforeAll
  static void start() throws Exception {
    client = KubeApi.client();
    OperatorCommand command = new OperatorCommand();
    new CommandLine(command).parseArgs("--http-port=0", "--helper-image=" + HELPER);
    operator = command.start(KubeApi.newClient());
  }

  @AfterAll
  static void stop() {
    operator.close();
    client.close();
  }

  @Test
  void createsUpdatesAndOwnsTheDaemonSet() {
    String ns = KubeApi.newNamespace(client, "ic");
    ImageCache cache = client.resource(imageCache(ns, "serving-images", VLLM)).create();

    DaemonSet ds = awaitDaemonSet(ns, "imagecache-serving-images", d -> true);
    var template = ds.getSpec().getTemplate().getSpec();
    assertEquals(List.of(VLLM), template.getContainers().stream().map(c -> c.getImage()).toList());
    assertEquals(HELPER, template.getInitContainers().get(0).getImage());
    assertEquals("gpu", template.getNodeSelector().get("karpenter.sh/nodepool"));
    assertEquals("nvidia.com/gpu", template.getTolerations().get(0).getKey());
    var owner = ds.getMetadata().getOwnerReferences().get(0);
    assertEquals(cache.getMetadata().getUid(), owner.getUid());
    assertEquals(
        "ImageCache", owner.getKind(), "deleting the ImageCache garbage-collects its DaemonSet");

    // A merge patch, as kubectl patch sends it: no resourceVersion to race the operator's status
    // writes.
    client
        .resources(ImageCache.class)
        .inNamespace(ns)
        .withName("serving-images")
        .patch(
            io.fabric8.kubernetes.client.dsl.base.PatchContext.of(
                io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
            "{\"spec\":{\"images\":[\"" + VLLM + "\",\"lmsysorg/sglang:v0.5.4\"]}}");
    awaitDaemonSet(
        ns,
        "imagecache-serving-images",
        d -> d.getSpec().getTemplate().getSpec().getContainers().size() == 2);
  }

  @Test
  void reportsCachedNodesFromPodStatuses() throws Exception {
    String ns = KubeApi.newNamespace(client, "ic");
    client.resource(imageCache(ns, "c", VLLM)).create();
    DaemonSet ds = awaitDaemonSet(ns, "imagecache-c", d -> true);
    reportDesired(ds, 3);

    for (String node : List.of("gpu-0", "gpu-1", "gpu-2")) {
      Pod pod = client.resource(podOf(ds, node)).create();
      String container = pod.getSpec().getContainers().get(0).getName();
      ContainerStatus status =
          node.equals("gpu-2")
              ? new ContainerStatusBuilder()
                  .withName(container)
                  .withImage(VLLM)
                  .withImageID("")
                  .withReady(false)
                  .withRestartCount(0)
                  .withNewState()
                  .withNewWaiting()
                  .withReason("ErrImagePull")
                  .withMessage("failed to pull: not found")
                  .endWaiting()
                  .endState()
                  .build()
              : running(container, "docker.io/vllm/vllm-openai@" + DIGEST);
      pod.setStatus(
          new PodStatusBuilder().withPhase("Running").withContainerStatuses(status).build());
      client.resource(pod).updateStatus();
    }

    ImageCache cache =
        awaitCache(
            ns,
            "c",
            c ->
                c.getStatus() != null
                    && c.getStatus().getNodes().getFailed() == 1
                    && c.getStatus().getNodes().getCached() == 2);
    assertEquals(3, cache.getStatus().getNodes().getDesired());
    assertEquals(DIGEST, cache.getStatus().getImages().get(0).getDigest());
    assertEquals(2, cache.getStatus().getImages().get(0).getCachedNodes());
    assertEquals("gpu-2", cache.getStatus().getFailures().get(0).getNode());
    Condition degraded =
        Conditions.find(cache.getStatus().getConditions(), "Degraded").orElseThrow();
    assertEquals("ImagePullFailed", degraded.getReason());
    assertEquals(cache.getMetadata().getGeneration(), cache.getStatus().getObservedGeneration());
    assertEquals(
        "False",
        Conditions.find(cache.getStatus().getConditions(), "Ready").orElseThrow().getStatus());
    awaitEvent(ns, "ImagePullFailed");

    // The pull is retried and succeeds: every node cached, Ready, and an event says so.
    Pod failed =
        client.pods().inNamespace(ns).list().getItems().stream()
            .filter(p -> "gpu-2".equals(p.getSpec().getNodeName()))
            .findFirst()
            .orElseThrow();
    failed
        .getStatus()
        .setContainerStatuses(
            List.of(running(failed.getSpec().getContainers().get(0).getName(), DIGEST)));
    client.resource(failed).updateStatus();
    cache = awaitCache(ns, "c", c -> Conditions.isTrue(c.getStatus().getConditions(), "Ready"));
    assertEquals(3, cache.getStatus().getNodes().getCached());
    assertEquals(
        "AllNodesCached",
        Conditions.find(cache.getStatus().getConditions(), "Ready").orElseThrow().getReason());
    assertEquals(
        "False",
        Conditions.find(cache.getStatus().getConditions(), "Degraded").orElseThrow().getStatus());
    awaitEvent(ns, "Cached");

    String metrics =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + operator.http().port() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    assertTrue(
        metrics.contains(
            "warmstart_imagecache_nodes{name=\"c\",namespace=\"" + ns + "\",state=\"cached\"} 3.0"),
        metrics);
  }

  @Test
  void missingPullSecretIsReportedWithWhatToDo() {
    String ns = KubeApi.newNamespace(client, "ic");
    ImageCache cache = imageCache(ns, "private", "team/private-server:v1");
    cache
        .getSpec()
        .setImagePullSecrets(
            List.of(
                new LocalObjectReference("registry-creds"), new LocalObjectReference("present")));
    client
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName("present")
                .withNamespace(ns)
                .endMetadata()
                .addToStringData(".dockerconfigjson", "{}")
                .withType("kubernetes.io/dockerconfigjson")
                .build())
        .create();
    client.resource(cache).create();

    ImageCache seen =
        awaitCache(
            ns,
            "private",
            c ->
                c.getStatus() != null
                    && Conditions.isTrue(c.getStatus().getConditions(), "Degraded"));
    Condition degraded =
        Conditions.find(seen.getStatus().getConditions(), "Degraded").orElseThrow();
    assertEquals("PullSecretNotFound", degraded.getReason());
    assertEquals(
        "image pull secret registry-creds not found in namespace "
            + ns
            + ": create it or remove it from spec.imagePullSecrets",
        degraded.getMessage());
  }

  @Test
  void aSelectorMatchingNoNodeSaysSo() {
    String ns = KubeApi.newNamespace(client, "ic");
    client.resource(imageCache(ns, "nowhere", "busybox:1.37")).create();
    reportDesired(awaitDaemonSet(ns, "imagecache-nowhere", d -> true), 0);
    ImageCache seen =
        awaitCache(
            ns,
            "nowhere",
            c ->
                c.getStatus() != null
                    && Conditions.find(c.getStatus().getConditions(), "Ready")
                        .map(r -> "NoMatchingNodes".equals(r.getReason()))
                        .orElse(false));
    assertTrue(
        Conditions.find(seen.getStatus().getConditions(), "Ready")
            .orElseThrow()
            .getMessage()
            .contains("kubectl get nodes --show-labels"));
    awaitEvent(ns, "NoMatchingNodes");
  }

  @Test
  void aSpecThePodApiRejectsBecomesACondition() {
    String ns = KubeApi.newNamespace(client, "ic");
    ImageCache cache = imageCache(ns, "bad-toleration", "busybox:1.37");
    cache
        .getSpec()
        .setTolerations(
            List.of(new TolerationBuilder().withKey("a").withOperator("Sometimes").build()));
    client.resource(cache).create();
    ImageCache seen =
        awaitCache(
            ns,
            "bad-toleration",
            c ->
                c.getStatus() != null
                    && Conditions.isTrue(c.getStatus().getConditions(), "Degraded"));
    Condition degraded =
        Conditions.find(seen.getStatus().getConditions(), "Degraded").orElseThrow();
    assertEquals("InvalidSpec", degraded.getReason());
    assertTrue(
        degraded
            .getMessage()
            .contains(
                "spec.template.spec.tolerations[0].operator: Unsupported value: \"Sometimes\""),
        degraded.getMessage());
    awaitEvent(ns, "InvalidSpec");
  }

  @Test
  void aVeryLongNameStillGivesValidObjects() {
    String ns = KubeApi.newNamespace(client, "ic");
    String name = "a-very-long-image-cache-name-" + "x".repeat(200);
    client.resource(imageCache(ns, name, "busybox:1.37")).create();
    DaemonSet ds =
        await(
            () ->
                client.apps().daemonSets().inNamespace(ns).list().getItems().stream()
                    .findFirst()
                    .orElse(null),
            d -> d != null);
    assertTrue(ds.getMetadata().getName().length() <= 63, ds.getMetadata().getName());
    assertEquals(
        name,
        ds.getSpec().getTemplate().getMetadata().getAnnotations().get(Labels.IMAGE_CACHE_NAME));
  }

  private static ImageCache imageCache(String ns, String name, String... images) {
    ImageCache cache = new ImageCache();
    cache.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
    ImageCacheSpec spec = new ImageCacheSpec();
    spec.setImages(new ArrayList<>(List.of(images)));
    spec.getNodeSelector().put("karpenter.sh/nodepool", "gpu");
    spec.setTolerations(
        List.of(
            new TolerationBuilder()
                .withKey("nvidia.com/gpu")
                .withOperator("Exists")
                .withEffect("NoSchedule")
                .build()));
    cache.setSpec(spec);
    return cache;
  }

  /** What the DaemonSet controller would report for a pool of {@code desired} nodes. */
  private static void reportDesired(DaemonSet ds, int desired) {
    ds.setStatus(
        new DaemonSetStatusBuilder()
            .withDesiredNumberScheduled(desired)
            .withCurrentNumberScheduled(desired)
            .withNumberMisscheduled(0)
            .withNumberReady(0)
            .withObservedGeneration(ds.getMetadata().getGeneration())
            .build());
    client.resource(ds).updateStatus();
  }

  /** A pod as the DaemonSet controller would create it from the template, bound to a node. */
  private static Pod podOf(DaemonSet ds, String node) {
    return Pods.fromTemplate(ds, ds.getSpec().getTemplate(), node);
  }

  private static ContainerStatus running(String name, String imageId) {
    return new ContainerStatusBuilder()
        .withName(name)
        .withImage(VLLM)
        .withImageID(imageId)
        .withReady(true)
        .withRestartCount(0)
        .withStarted(true)
        .withNewState()
        .withNewRunning()
        .withStartedAt(Instant.now().toString())
        .endRunning()
        .endState()
        .build();
  }

  private static DaemonSet awaitDaemonSet(String ns, String name, Predicate<DaemonSet> condition) {
    return await(
        () -> client.apps().daemonSets().inNamespace(ns).withName(name).get(),
        d -> d != null && condition.test(d));
  }

  private static ImageCache awaitCache(String ns, String name, Predicate<ImageCache> condition) {
    return await(
        () -> client.resources(ImageCache.class).inNamespace(ns).withName(name).get(),
        c -> c != null && condition.test(c));
  }

  private static void awaitEvent(String ns, String reason) {
    await(
        () -> client.resources(Event.class).inNamespace(ns).list().getItems(),
        events -> events.stream().anyMatch(e -> reason.equals(e.getReason())));
  }

  private static <T> T await(Supplier<T> get, Predicate<T> condition) {
    return Await.until(get, condition);
  }
}
