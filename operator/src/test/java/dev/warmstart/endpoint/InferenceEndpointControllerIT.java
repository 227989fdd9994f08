package dev.warmstart.endpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.operator.OperatorCommand;
import dev.warmstart.status.Conditions;
import dev.warmstart.testing.Await;
import dev.warmstart.testing.Edits;
import dev.warmstart.testing.KubeApi;
import dev.warmstart.testing.Pods;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The InferenceEndpoint controller against a real API server. No Deployment controller or kubelet
 * runs here: the tests write the Deployment's status and a pod's status the way they would.
 */
class InferenceEndpointControllerIT {
  private static final String HELPER = "warmstart/warmstart:it";
  private static KubernetesClient client;
  private static OperatorCommand.Running operator;

  @BeforeAll
  static void start() throws Exception {
    client = KubeApi.client();
    OperatorCommand command = new OperatorCommand();
    new CommandLine(command)
        .parseArgs(
            "--http-port=0",
            "--helper-image=" + HELPER,
            "--gate-url=http://warmstart-gate.warmstart.svc:8081",
            "--gate-port=0");
    operator = command.start(KubeApi.newClient());
  }

  @AfterAll
  static void stop() {
    operator.close();
    client.close();
  }

  @Test
  void ownsDeploymentServiceAndImageCacheAndFollowsTheSpec() {
    String ns = KubeApi.newNamespace(client, "ie");
    InferenceEndpoint ie =
        client.resource(endpoint(ns, "qwen3-8b", "vllm/vllm-openai:v0.11.0", "")).create();

    Deployment deployment =
        await(
            () -> client.apps().deployments().inNamespace(ns).withName("qwen3-8b").get(),
            d -> d != null);
    var pod = deployment.getSpec().getTemplate().getSpec();
    assertEquals(1, deployment.getSpec().getReplicas());
    assertEquals("vllm/vllm-openai:v0.11.0", pod.getContainers().get(0).getImage());
    assertEquals("gate", pod.getInitContainers().get(0).getName());
    assertEquals("fetch-model", pod.getInitContainers().get(1).getName());
    assertEquals(
        "1",
        pod.getContainers().get(0).getResources().getLimits().get("nvidia.com/gpu").toString());
    assertOwnedBy(ie, deployment);
    Service service =
        await(() -> client.services().inNamespace(ns).withName("qwen3-8b").get(), s -> s != null);
    assertEquals(8000, service.getSpec().getPorts().get(0).getPort());
    assertOwnedBy(ie, service);
    ImageCache cache =
        await(
            () ->
                client
                    .resources(ImageCache.class)
                    .inNamespace(ns)
                    .withName("qwen3-8b-serving-image")
                    .get(),
            c -> c != null);
    assertEquals(java.util.List.of("vllm/vllm-openai:v0.11.0"), cache.getSpec().getImages());
    assertEquals("gpu", cache.getSpec().getNodeSelector().get("karpenter.sh/nodepool"));
    assertOwnedBy(ie, cache);

    InferenceEndpoint seen = await(() -> get(ns, "qwen3-8b"), e -> e.getStatus() != null);
    assertEquals("http://qwen3-8b." + ns + ".svc:8000", seen.getStatus().getUrl());
    assertEquals("warmstart.dev/endpoint=qwen3-8b", seen.getStatus().getSelector());
    assertEquals(
        "False",
        Conditions.find(seen.getStatus().getConditions(), "Ready").orElseThrow().getStatus());

    // A new image rolls the Deployment and re-targets the cache; scale goes through /scale.
    Edits.edit(
        client.resources(InferenceEndpoint.class).inNamespace(ns).withName("qwen3-8b"),
        e -> {
          e.getSpec().setImage("vllm/vllm-openai:v0.11.1");
          return e;
        });
    await(
        () -> client.apps().deployments().inNamespace(ns).withName("qwen3-8b").get(),
        d ->
            d.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getImage()
                .equals("vllm/vllm-openai:v0.11.1"));
    await(
        () ->
            client
                .resources(ImageCache.class)
                .inNamespace(ns)
                .withName("qwen3-8b-serving-image")
                .get(),
        c -> c.getSpec().getImages().equals(java.util.List.of("vllm/vllm-openai:v0.11.1")));
    client.resources(InferenceEndpoint.class).inNamespace(ns).withName("qwen3-8b").scale(3);
    await(
        () -> client.apps().deployments().inNamespace(ns).withName("qwen3-8b").get(),
        d -> d.getSpec().getReplicas() == 3);

    // Turning caching off removes the endpoint's ImageCache.
    Edits.edit(
        client.resources(InferenceEndpoint.class).inNamespace(ns).withName("qwen3-8b"),
        e -> {
          e.getSpec().getImageCache().setEnabled(false);
          return e;
        });
    await(
        () ->
            client
                .resources(ImageCache.class)
                .inNamespace(ns)
                .withName("qwen3-8b-serving-image")
                .get(),
        c -> c == null);
    await(
        () -> get(ns, "qwen3-8b"),
        e ->
            Conditions.find(e.getStatus().getConditions(), "ImageCached")
                .map(c -> "CachingDisabled".equals(c.getReason()))
                .orElse(false));
  }

