package dev.warmstart.e2e;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
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
 * The real GPU nodes of {@code e2e/cluster.sh up --real-nodes N} and what the host gives them
 * (registry, S3, cluster DNS), as {@code e2e/cluster.sh env} prints them; and the operator as users
 * run it there: the chart installed with helm from the image built here, one replica running as a
 * pod on a real node, watching {@link #NAMESPACE} only (the rest of the suite runs its operators in
 * the test JVM, on the KWOK pool).
 */
final class RealNodes {
  /**
   * Where the real-node tests put their objects: the only namespace the chart's operator here
   * watches.
   */
  static final String NAMESPACE = "real-e2e";

  static final String OPERATOR_NAMESPACE = "warmstart-real";
  static final String RELEASE = "warmstart-real";

  /**
   * Selects the real nodes; their taint of the same key keeps the fake pool's workloads off them.
   */
  static final String LABEL = "warmstart.dev/real-node";

  /** The Secret with S3 credentials for {@code spec.model.credentialsSecret}. */
  static final String S3_SECRET = "s3-credentials";

  /** On the nodes the tests add (never on the base nodes of e2e/cluster.sh up --real-nodes). */
  static final String ADDED = "warmstart.dev/e2e-added";

  /** On the pods the tests create themselves (load generators, probes). */
  static final String TEST_POD = "warmstart.dev/e2e-pod";

  private static Map<String, String> env;
  private static final java.util.Set<String> LEFTOVERS =
      java.util.concurrent.ConcurrentHashMap.newKeySet();
  private static boolean operatorInstalled;

  private RealNodes() {}

  /**
   * {@code e2e/cluster.sh env}: KUBECONFIG, REGISTRY, HELPER_IMAGE, SERVER_IMAGE, S3_ENDPOINT, ...
   */
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
        throw new IllegalStateException(
            "no real nodes: run e2e/cluster.sh up --real-nodes 2 (e2e/test.sh does)");
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

  /**
   * The real nodes up when the suite started, in name order, but those an earlier run added and
   * left.
   */
  static List<String> nodes() {
    return Arrays.stream(get("REAL_NODES").split(" ")).filter(n -> !LEFTOVERS.contains(n)).toList();
  }

  /** Every real node the API server knows now (including nodes the tests added). */
  static List<String> nodes(KubernetesClient client) {
    return client.nodes().withLabel(LABEL, "true").list().getItems().stream()
        .map(n -> n.getMetadata().getName())
        .sorted()
        .toList();
  }

  /**
   * Joins one more real GPU node from an empty containerd root (nothing pulled): "a new GPU node".
   * Returns its name once it is Ready with its GPU advertised. The node carries {@link #ADDED}
   * (this JVM's pid) so that a later run removes it if this JVM dies before its test does ({@link
   * #removeLeftoverNodes}).
   */
  static String addNode() {
    return addNode(Map.of());
  }

  /**
   * {@link #addNode()} with environment for e2e/cluster.sh (REAL_IMAGE_GC_HIGH, ... feed the
   * kubelet's config).
   */
  static String addNode(Map<String, String> env) {
    List<String> command =
        new ArrayList<>(
            List.of(Cluster.repoRoot().resolve("e2e/cluster.sh").toString(), "add-real-node"));
    String out = run(env, command.toArray(String[]::new)).strip();
    String node = out.substring(out.lastIndexOf('\n') + 1);
    script(
        "kubectl",
        "label",
        "node",
        node,
        ADDED + "=" + ProcessHandle.current().pid(),
        "--overwrite");
    return node;
  }

  /** Real nodes that an earlier run added and did not get to remove (a JVM killed mid-test). */
  static void removeLeftoverNodes(KubernetesClient client) {
    for (Node node : client.nodes().withLabel(ADDED).list().getItems()) {
      String name = node.getMetadata().getName();
      // The label is the pid of the test JVM that added the node: one still running owns it (this
      // JVM's own
      // nodes are left over from a class that did not clean up).
      String owner = node.getMetadata().getLabels().get(ADDED);
      long self = ProcessHandle.current().pid();
      if (owner.matches("[0-9]+")
          && Long.parseLong(owner) != self
          && ProcessHandle.of(Long.parseLong(owner)).map(ProcessHandle::isAlive).orElse(false)) {
        continue;
      }
      System.out.println("real-node e2e: removing " + name + ", left by an earlier run");
      LEFTOVERS.add(name);
      try {
        removeNode(name);
      } catch (AssertionError stateGone) {
        client
            .nodes()
            .withName(name)
            .delete(); // its processes and state are gone already: only the object left
      }
    }
  }

