package dev.warmstart.e2e;

import dev.warmstart.operator.OperatorCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Stream;
import picocli.CommandLine;

/** The local cluster of e2e/cluster.sh, reached through KUBECONFIG, and its scripts. */
final class Cluster {
  private Cluster() {}

  static KubernetesClient client() {
    if (System.getenv("KUBECONFIG") == null) {
      throw new IllegalStateException(
          "KUBECONFIG is not set: run the e2e suite through e2e/test.sh");
    }
    return new KubernetesClientBuilder().build();
  }

  /**
   * The KWOK GPU pool: GPU nodes but the real ones of {@code e2e/cluster.sh up --real-nodes}, which
   * a taint keeps the fake pool's workloads off.
   */
  static List<io.fabric8.kubernetes.api.model.Node> fakeGpuNodes(KubernetesClient client) {
    return client
        .nodes()
        .withLabel("nvidia.com/gpu.present", "true")
        .withoutLabel("warmstart.dev/real-node")
        .list()
        .getItems();
  }

  static Path repoRoot() {
    return Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
  }

  static void applyCrds(KubernetesClient client) throws IOException {
    try (Stream<Path> files = Files.list(repoRoot().resolve("crds"))) {
      for (Path crd : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        apply(client, crd);
      }
    }
    for (HasMetadata crd :
        client.apiextensions().v1().customResourceDefinitions().list().getItems()) {
      if (crd.getMetadata().getName().endsWith(".warmstart.dev")) {
        client
            .apiextensions()
            .v1()
            .customResourceDefinitions()
            .resource(
                (io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition) crd)
            .waitUntilCondition(
                d ->
                    d.getStatus() != null
                        && d.getStatus().getConditions().stream()
                            .anyMatch(
                                c ->
                                    "Established".equals(c.getType())
                                        && "True".equals(c.getStatus())),
                30,
                TimeUnit.SECONDS);
      }
    }
  }

  /** Server-side apply of every object in a YAML file, as kubectl apply --server-side does. */
  static List<HasMetadata> apply(KubernetesClient client, Path file) throws IOException {
    List<HasMetadata> applied = new ArrayList<>();
    try (InputStream in = Files.newInputStream(file)) {
      for (HasMetadata object : client.load(in).items()) {
        applied.add(client.resource(object).fieldManager("e2e").forceConflicts().serverSideApply());
      }
    }
    return applied;
  }