  @Test
  void accountsForEachColdStart() throws Exception {
    String ns = KubeApi.newNamespace(client, "ie");
    client.resource(endpoint(ns, "llm", "vllm/vllm-openai:v0.11.0", "")).create();
    Deployment deployment =
        await(
            () -> client.apps().deployments().inNamespace(ns).withName("llm").get(),
            d -> d != null);

    // A replica as the kubelet reports it: bound 2 s after creation, 5 s at the gate, 77 s
    // downloading (fetch-model's own measure), 3 s until the server starts, 40 s to ready.
    Instant created = Instant.now().minusSeconds(200);
    Pod pod = client.resource(podOf(deployment, "gpu-1")).create();
    pod.setStatus(
        new PodStatusBuilder()
            .withPhase("Running")
            .addToConditions(
                condition("PodScheduled", created.plusSeconds(2)),
                condition("Ready", created.plusSeconds(130)))
            .addToInitContainerStatuses(
                terminated("gate", created.plusSeconds(3), created.plusSeconds(8), null))
            .addToInitContainerStatuses(
                terminated(
                    "fetch-model",
                    created.plusSeconds(8),
                    created.plusSeconds(87),
                    "{\"bytes\":16000000000,\"seconds\":77.0,\"files\":5,\"source\":\"s3://models/qwen3-8b/\",\"cacheHit\":false}"))
            .addToContainerStatuses(
                new ContainerStatusBuilder()
                    .withName("server")
                    .withImage("vllm/vllm-openai:v0.11.0")
                    .withImageID("")
                    .withReady(true)
                    .withRestartCount(0)
                    .withStarted(true)
                    .withNewState()
                    .withNewRunning()
                    .withStartedAt(created.plusSeconds(90).toString())
                    .endRunning()
                    .endState()
                    .build())
            .build());
    // The pod's creation time is the server's; the test shifts the phases relative to it.
    Instant actualCreated = Instant.parse(pod.getMetadata().getCreationTimestamp());
    shift(pod, java.time.Duration.between(created, actualCreated));
    client.resource(pod).updateStatus();
    deployment.setStatus(
        new DeploymentStatusBuilder()
            .withReplicas(1)
            .withReadyReplicas(1)
            .withUpdatedReplicas(1)
            .withAvailableReplicas(1)
            .withObservedGeneration(deployment.getMetadata().getGeneration())
            .build());
    client.resource(deployment).updateStatus();

    InferenceEndpoint seen =
        await(
            () -> get(ns, "llm"),
            e -> e.getStatus() != null && e.getStatus().getColdStart() != null);
    var last = seen.getStatus().getColdStart().getLast();
    assertEquals(pod.getMetadata().getName(), last.getPod());
    assertEquals("gpu-1", last.getNode());
    assertEquals("2m10s", last.getTotal());
    assertEquals("2s", last.getScheduling());
    assertEquals("5s", last.getGateWait());
    assertEquals("1m17s", last.getModelDownload());
    assertEquals("3s", last.getImagePull());
    assertEquals("40s", last.getServerStart());
    assertEquals("2m10s", seen.getStatus().getColdStart().getMedian().getTotal());
    assertEquals(1, seen.getStatus().getColdStart().getCount());
    Condition ready =
        await(() -> get(ns, "llm"), e -> Conditions.isTrue(e.getStatus().getConditions(), "Ready"))
            .getStatus()
            .getConditions()
            .stream()
            .filter(c -> c.getType().equals("Ready"))
            .findFirst()
            .orElseThrow();
    assertEquals("ReplicasReady", ready.getReason());
    await(
        () -> client.resources(Event.class).inNamespace(ns).list().getItems(),
        events ->
            events.stream()
                .anyMatch(
                    e ->
                        "ColdStart".equals(e.getReason())
                            && e.getNote().contains("model download 1m17s")));

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
            "warmstart_coldstart_phase_seconds_sum{endpoint=\"llm\",namespace=\""
                + ns
                + "\",phase=\"modelDownload\",placement=\"none\"} 77.0"),
        metrics);
    assertTrue(
        metrics.contains(
            "warmstart_coldstart_phase_seconds_count{endpoint=\"llm\",namespace=\""
                + ns
                + "\",phase=\"total\",placement=\"none\"} 1"),
        "each cold start is counted once:\n" + metrics);
  }

  @Test
  void aMissingCredentialsSecretIsReported() {
    String ns = KubeApi.newNamespace(client, "ie");
    client
        .resource(
            endpoint(
                ns, "private-model", "vllm/vllm-openai:v0.11.0", "credentialsSecret: s3-creds"))
        .create();
    InferenceEndpoint seen =
        await(
            () -> get(ns, "private-model"),
            e ->
                e.getStatus() != null
                    && Conditions.isTrue(e.getStatus().getConditions(), "Degraded"));
    Condition degraded =
        Conditions.find(seen.getStatus().getConditions(), "Degraded").orElseThrow();
    assertEquals("CredentialsSecretNotFound", degraded.getReason());
    assertTrue(
        degraded
            .getMessage()
            .startsWith(
                "secret s3-creds (spec.model.credentialsSecret) not found in namespace " + ns),
        degraded.getMessage());
    var fetch =
        client
            .apps()
            .deployments()
            .inNamespace(ns)
            .withName("private-model")
            .get()
            .getSpec()
            .getTemplate()
            .getSpec()
            .getInitContainers()
            .get(1);
    assertEquals(
        "s3-creds",
        fetch.getEnvFrom().get(0).getSecretRef().getName(),
        "only fetch-model gets the credentials");
  }

  @Test
  void withTheNodeCacheEachPodReadsItsOwnDirectoryOfTheCache() {
    String ns = KubeApi.newNamespace(client, "ie");
    client
        .resource(endpoint(ns, "cached", "vllm/vllm-openai:v0.11.0", "nodeCache: {enabled: true}"))
        .create();
    Deployment deployment =
        await(
            () -> client.apps().deployments().inNamespace(ns).withName("cached").get(),
            d -> d != null);

    // The API server accepts the pod (subPathExpr, downward API env) and the kubelet would expand
    // it like this.
    Pod pod = client.resource(podOf(deployment, "gpu-2")).create();
    var server = pod.getSpec().getContainers().get(0);
    var mount =
        server.getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals("/models/m"))
            .findFirst()
            .orElseThrow();
    assertEquals("pods/$(WARMSTART_POD_NAMESPACE)/$(WARMSTART_POD_UID)", mount.getSubPathExpr());
    assertEquals(Boolean.TRUE, mount.getReadOnly());
    var fetch =
        pod.getSpec().getInitContainers().stream()
            .filter(c -> c.getName().equals("fetch-model"))
            .findFirst()
            .orElseThrow();
    assertEquals(
        "/var/lib/warmstart/model-cache/pods/$(POD_NAMESPACE)/$(POD_UID)",
        fetch.getEnv().stream()
            .filter(e -> e.getName().equals("MODEL_PATH"))
            .findFirst()
            .orElseThrow()
            .getValue());
    assertTrue(
        pod.getSpec().getVolumes().stream()
            .anyMatch(
                v ->
                    v.getHostPath() != null
                        && "/var/lib/warmstart/model-cache".equals(v.getHostPath().getPath())));
  }

  @Test
  void aWarmPoolKeepsPlaceholdersAndNewReplicasGoToTheirNodesFirst() {
    String ns = KubeApi.newNamespace(client, "ie");
    InferenceEndpoint ie =
        endpoint(ns, "llm", "vllm/vllm-openai:v0.11.0", "nodeCache: {enabled: true}");
    ie.getSpec().setWarmPool(new dev.warmstart.api.v1alpha1.WarmPool());
    ie.getSpec().getWarmPool().setReplicas(1);
    ie = client.resource(ie).create();

    Deployment pool =
        await(
            () -> client.apps().deployments().inNamespace(ns).withName("llm-warm-pool").get(),
            d -> d != null);
    assertOwnedBy(ie, pool);
    assertEquals(1, pool.getSpec().getReplicas());
    assertNotNull(
        client.scheduling().v1().priorityClasses().withName("warmstart-warm-pool").get(),
        "the operator creates the placeholders' PriorityClass when it is missing");
    Deployment serving =
        await(
            () -> client.apps().deployments().inNamespace(ns).withName("llm").get(),
            d -> d != null);

    // A placeholder that has warmed gpu-2, as the scheduler and the kubelet would leave it; the API
    // server
    // resolves its PriorityClass at admission.
    Pod placeholder = client.resource(podOf(pool, "gpu-2")).create();
    assertEquals(-10, placeholder.getSpec().getPriority());
    placeholder.setStatus(
        new PodStatusBuilder()
            .withPhase("Running")
            .addToConditions(
                condition("PodScheduled", Instant.now()), condition("Ready", Instant.now()))
            .build());
    client.resource(placeholder).updateStatus();
    await(
        () -> get(ns, "llm"),
        e ->
            e.getStatus() != null
                && e.getStatus().getWarmPool() != null
                && Integer.valueOf(1).equals(e.getStatus().getWarmPool().getReady()));

    // Two new replicas, gated as the ReplicaSet creates them: the first goes to the warm node, the
    // second anywhere.
    Pod first =
        client.resource(Pods.fromTemplate(serving, serving.getSpec().getTemplate(), null)).create();
    Pod second =
        client.resource(Pods.fromTemplate(serving, serving.getSpec().getTemplate(), null)).create();
    assertEquals(
        "warmstart.dev/warm-placement", first.getSpec().getSchedulingGates().get(0).getName());
    Pod placed =
        await(
            () -> client.pods().resource(first).get(),
            p -> p.getSpec().getSchedulingGates().isEmpty());
    assertEquals(
        "gpu-2",
        placed
            .getSpec()
            .getAffinity()
            .getNodeAffinity()
            .getRequiredDuringSchedulingIgnoredDuringExecution()
            .getNodeSelectorTerms()
            .get(0)
            .getMatchFields()
            .get(0)
            .getValues()
            .get(0));
    assertEquals("gpu-2", placed.getMetadata().getAnnotations().get("warmstart.dev/warm-node"));
    Pod other =
        await(
            () -> client.pods().resource(second).get(),
            p -> p.getSpec().getSchedulingGates().isEmpty());
    assertEquals(null, other.getSpec().getAffinity(), "no second warm node: it schedules anywhere");
    assertEquals("", other.getMetadata().getAnnotations().get("warmstart.dev/warm-node"));

    InferenceEndpoint seen = get(ns, "llm");
    assertEquals(java.util.List.of("gpu-2"), seen.getStatus().getWarmPool().getNodes());
    Condition warm =
        Conditions.find(seen.getStatus().getConditions(), "WarmPoolReady").orElseThrow();
    assertEquals("True", warm.getStatus(), warm.getMessage());
    await(
        () -> client.resources(Event.class).inNamespace(ns).list().getItems(),
        events ->
            events.stream()
                .anyMatch(
                    e -> "WarmPlacement".equals(e.getReason()) && e.getNote().contains("gpu-2")));

    // Without a warm pool the placeholders go; new replicas are no longer gated.
    Edits.edit(
        client.resources(InferenceEndpoint.class).inNamespace(ns).withName("llm"),
        e -> {
          e.getSpec().setWarmPool(null);
          return e;
        });
    await(
        () -> client.apps().deployments().inNamespace(ns).withName("llm-warm-pool").get(),
        d -> d == null);
    await(
        () -> client.apps().deployments().inNamespace(ns).withName("llm").get(),
        d -> d.getSpec().getTemplate().getSpec().getSchedulingGates().isEmpty());
  }

  private static InferenceEndpoint endpoint(
      String ns, String name, String image, String extraModel) {
    String yaml =
        """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: %s, namespace: %s}
        spec:
          image: %s
          args: [--model, /models/m]
          resources: {limits: {nvidia.com/gpu: 1}}
          nodeSelector: {karpenter.sh/nodepool: gpu}
          tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
          model: {uri: "s3://models/m/", path: /models/m, %s}
          imageCache: {enabled: true}
        """
            .formatted(name, ns, image, extraModel);
    return client
        .getKubernetesSerialization()
        .unmarshal(
            new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)),
            InferenceEndpoint.class);
  }

  private static InferenceEndpoint get(String ns, String name) {
    return client.resources(InferenceEndpoint.class).inNamespace(ns).withName(name).get();
  }

  private static void assertOwnedBy(InferenceEndpoint ie, HasMetadata owned) {
    var refs = owned.getMetadata().getOwnerReferences();
    assertNotNull(refs);
    assertEquals(
        ie.getMetadata().getUid(),
        refs.get(0).getUid(),
        owned.getKind() + " is owned by the endpoint");
  }

  private static Pod podOf(Deployment deployment, String node) {
    return Pods.fromTemplate(deployment, deployment.getSpec().getTemplate(), node);
  }

  private static io.fabric8.kubernetes.api.model.PodCondition condition(String type, Instant at) {
    return new PodConditionBuilder()
        .withType(type)
        .withStatus("True")
        .withLastTransitionTime(at.toString())
        .build();
  }

  private static io.fabric8.kubernetes.api.model.ContainerStatus terminated(
      String name, Instant started, Instant finished, String message) {
    return new ContainerStatusBuilder()
        .withName(name)
        .withImage(HELPER)
        .withImageID("")
        .withReady(false)
        .withRestartCount(0)
        .withNewState()
        .withNewTerminated()
        .withExitCode(0)
        .withReason("Completed")
        .withStartedAt(started.toString())
        .withFinishedAt(finished.toString())
        .withMessage(message)
        .endTerminated()
        .endState()
        .build();
  }

  /** Moves every timestamp of the pod's status by {@code by}, keeping the phases' lengths. */
  private static void shift(Pod pod, java.time.Duration by) {
    var st = pod.getStatus();
    st.getConditions()
        .forEach(
            c ->
                c.setLastTransitionTime(
                    Instant.parse(c.getLastTransitionTime()).plus(by).toString()));
    st.getInitContainerStatuses()
        .forEach(
            c -> {
              var t = c.getState().getTerminated();
              t.setStartedAt(Instant.parse(t.getStartedAt()).plus(by).toString());
              t.setFinishedAt(Instant.parse(t.getFinishedAt()).plus(by).toString());
            });
    st.getContainerStatuses()
        .forEach(
            c -> {
              var r = c.getState().getRunning();
              r.setStartedAt(Instant.parse(r.getStartedAt()).plus(by).toString());
            });
  }

  private static <T> T await(Supplier<T> get, Predicate<T> condition) {
    return Await.until(get, condition);
  }
}