  /** Stops the node's processes, removes its state and its Node object. */
  static void removeNode(String node) {
    script("remove-real-node", node);
  }

  /**
   * For a test's {@code finally}: as {@link #removeNode}, but a node already gone is no error, so
   * that the failure that got the test here is the one reported.
   */
  static void removeNodeIfPresent(String node) {
    try {
      removeNode(node);
    } catch (AssertionError gone) {
      System.out.println(
          "real-node e2e: removing "
              + node
              + ": "
              + gone.getMessage().lines().reduce((a, b) -> b).orElse(""));
    }
  }

  /** {@code stop} or {@code start} a node's kubelet (start waits until the node is Ready again). */
  static void kubelet(String action, String node) {
    script("kubelet", action, node);
  }

  /** {@code stop} or {@code start} a host service: {@code registry} or {@code s3}. */
  static void service(String action, String service) {
    script("service", action, service);
  }

  /**
   * Caps the node's download link at {@code mbit} Mbit/s (htb on the host's end of its veth pair);
   * 0 lifts it.
   */
  static void shape(String node, int mbit) {
    script("shape", node, Integer.toString(mbit));
  }

  /**
   * Debian's ctr against the node's containerd, namespace k8s.io (where the kubelet's images are).
   */
  static String ctr(String node, String... args) {
    List<String> command = new ArrayList<>(List.of("ctr", node));
    command.addAll(List.of(args));
    return script(command.toArray(String[]::new));
  }

  /** The image references containerd on the node holds. */
  static List<String> images(String node) {
    return Arrays.stream(ctr(node, "images", "ls", "-q").split("\n"))
        .map(String::strip)
        .filter(s -> !s.isEmpty())
        .toList();
  }

  /** Tolerations for pods that must land on real nodes (both their taints). */
  static String tolerationsYaml() {
    return "[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}, "
        + "{key: "
        + LABEL
        + ", operator: Exists, effect: NoSchedule}]";
  }

  /** The test namespace and the S3 credentials Secret in it (fetch-model's only). */
  static void ensureNamespace(KubernetesClient client) {
    client
        .namespaces()
        .resource(
            new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
        .serverSideApply();
    client
        .secrets()
        .inNamespace(NAMESPACE)
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName(S3_SECRET)
                .withNamespace(NAMESPACE)
                .endMetadata()
                .addToStringData("AWS_ACCESS_KEY_ID", get("S3_ACCESS_KEY"))
                .addToStringData("AWS_SECRET_ACCESS_KEY", get("S3_SECRET_KEY"))
                .addToStringData("AWS_ENDPOINT_URL", get("S3_ENDPOINT"))
                .addToStringData("AWS_REGION", "us-east-1")
                .addToStringData("AWS_S3_FORCE_PATH_STYLE", "true")
                .build())
        .serverSideApply();
  }