  /** Server-side apply of YAML text, as {@code field manager}; returns what the server stored. */
  static List<HasMetadata> applyYaml(KubernetesClient client, String yaml, String fieldManager) {
    List<HasMetadata> applied = new ArrayList<>();
    for (HasMetadata object :
        client
            .load(new java.io.ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
            .items()) {
      applied.add(
          client.resource(object).fieldManager(fieldManager).forceConflicts().serverSideApply());
    }
    return applied;
  }

  static <T extends HasMetadata> void deleteAndWait(
      KubernetesClient client, Class<T> type, String ns, String name) {
    var resource = client.resources(type).inNamespace(ns).withName(name);
    resource.delete();
    resource.waitUntilCondition(r -> r == null, 60, TimeUnit.SECONDS);
  }

  /**
   * The chart's ServiceAccount as {@code namespace:name} (env WARMSTART_E2E_SERVICE_ACCOUNT, set by
   * e2e/test.sh after it installs the chart), or empty to run the operator with the kubeconfig's
   * own rights.
   */
  static java.util.Optional<String[]> serviceAccount() {
    String sa = System.getenv("WARMSTART_E2E_SERVICE_ACCOUNT");
    if (sa == null || sa.isBlank()) {
      return java.util.Optional.empty();
    }
    String[] parts = sa.split(":", 2);
    if (parts.length != 2) {
      throw new IllegalStateException(
          "WARMSTART_E2E_SERVICE_ACCOUNT must be namespace:name, was " + sa);
    }
    return java.util.Optional.of(parts);
  }

  /**
   * A client that acts as the chart's ServiceAccount (impersonation; the kubeconfig's admin may
   * impersonate) and records its calls, or the plain client when no ServiceAccount is configured.
   */
  static KubernetesClient operatorClient(ApiCalls calls) {
    return operatorClient(calls, serviceAccount());
  }

  static KubernetesClient operatorClient(
      ApiCalls calls, java.util.Optional<String[]> serviceAccount) {
    Config config = Config.autoConfigure(null);
    serviceAccount.ifPresent(
        sa -> {
          config.setImpersonateUsername("system:serviceaccount:" + sa[0] + ":" + sa[1]);
          config.setImpersonateGroups(
              "system:serviceaccounts", "system:serviceaccounts:" + sa[0], "system:authenticated");
        });
    return new KubernetesClientBuilder()
        .withConfig(config)
        .withHttpClientBuilderConsumer(b -> b.addOrReplaceInterceptor("e2e-api-calls", calls))
        .build();
  }

  static OperatorCommand.Running startOperator() throws Exception {
    return startOperator(new ApiCalls());
  }

  /**
   * The operator out of cluster, in this JVM (KWOK never runs pods). As the chart's ServiceAccount,
   * it also takes the chart's leader-election Lease, as the chart's pods would.
   */
  static OperatorCommand.Running startOperator(ApiCalls calls) throws Exception {
    return startOperator(calls, serviceAccount(), List.of());
  }

  /**
   * As {@link #startOperator(ApiCalls)}, as the given ServiceAccount and with more operator
   * arguments.
   */
  static OperatorCommand.Running startOperator(
      ApiCalls calls, java.util.Optional<String[]> serviceAccount, List<String> moreArgs)
      throws Exception {
    OperatorCommand command = new OperatorCommand();
    List<String> args =
        new ArrayList<>(
            List.of(
                "--http-port=0",
                "--helper-image=warmstart/warmstart:e2e",
                // KWOK never runs the pods, so the gate URL only has to put the gate init container
                // in them.
                "--gate-url=http://127.0.0.1:8081",
                "--gate-port=0"));
    args.addAll(moreArgs);
    serviceAccount.ifPresent(
        sa -> {
          args.add("--leader-election-namespace=" + sa[0]);
          args.add(
              "--identity=warmstart-e2e"); // one identity: each test's operator takes the Lease
          // over at once
          args.add(
              "--no-exit-on-lost-leadership"); // stopping the operator ends its leadership: keep
          // the test JVM
        });
    new CommandLine(command).parseArgs(args.toArray(String[]::new));
    OperatorCommand.Running running = command.start(operatorClient(calls, serviceAccount));
    serviceAccount.ifPresent(
        sa -> {
          // The controllers start once this instance leads; tests expect a working operator on
          // return.
          try (KubernetesClient admin = client()) {
            await(
                "operator holds the Lease",
                () -> admin.leases().inNamespace(sa[0]).withName("warmstart-operator").get(),
                lease -> "warmstart-e2e".equals(lease.getSpec().getHolderIdentity()));
          }
        });
    return running;
  }

  static void addGpuNode(String name) throws Exception {
    run(repoRoot().resolve("e2e/cluster.sh").toString(), "add-gpu-node", name);
  }

  static String kubectl(String... args) throws Exception {
    List<String> command =
        new ArrayList<>(List.of(repoRoot().resolve("e2e/cluster.sh").toString(), "kubectl"));
    command.addAll(List.of(args));
    return run(command.toArray(String[]::new));
  }

  private static String run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + out);
    }
    return out;
  }

  static <T> T await(String what, Supplier<T> get, Predicate<T> condition) {
    long start = System.nanoTime();
    long deadline = start + TimeUnit.SECONDS.toNanos(90);
    T last = null;
    while (System.nanoTime() < deadline) {
      last = get.get();
      if (last != null && condition.test(last)) {
        System.out.printf("e2e: %s after %.1fs%n", what, (System.nanoTime() - start) / 1e9);
        return last;
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new UncheckedIOException(new IOException(e));
      }
    }
    throw new AssertionError(what + ": not within 90s; last seen: " + last);
  }
}
