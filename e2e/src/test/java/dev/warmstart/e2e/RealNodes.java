package dev.warmstart.e2e;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The real GPU nodes of {@code e2e/cluster.sh up --real-nodes N} and what the host gives them (registry, S3,
 * cluster DNS), as {@code e2e/cluster.sh env} prints them; and the operator as users run it there: the chart
 * installed with helm from the image built here, one replica running as a pod on a real node, watching
 * {@link #NAMESPACE} only (the rest of the suite runs its operators in the test JVM, on the KWOK pool).
 */
final class RealNodes {
  /** Where the real-node tests put their objects: the only namespace the chart's operator here watches. */
  static final String NAMESPACE = "real-e2e";
  static final String OPERATOR_NAMESPACE = "warmstart-real";
  static final String RELEASE = "warmstart-real";
  /** Selects the real nodes; their taint of the same key keeps the fake pool's workloads off them. */
  static final String LABEL = "warmstart.dev/real-node";
  /** The Secret with S3 credentials for {@code spec.model.credentialsSecret}. */
  static final String S3_SECRET = "s3-credentials";

  private static Map<String, String> env;
  private static boolean operatorInstalled;

  private RealNodes() {}

  /** {@code e2e/cluster.sh env}: KUBECONFIG, REGISTRY, HELPER_IMAGE, SERVER_IMAGE, S3_ENDPOINT, ... */
  static synchronized Map<String, String> env() {
    if (env == null) {
      Map<String, String> parsed = new LinkedHashMap<>();
      for (String line : script("env").split("\n")) {
        int eq = line.indexOf('=');
        if (eq > 0) {
          String value = line.substring(eq + 1);
          if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
            value = value.substring(1, value.length() - 1); // shell quoting of a value with spaces
          }
          parsed.put(line.substring(0, eq), value);
        }
      }
      if (parsed.getOrDefault("REAL_NODES", "").isBlank()) {
        throw new IllegalStateException("no real nodes: run e2e/cluster.sh up --real-nodes 2 (e2e/test.sh does)");
      }
      env = parsed;
    }
    return env;
  }

  static String get(String key) {
    String value = env().get(key);
    if (value == null) {
      throw new IllegalStateException("e2e/cluster.sh env printed no " + key);
    }
    return value;
  }

  /** The real nodes up when the suite started, in name order. */
  static List<String> nodes() {
    return Arrays.asList(get("REAL_NODES").split(" "));
  }

  /** Every real node the API server knows now (including nodes the tests added). */
  static List<String> nodes(KubernetesClient client) {
    return client.nodes().withLabel(LABEL, "true").list().getItems().stream().map(n -> n.getMetadata().getName())
        .sorted().toList();
  }

  /**
   * Joins one more real GPU node from an empty containerd root (nothing pulled): "a new GPU node". Returns its
   * name once it is Ready with its GPU advertised.
   */
  static String addNode() {
    String out = script("add-real-node").strip();
    return out.substring(out.lastIndexOf('\n') + 1);
  }

  /** Stops the node's processes, removes its state and its Node object. */
  static void removeNode(String node) {
    script("remove-real-node", node);
  }

  /** {@code stop} or {@code start} a node's kubelet (start waits until the node is Ready again). */
  static void kubelet(String action, String node) {
    script("kubelet", action, node);
  }

  /** {@code stop} or {@code start} a host service: {@code registry} or {@code s3}. */
  static void service(String action, String service) {
    script("service", action, service);
  }

  /** Debian's ctr against the node's containerd, namespace k8s.io (where the kubelet's images are). */
  static String ctr(String node, String... args) {
    List<String> command = new ArrayList<>(List.of("ctr", node));
    command.addAll(List.of(args));
    return script(command.toArray(String[]::new));
  }

  /** The image references containerd on the node holds. */
  static List<String> images(String node) {
    return Arrays.stream(ctr(node, "images", "ls", "-q").split("\n")).map(String::strip).filter(s -> !s.isEmpty())
        .toList();
  }

  /** Tolerations for pods that must land on real nodes (both their taints). */
  static String tolerationsYaml() {
    return "[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}, "
        + "{key: " + LABEL + ", operator: Exists, effect: NoSchedule}]";
  }

  /** The test namespace and the S3 credentials Secret in it (fetch-model's only). */
  static void ensureNamespace(KubernetesClient client) {
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
        .serverSideApply();
    client.secrets().inNamespace(NAMESPACE).resource(new SecretBuilder()
        .withNewMetadata().withName(S3_SECRET).withNamespace(NAMESPACE).endMetadata()
        .addToStringData("AWS_ACCESS_KEY_ID", get("S3_ACCESS_KEY"))
        .addToStringData("AWS_SECRET_ACCESS_KEY", get("S3_SECRET_KEY"))
        .addToStringData("AWS_ENDPOINT_URL", get("S3_ENDPOINT"))
        .addToStringData("AWS_REGION", "us-east-1")
        .addToStringData("AWS_S3_FORCE_PATH_STYLE", "true")
        .build()).serverSideApply();
  }

  /**
   * The operator as users run it: {@code helm upgrade --install} of charts/warmstart with the image built here
   * (pinned by digest, so a node never runs a stale copy of the tag), one replica on a real node, watching
   * {@link #NAMESPACE}. Once per JVM; waits until the operator's pod is Ready (it leads, its gate answers).
   */
  static synchronized void installOperator(KubernetesClient client) {
    ensureNamespace(client);
    if (operatorInstalled) {
      return;
    }
    Path root = Cluster.repoRoot();
    String helm = Path.of(run(root.resolve("e2e/tools.sh").toString(), "--print").strip(), "helm").toString();
    String helper = get("HELPER_IMAGE");
    String repository = helper.substring(0, helper.lastIndexOf(':'));
    run(helm, "upgrade", "--install", RELEASE, root.resolve("charts/warmstart").toString(),
        "--namespace", OPERATOR_NAMESPACE, "--create-namespace", "--kubeconfig", get("KUBECONFIG"),
        "--set", "image.repository=" + repository,
        "--set", "image.digest=" + get("HELPER_IMAGE_DIGEST"),
        "--set", "replicaCount=1",
        "--set", "watchNamespaces={" + NAMESPACE + "}",
        // The PriorityClass is cluster-wide: the suite's main release (e2e/chart.sh) has it.
        "--set", "warmPool.priorityClass.create=false",
        "--set-string", "nodeSelector.warmstart\\.dev/real-node=true",
        "--set", "tolerations[0].operator=Exists",
        "--wait", "--timeout", "4m");
    await("the chart's operator Ready on a real node", Duration.ofMinutes(3),
        () -> client.pods().inNamespace(OPERATOR_NAMESPACE).withLabel("app.kubernetes.io/instance", RELEASE).list()
            .getItems(),
        pods -> pods.stream().anyMatch(p -> p.getStatus().getConditions().stream()
            .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))));
    operatorInstalled = true;
  }

  /** The node's InternalIP (its end of the veth pair). */
  static String address(Node node) {
    return node.getStatus().getAddresses().stream().filter(a -> "InternalIP".equals(a.getType())).findFirst()
        .orElseThrow().getAddress();
  }

  static <T> T await(String what, Duration timeout, Supplier<T> get, Predicate<T> condition) {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    T last = null;
    while (System.nanoTime() < deadline) {
      try {
        last = get.get();
      } catch (RuntimeException e) {
        last = null; // an API server or node that is coming back: try again
      }
      if (last != null && condition.test(last)) {
        System.out.printf("real-node e2e: %s after %.1fs%n", what, (System.nanoTime() - start) / 1e9);
        return last;
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(what + ": interrupted", e);
      }
    }
    throw new AssertionError(what + ": not within " + timeout.toSeconds() + "s; last seen: " + last);
  }

  private static String script(String... args) {
    List<String> command = new ArrayList<>(List.of(Cluster.repoRoot().resolve("e2e/cluster.sh").toString()));
    command.addAll(List.of(args));
    return run(command.toArray(String[]::new));
  }

  static String run(String... command) {
    try {
      Path log = Files.createTempFile("real-node-e2e", ".log");
      try {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(6, TimeUnit.MINUTES)) {
          p.destroyForcibly();
          throw new AssertionError(String.join(" ", command) + " did not finish within 6 minutes");
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
          throw new AssertionError(String.join(" ", command) + " failed (" + p.exitValue() + "):\n" + out);
        }
        return out;
      } finally {
        Files.deleteIfExists(log);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