  /**
   * The operator as users run it: {@code helm upgrade --install} of charts/warmstart with the image
   * built here (pinned by digest, so a node never runs a stale copy of the tag), one replica on a
   * real node, watching {@link #NAMESPACE}. Once per JVM; waits until the operator's pod is Ready
   * (it leads, its gate answers).
   */
  static synchronized void installOperator(KubernetesClient client) {
    ensureNamespace(client);
    if (operatorInstalled) {
      return;
    }
    ensurePriorityClass(client);
    Path root = Cluster.repoRoot();
    String helm =
        Path.of(run(root.resolve("e2e/tools.sh").toString(), "--print").strip(), "helm").toString();
    String helper = get("HELPER_IMAGE");
    String repository = helper.substring(0, helper.lastIndexOf(':'));
    run(
        helm,
        "upgrade",
        "--install",
        RELEASE,
        root.resolve("charts/warmstart").toString(),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--kubeconfig",
        get("KUBECONFIG"),
        "--set",
        "image.repository=" + repository,
        "--set",
        "image.digest=" + get("HELPER_IMAGE_DIGEST"),
        "--set",
        "replicaCount=1",
        "--set",
        "watchNamespaces={" + NAMESPACE + "}",
        // The PriorityClass is cluster-wide: the suite's main release (e2e/chart.sh) has it
        // (ensurePriorityClass).
        "--set",
        "warmPool.priorityClass.create=false",
        "--set-string",
        "nodeSelector.warmstart\\.dev/real-node=true",
        "--set",
        "tolerations[0].operator=Exists",
        "--wait",
        "--timeout",
        "4m");
    await(
        "the chart's operator Ready on a real node",
        Duration.ofMinutes(3),
        () ->
            client
                .pods()
                .inNamespace(OPERATOR_NAMESPACE)
                .withLabel("app.kubernetes.io/instance", RELEASE)
                .list()
                .getItems(),
        pods ->
            pods.stream()
                .anyMatch(
                    p ->
                        p.getStatus().getConditions().stream()
                            .anyMatch(
                                c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))));
    operatorInstalled = true;
  }

  /**
   * A clean namespace for a test class: the operator installed, and no endpoint, cache or test pod
   * left by a class before (or by a run that died), nor a node it added.
   */
  static KubernetesClient prepare() {
    KubernetesClient client = Cluster.client();
    installOperator(client);
    removeLeftoverNodes(client);
    client.resources(InferenceEndpoint.class).inNamespace(NAMESPACE).delete();
    client.resources(ImageCache.class).inNamespace(NAMESPACE).delete();
    client.pods().inNamespace(NAMESPACE).withLabel(TEST_POD).withGracePeriod(0).delete();
    await(
        "nothing left in " + NAMESPACE,
        Duration.ofMinutes(2),
        () ->
            client.pods().inNamespace(NAMESPACE).list().getItems().stream()
                .map(p -> p.getMetadata().getName())
                .toList(),
        List::isEmpty);
    return client;
  }

  /** Deletes an endpoint and waits until its Deployment, Service, ImageCache and pods are gone. */
  static void deleteEndpoint(KubernetesClient client, String name) {
    client.resources(InferenceEndpoint.class).inNamespace(NAMESPACE).withName(name).delete();
    await(
        "endpoint " + name + " and what it owned gone",
        Duration.ofMinutes(2),
        () -> {
          List<String> left = new ArrayList<>();
          if (client.resources(InferenceEndpoint.class).inNamespace(NAMESPACE).withName(name).get()
              != null) {
            left.add("endpoint");
          }
          client
              .pods()
              .inNamespace(NAMESPACE)
              .withLabel(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
              .list()
              .getItems()
              .stream()
              .filter(
                  p ->
                      name.equals(annotation(p, Labels.ENDPOINT_NAME))
                          || p.getMetadata().getName().startsWith("imagecache-" + name + "-"))
              .forEach(p -> left.add("pod " + p.getMetadata().getName()));
          return left;
        },
        List::isEmpty);
  }

  private static String annotation(Pod pod, String key) {
    return pod.getMetadata().getAnnotations() == null
        ? null
        : pod.getMetadata().getAnnotations().get(key);
  }

  /**
   * The model-server image with {@code mb} MiB more in layers, as heavy as a serving image is in
   * proportion to its link, tagged {@code e2e-pad<mb>} in the registry: built by
   * image/model-server.sh (about 20 s, unless the archive is newer than the jar) and pushed when
   * the registry holds another manifest under that tag.
   */
  static synchronized String paddedServerImage(int mb) {
    String tag = "e2e-pad" + mb;
    Path root = Cluster.repoRoot();
    Path archive = root.resolve("model-server/target/image/model-server-" + tag + ".oci.tar");
    Path jar = root.resolve("model-server/target/model-server.jar");
    try {
      if (!Files.exists(archive)
          || Files.getLastModifiedTime(archive).compareTo(Files.getLastModifiedTime(jar)) < 0) {
        run(
            root.resolve("image/model-server.sh").toString(),
            "--pad-mb",
            Integer.toString(mb),
            "--tag",
            tag);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    String image = get("REGISTRY") + "/warmstart/model-server:" + tag;
    String want =
        run("skopeo", "inspect", "--format", "{{.Digest}}", "oci-archive:" + archive).strip();
    String have;
    try {
      have =
          run(
                  "skopeo",
                  "inspect",
                  "--tls-verify=false",
                  "--format",
                  "{{.Digest}}",
                  "docker://" + image)
              .strip();
    } catch (AssertionError notThere) {
      have = "";
    }
    if (!want.equals(have)) {
      run(
          "skopeo",
          "copy",
          "-q",
          "--dest-tls-verify=false",
          "oci-archive:" + archive,
          "docker://" + image);
    }
    return image;
  }

  /**
   * A path as the node sees it, read from the host: each real node has its own /var/lib/warmstart
   * (a mount namespace per node, as a cloud node has its own disk), where hostPath volumes such as
   * the node model cache live. Through /proc/PID/root of the node's kubelet, which runs in that
   * namespace.
   */
  static Path onNode(String node, String path) {
    try (var procs = Files.list(Path.of("/proc"))) {
      for (Path proc : procs.filter(p -> p.getFileName().toString().matches("[0-9]+")).toList()) {
        String[] argv;
        try {
          argv =
              new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.UTF_8)
                  .split("\0");
        } catch (java.io.IOException gone) {
          continue;
        }
        if (argv.length > 2
            && argv[0].endsWith("/kubelet")
            && List.of(argv).indexOf("--hostname-override") >= 0
            && node.equals(argv[List.of(argv).indexOf("--hostname-override") + 1])) {
          return Path.of(proc.resolve("root").toString(), path);
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    throw new IllegalStateException("no kubelet of " + node + " runs");
  }

  /** Removes a directory on a node ({@link #onNode}), such as a hostPath the tests used. */
  static void deleteOnNode(String node, String path) {
    Path dir = onNode(node, path);
    if (Files.exists(dir)) {
      run("rm", "-rf", "--one-file-system", dir.toString());
    }
  }

  /**
   * A process on a node, as the host's /proc shows it (all real nodes share the host's PID
   * namespace).
   */
  record HostProcess(int pid, int uid, String cmdline) {}

  /** The processes of a running container: {@code ctr task ps} on its node, then /proc. */
  static List<HostProcess> containerProcesses(String node, String containerId) {
    String id = containerId.replaceFirst("^containerd://", "");
    List<HostProcess> out = new ArrayList<>();
    for (String line : ctr(node, "tasks", "ps", id).split("\n")) {
      String[] fields = line.strip().split("\\s+");
      if (fields.length == 0 || !fields[0].matches("[0-9]+")) {
        continue; // the header
      }
      int pid = Integer.parseInt(fields[0]);
      try {
        String status = Files.readString(Path.of("/proc", fields[0], "status"));
        int uid =
            Integer.parseInt(
                status
                    .lines()
                    .filter(l -> l.startsWith("Uid:"))
                    .findFirst()
                    .orElseThrow()
                    .split("\\s+")[1]);
        String cmdline =
            new String(
                    Files.readAllBytes(Path.of("/proc", fields[0], "cmdline")),
                    StandardCharsets.UTF_8)
                .replace('\0', ' ')
                .strip();
        out.add(new HostProcess(pid, uid, cmdline));
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(
            "process " + pid + " of container " + id + " on " + node, e);
      }
    }
    return out;
  }

  /**
   * Runs the model-server image's load generator in a pod on a real node against {@code url} (a
   * Service of an endpoint, through cluster DNS and kube-proxy) and returns the pod's name; it
   * prints one line a second.
   */
  static String startLoad(
      KubernetesClient client, String name, String url, int concurrency, String duration) {
    client
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NAMESPACE)
                .addToLabels(TEST_POD, "load")
                .endMetadata()
                .withNewSpec()
                .withRestartPolicy("Never")
                .withNodeSelector(Map.of(LABEL, "true"))
                .withTolerations(tolerations())
                .withAutomountServiceAccountToken(false)
                .withTerminationGracePeriodSeconds(1L)
                .addNewContainer()
                .withName("load")
                .withImage(get("SERVER_IMAGE"))
                .withImagePullPolicy("IfNotPresent")
                .withArgs(
                    "load",
                    "--url",
                    url,
                    "--concurrency",
                    Integer.toString(concurrency),
                    "--duration",
                    duration)
                .withNewSecurityContext()
                .withAllowPrivilegeEscalation(false)
                .withRunAsNonRoot(true)
                .withNewCapabilities()
                .withDrop("ALL")
                .endCapabilities()
                .endSecurityContext()
                .endContainer()
                .endSpec()
                .build())
        .create();
    return name;
  }

  /** Waits for a load pod to finish and returns its output (its last line: sent, ok, failed). */
  static String awaitLoad(KubernetesClient client, String name, Duration timeout) {
    await(
        "load pod " + name + " done",
        timeout,
        () -> client.pods().inNamespace(NAMESPACE).withName(name).get(),
        p ->
            p.getStatus() != null
                && List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()));
    return client.pods().inNamespace(NAMESPACE).withName(name).getLog();
  }

  /** Deletes a pod at once and waits until it is gone. */
  static void deletePod(KubernetesClient client, String name) {
    client.pods().inNamespace(NAMESPACE).withName(name).withGracePeriod(0).delete();
    await(
        "pod " + name + " gone",
        Duration.ofMinutes(1),
        () -> client.pods().inNamespace(NAMESPACE).withName(name).get() == null,
        gone -> gone);
  }

  static List<Toleration> tolerations() {
    return List.of(
        new TolerationBuilder()
            .withKey("nvidia.com/gpu")
            .withOperator("Exists")
            .withEffect("NoSchedule")
            .build(),
        new TolerationBuilder()
            .withKey(LABEL)
            .withOperator("Exists")
            .withEffect("NoSchedule")
            .build());
  }

  /**
   * The placeholders' PriorityClass, as the chart makes it, when no release has made it yet (a
   * class run on its own on a fresh cluster): marked as the suite's main release's (e2e/chart.sh,
   * release warmstart), which adopts it when it is installed later, instead of failing on an object
   * another release owns.
   */
  private static void ensurePriorityClass(KubernetesClient client) {
    if (client.scheduling().v1().priorityClasses().withName("warmstart-warm-pool").get() != null) {
      return;
    }
    client
        .resource(
            new io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClassBuilder()
                .withNewMetadata()
                .withName("warmstart-warm-pool")
                .addToLabels("app.kubernetes.io/managed-by", "Helm")
                .addToAnnotations("meta.helm.sh/release-name", "warmstart")
                .addToAnnotations("meta.helm.sh/release-namespace", "warmstart")
                .endMetadata()
                .withValue(-10)
                .withGlobalDefault(false)
                .withPreemptionPolicy("Never")
                .withDescription(
                    "warmstart warm-pool placeholders: below every workload, so any pod that needs their GPU "
                        + "preempts them; they never preempt anything.")
                .build())
        .create();
  }

  /** The node's InternalIP (its end of the veth pair). */
  static String address(Node node) {
    return node.getStatus().getAddresses().stream()
        .filter(a -> "InternalIP".equals(a.getType()))
        .findFirst()
        .orElseThrow()
        .getAddress();
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
        System.out.printf(
            "real-node e2e: %s after %.1fs%n", what, (System.nanoTime() - start) / 1e9);
        return last;
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(what + ": interrupted", e);
      }
    }
    throw new AssertionError(
        what + ": not within " + timeout.toSeconds() + "s; last seen: " + describe(last));
  }

  /** An endpoint or a cache by its status; anything else as it prints. */
  private static String describe(Object seen) {
    if (seen instanceof InferenceEndpoint ie && ie.getStatus() != null) {
      return "endpoint "
          + ie.getMetadata().getName()
          + " "
          + ie.getStatus().getReadyReplicas()
          + "/"
          + ie.getStatus().getReplicas()
          + " ready, "
          + conditions(ie.getStatus().getConditions());
    }
    if (seen instanceof ImageCache ic && ic.getStatus() != null) {
      return "cache "
          + ic.getMetadata().getName()
          + " "
          + ic.getStatus().getNodes()
          + ", "
          + conditions(ic.getStatus().getConditions());
    }
    return String.valueOf(seen);
  }

  private static String conditions(List<dev.warmstart.api.v1alpha1.Condition> conditions) {
    return conditions.stream()
        .map(c -> c.getType() + "=" + c.getStatus() + " " + c.getReason() + ": " + c.getMessage())
        .collect(java.util.stream.Collectors.joining("; "));
  }

  private static String script(String... args) {
    List<String> command =
        new ArrayList<>(List.of(Cluster.repoRoot().resolve("e2e/cluster.sh").toString()));
    command.addAll(List.of(args));
    return run(command.toArray(String[]::new));
  }

  static String run(String... command) {
    return run(Map.of(), command);
  }

  static String run(Map<String, String> env, String... command) {
    try {
      Path log = Files.createTempFile("real-node-e2e", ".log");
      try {
        ProcessBuilder builder =
            new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(env);
        Process p = builder.start();
        if (!p.waitFor(6, TimeUnit.MINUTES)) {
          p.destroyForcibly();
          throw new AssertionError(String.join(" ", command) + " did not finish within 6 minutes");
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
          throw new AssertionError(
              String.join(" ", command) + " failed (" + p.exitValue() + "):\n" + out);
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
