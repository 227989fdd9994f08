package dev.warmstart.e2e;

import dev.warmstart.operator.OperatorCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
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
      throw new IllegalStateException("KUBECONFIG is not set: run the e2e suite through e2e/test.sh");
    }
    return new KubernetesClientBuilder().build();
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
    for (HasMetadata crd : client.apiextensions().v1().customResourceDefinitions().list().getItems()) {
      if (crd.getMetadata().getName().endsWith(".warmstart.dev")) {
        client.apiextensions().v1().customResourceDefinitions().resource(
            (io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition) crd)
            .waitUntilCondition(d -> d.getStatus() != null && d.getStatus().getConditions().stream()
                .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus())), 30, TimeUnit.SECONDS);
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

  static <T extends HasMetadata> void deleteAndWait(KubernetesClient client, Class<T> type, String ns, String name) {
    var resource = client.resources(type).inNamespace(ns).withName(name);
    resource.delete();
    resource.waitUntilCondition(r -> r == null, 60, TimeUnit.SECONDS);
  }

  static OperatorCommand.Running startOperator() throws Exception {
    OperatorCommand command = new OperatorCommand();
    // KWOK never runs the pods, so the gate URL only has to put the gate init container in them.
    new CommandLine(command).parseArgs("--http-port=0", "--helper-image=warmstart/warmstart:e2e",
        "--gate-url=http://127.0.0.1:8081", "--gate-port=0");
    return command.start(client());
  }

  static void addGpuNode(String name) throws Exception {
    run(repoRoot().resolve("e2e/cluster.sh").toString(), "add-gpu-node", name);
  }

  static String kubectl(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(repoRoot().resolve("e2e/cluster.sh").toString(), "kubectl"));
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
