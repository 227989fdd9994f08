package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.File;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A warm pool on the local cluster with the real scheduler: the new replica of a scale-out preempts
 * the placeholder on the warm node, and the placeholder comes back on another GPU node. The pool is
 * three KWOK GPU nodes of its own ({@value #POOL}), so that no other test's pods take their GPUs.
 *
 * <p>KWOK never runs containers. For the replica that lands warm, the test also runs its real init
 * containers, as processes with the pod's own arguments: the gate against the operator's gate API,
 * and fetch-model into a directory that stands for the warm node's cache, which the placeholder's
 * own fetch-model filled before.
 */
class WarmPoolE2E {
  private static final String NS = "warm-pool-e2e";
  private static final String NAME = "llm";
  private static final String POOL = "warm-e2e";
  private static final List<String> NODES = List.of("warm-e2e-0", "warm-e2e-1", "warm-e2e-2");
  private static final ObjectMapper JSON = new ObjectMapper();
  @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();
  private static KubernetesClient client;

  @BeforeAll
  static void start() throws Exception {
    client = CLUSTER.client();
    client.namespaces().withName(NS).delete();
    client.namespaces().withName(NS).waitUntilCondition(n -> n == null, 90, TimeUnit.SECONDS);
    client
        .resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build())
        .create();
    String template = Files.readString(Cluster.repoRoot().resolve("e2e/nodes/gpu-node.yaml"));
    StringBuilder nodes = new StringBuilder();
    for (String node : NODES) {
      nodes
          .append("---\n")
          .append(
              template
                  .replace("__NAME__", node)
                  .replace("karpenter.sh/nodepool: gpu", "karpenter.sh/nodepool: " + POOL));
    }
    Cluster.applyYaml(client, nodes.toString(), "warmstart-e2e");
    for (String node : NODES) {
      Cluster.await(
          node + " ready",
          () -> client.nodes().withName(node).get(),
          n ->
              n.getStatus().getConditions().stream()
                  .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus())));
    }
  }

  @AfterAll
  static void stop() {
    client.namespaces().withName(NS).delete();
    client.namespaces().withName(NS).waitUntilCondition(n -> n == null, 90, TimeUnit.SECONDS);
    // Last: pods left on a deleted node wait out the pod GC's 40 s quarantine.
    NODES.forEach(n -> client.nodes().withName(n).delete());
  }

  @Test
  void aScaleOutTakesTheWarmNodeAndThePoolRefillsElsewhere(@TempDir Path nodes) throws Exception {
    Cluster.applyYaml(client, endpoint(1), "e2e");
    InferenceEndpoint warm =
        Cluster.await(
            "one replica ready and one node warm",
            WarmPoolE2E::endpoint,
            e ->
                e.getStatus() != null
                    && Integer.valueOf(1).equals(e.getStatus().getReadyReplicas())
                    && Conditions.isTrue(e.getStatus().getConditions(), "WarmPoolReady"));
    String warmNode = warm.getStatus().getWarmPool().getNodes().get(0);
    Pod first = servingPods().get(0);
    assertNotEquals(
        warmNode,
        first.getSpec().getNodeName(),
        "one GPU per node: the placeholder holds its node's");
    Pod placeholder = placeholders().get(0);
    assertEquals(-10, placeholder.getSpec().getPriority());
    System.out.println(Cluster.kubectl("get", "ie,pods", "-n", NS, "-o", "wide"));

    // Before the scale-out, the placeholder warmed its node: the real fetch-model, with the
    // placeholder's
    // own arguments, into the directory that stands for that node's cache.
    try (Weights weights = Weights.serve()) {
      Path nodeCache = nodes.resolve(warmNode);
      JsonNode placeholderFetch =
          runInitContainer(
              placeholder, HelperContract.CONTAINER_FETCH_MODEL, nodeCache, weights.uri());
      assertEquals(
          false, placeholderFetch.get("cacheHit").asBoolean(), placeholderFetch.toString());

      // Scale to 2: the new replica goes to the warm node, preempting the placeholder there,
      // although another GPU node is free.
      Cluster.kubectl("scale", "ie/" + NAME, "-n", NS, "--replicas=2");
      Pod second =
          Cluster.await(
              "the new replica bound",
              () ->
                  servingPods().stream()
                      .filter(p -> !p.getMetadata().getName().equals(first.getMetadata().getName()))
                      .findFirst()
                      .orElse(null),
              p -> p != null && p.getSpec().getNodeName() != null);
      assertEquals(warmNode, second.getSpec().getNodeName(), "it took the warm node");
      assertEquals(warmNode, second.getMetadata().getAnnotations().get(Labels.WARM_NODE));
      Cluster.await(
          "the scheduler preempted the placeholder",
          () -> client.resources(Event.class).inNamespace(NS).list().getItems(),
          events ->
              events.stream()
                  .anyMatch(
                      e ->
                          "Preempted".equals(e.getReason())
                              && placeholder
                                  .getMetadata()
                                  .getName()
                                  .equals(e.getRegarding().getName())));

      // Its gate opens at once (the image is cached there, no other transfer runs) and its weights
      // come
      // from the node's cache.
      long start = System.nanoTime();
      String gate = runGate(second);
      double gateSeconds = (System.nanoTime() - start) / 1e9;
      assertTrue(gate.contains("ImageCached"), gate);
      assertTrue(gateSeconds < 5, "the gate opened at once: " + gateSeconds + " s\n" + gate);
      JsonNode replicaFetch =
          runInitContainer(second, HelperContract.CONTAINER_FETCH_MODEL, nodeCache, weights.uri());
      assertEquals(true, replicaFetch.get("cacheHit").asBoolean(), replicaFetch.toString());
      System.out.printf(
          "e2e: warm replica %s on %s: gate open after %.1fs, fetch-model %s%n",
          second.getMetadata().getName(), warmNode, gateSeconds, replicaFetch);
    }

    // The placeholder comes back on the GPU node left, and warms it.
    InferenceEndpoint refilled =
        Cluster.await(
            "the pool refilled on another node",
            WarmPoolE2E::endpoint,
            e ->
                Integer.valueOf(2).equals(e.getStatus().getReadyReplicas())
                    && Conditions.isTrue(e.getStatus().getConditions(), "WarmPoolReady")
                    && !e.getStatus().getWarmPool().getNodes().contains(warmNode));
    String newWarmNode = refilled.getStatus().getWarmPool().getNodes().get(0);
    assertNotEquals(first.getSpec().getNodeName(), newWarmNode);
    assertTrue(NODES.contains(newWarmNode), newWarmNode);
    var coldStarts =
        Cluster.await(
                "the warm start accounted for",
                WarmPoolE2E::endpoint,
                e ->
                    e.getStatus().getColdStart() != null
                        && e.getStatus().getColdStart().getCount() == 2)
            .getStatus()
            .getColdStart();
    assertEquals(
        "Warm", coldStarts.getLast().getPlacement(), "the replica on the warm node started warm");
    // The first replica went warm only if the placeholder was ready before the replica was created.
    assertTrue(
        List.of("Warm", "Cold").contains(coldStarts.getRecent().get(1).getPlacement()),
        coldStarts.toString());
    System.out.println(Cluster.kubectl("get", "ie", NAME, "-n", NS, "-o", "wide"));

    // Scaled to zero, the warm pool stays; scaling up again is a warm start.
    Cluster.kubectl("scale", "ie/" + NAME, "-n", NS, "--replicas=0");
    Cluster.await(
        "no replicas, the pool still warm",
        WarmPoolE2E::endpoint,
        e -> servingPods().isEmpty() && e.getStatus().getWarmPool().getReady() == 1);
    // Deleting the endpoint removes the placeholders with everything else.
    client.resources(InferenceEndpoint.class).inNamespace(NS).withName(NAME).delete();
    Cluster.await("placeholders gone", WarmPoolE2E::placeholders, List::isEmpty);
  }

  @Test
  void aPoolLargerThanTheFreeGpusSaysSoAndDoesNotSpin() throws Exception {
    String name = "too-big";
    Cluster.applyYaml(
        client,
        endpoint(0)
            .replace("name: " + NAME, "name: " + name)
            .replace("warmPool: {replicas: 1}", "warmPool: {replicas: 5}"),
        "e2e");
    try {
      reportsAShortPool(name);
    } finally {
      // Its placeholders hold every GPU of the pool: the other test needs them.
      client.resources(InferenceEndpoint.class).inNamespace(NS).withName(name).delete();
      Cluster.await(
          "its placeholders gone",
          () -> client.pods().inNamespace(NS).withLabel(Labels.WARM_POOL, name).list().getItems(),
          List::isEmpty);
    }
  }

  private static void reportsAShortPool(String name) throws Exception {
    // Three nodes, five placeholders: three warm, two left Pending, and the condition says why.
    InferenceEndpoint ie =
        Cluster.await(
            "the pool reported short",
            () -> client.resources(InferenceEndpoint.class).inNamespace(NS).withName(name).get(),
            e ->
                e.getStatus() != null
                    && e.getStatus().getWarmPool() != null
                    && e.getStatus().getWarmPool().getReady() == NODES.size()
                    && Conditions.find(e.getStatus().getConditions(), "WarmPoolReady")
                        .map(c -> "PlaceholdersUnschedulable".equals(c.getReason()))
                        .orElse(false));
    String message =
        Conditions.find(ie.getStatus().getConditions(), "WarmPoolReady").orElseThrow().getMessage();
    assertTrue(message.contains("Insufficient nvidia.com/gpu"), message);
    System.out.println("e2e: " + message);
    // Nothing spins: the status settles (the cache and the placeholders coming up write it a few
    // times),
    // then stays as it is while the placeholders wait.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    String version =
        client
            .resources(InferenceEndpoint.class)
            .inNamespace(NS)
            .withName(name)
            .get()
            .getMetadata()
            .getResourceVersion();
    while (true) {
      Thread.sleep(3000);
      String now =
          client
              .resources(InferenceEndpoint.class)
              .inNamespace(NS)
              .withName(name)
              .get()
              .getMetadata()
              .getResourceVersion();
      if (now.equals(version)) {
        break;
      }
      assertTrue(
          System.nanoTime() < deadline,
          "the status of a short pool is still rewritten after 30 s: a loop");
      version = now;
    }
  }

  private static String endpoint(int replicas) {
    return """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: %s, namespace: %s}
        spec:
          image: vllm/vllm-openai:v0.11.0
          replicas: %d
          resources: {limits: {nvidia.com/gpu: 1}}
          nodeSelector: {karpenter.sh/nodepool: %s}
          tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
          model:
            uri: s3://models/warm-e2e/
            path: /models/llm
            nodeCache: {enabled: true}
          warmPool: {replicas: 1}
        """
        .formatted(NAME, NS, replicas, POOL);
  }

  private static InferenceEndpoint endpoint() {
    return client.resources(InferenceEndpoint.class).inNamespace(NS).withName(NAME).get();
  }

  private static List<Pod> servingPods() {
    return client.pods().inNamespace(NS).withLabel(Labels.ENDPOINT, NAME).list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }

  private static List<Pod> placeholders() {
    return client
        .pods()
        .inNamespace(NS)
        .withLabel(Labels.WARM_POOL, NAME)
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }

  /** The gate init container of {@code pod} as a process, asking the operator's gate API. */
  private static String runGate(Pod pod) throws Exception {
    Container gate = initContainer(pod, HelperContract.CONTAINER_GATE);
    List<String> args = new ArrayList<>();
    for (String arg : gate.getArgs()) {
      args.add(
          arg.startsWith("--url=")
              ? "--url=http://127.0.0.1:" + CLUSTER.operator().gate().port()
              : arg);
    }
    return run(pod, gate, args, Map.of(), 60);
  }

  /**
   * An init container of {@code pod} as a process with the pod's arguments and environment, the
   * node cache's mount replaced by {@code nodeCache}, the model's S3 URI by {@code uri} and the
   * gate's in-cluster URL by the operator's port. Returns fetch-model's termination message.
   */
  private static JsonNode runInitContainer(Pod pod, String name, Path nodeCache, String uri)
      throws Exception {
    Container c = initContainer(pod, name);
    Files.createDirectories(nodeCache);
    Path termination = Files.createTempFile("termination-", ".json");
    List<String> args = new ArrayList<>();
    for (String arg : c.getArgs()) {
      String a = arg.replace("/var/lib/warmstart/model-cache", nodeCache.toString());
      if (a.startsWith("--cache-pods-url=")) {
        a =
            a.replaceFirst(
                "^--cache-pods-url=https?://[^/]+",
                "--cache-pods-url=http://127.0.0.1:" + CLUSTER.operator().gate().port());
      }
      args.add(a);
    }
    args.add("--termination-log=" + termination);
    run(
        pod,
        c,
        args,
        Map.of("MODEL_URI", uri, "/var/lib/warmstart/model-cache", nodeCache.toString()),
        120);
    return JSON.readTree(Files.readString(termination));
  }

  private static Container initContainer(Pod pod, String name) {
    return pod.getSpec().getInitContainers().stream()
        .filter(c -> name.equals(c.getName()))
        .findFirst()
        .orElseThrow();
  }

  /**
   * Runs the warmstart CLI in its own JVM as the container would: env from the spec, $(VAR)
   * expanded.
   */
  private static String run(
      Pod pod, Container c, List<String> args, Map<String, String> overrides, int seconds)
      throws Exception {
    Map<String, String> env = new HashMap<>();
    for (EnvVar e : c.getEnv()) {
      String value = e.getValue();
      if (e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null) {
        value =
            switch (e.getValueFrom().getFieldRef().getFieldPath()) {
              case "metadata.name" -> pod.getMetadata().getName();
              case "metadata.namespace" -> pod.getMetadata().getNamespace();
              case "metadata.uid" -> pod.getMetadata().getUid();
              case "spec.nodeName" -> pod.getSpec().getNodeName();
              default ->
                  throw new IllegalArgumentException(
                      "field " + e.getValueFrom().getFieldRef().getFieldPath());
            };
      }
      if (value != null && !"JAVA_TOOL_OPTIONS".equals(e.getName())) {
        env.put(e.getName(), expand(value, env));
      }
    }
    overrides.forEach(
        (key, value) -> {
          if (key.startsWith("/")) {
            env.replaceAll((k, v) -> v.replace(key, value));
          } else {
            env.put(key, value);
          }
        });
    List<String> command =
        new ArrayList<>(
            List.of(
                new File(System.getProperty("java.home"), "bin/java").getPath(),
                "-Xmx256m",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.warmstart.Main"));
    args.forEach(a -> command.add(expand(a, env)));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process process = pb.start();
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError(
          c.getName()
              + " did not finish within "
              + seconds
              + " s: "
              + new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, process.exitValue(), c.getName() + " failed:\n" + out);
    return out;
  }

  private static final Pattern VARIABLE = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");

  /** The kubelet's $(VAR) expansion, from the variables defined so far. */
  private static String expand(String value, Map<String, String> env) {
    Matcher m = VARIABLE.matcher(value);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(env.getOrDefault(m.group(1), m.group())));
    }
    return m.appendTail(out).toString();
  }

  /** A 4 MiB model file over HTTP on loopback, standing in for the model's S3 bucket. */
  private record Weights(HttpServer server) implements AutoCloseable {
    static Weights serve() throws Exception {
      byte[] body = new byte[4 << 20];
      new Random(7).nextBytes(body);
      HttpServer server =
          HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      server.createContext(
          "/model.safetensors",
          exchange -> {
            exchange.getResponseHeaders().add("Content-Type", "application/octet-stream");
            boolean head = "HEAD".equals(exchange.getRequestMethod());
            exchange.sendResponseHeaders(200, head ? -1 : body.length);
            if (!head) {
              try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
              }
            }
            exchange.close();
          });
      server.start();
      return new Weights(server);
    }

    String uri() {
      return "http://127.0.0.1:" + server.getAddress().getPort() + "/model.safetensors";
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }
}
