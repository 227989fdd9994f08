package dev.warmstart.testing;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * One real kube-apiserver + etcd per test JVM (kube-api-test, binaries staged by e2e/tools.sh),
 * with the committed CRDs installed. No controllers run there: no GC, no scheduler.
 */
public final class KubeApi {
  private static KubeAPIServer server;
  private static String kubeconfig;

  private KubeApi() {}

  public static synchronized KubernetesClient client() {
    if (server == null) {
      server =
          new KubeAPIServer(
              KubeAPIServerConfigBuilder.anAPIServerConfig()
                  .withOfflineMode(true)
                  .withApiServerVersion(System.getProperty("kube.version", "1.34.4"))
                  .withUpdateKubeConfig(false)
                  .build());
      server.start();
      kubeconfig = server.getKubeConfigYaml();
      Runtime.getRuntime().addShutdownHook(new Thread(server::stop));
      try (KubernetesClient c = newClient()) {
        for (Path crd : crdFiles()) {
          c.resource(load(c, crd, CustomResourceDefinition.class)).serverSideApply();
        }
        for (Path crd : crdFiles()) {
          c.apiextensions()
              .v1()
              .customResourceDefinitions()
              .withName(load(c, crd, CustomResourceDefinition.class).getMetadata().getName())
              .waitUntilCondition(
                  d ->
                      d.getStatus() != null
                          && d.getStatus().getConditions().stream()
                              .anyMatch(
                                  cond ->
                                      "Established".equals(cond.getType())
                                          && "True".equals(cond.getStatus())),
                  30,
                  java.util.concurrent.TimeUnit.SECONDS);
        }
      }
    }
    return newClient();
  }

  public static KubernetesClient newClient() {
    return new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig)).build();
  }

  public static String kubeconfigYaml() {
    client().close();
    return kubeconfig;
  }

  /** A fresh namespace, so tests never see each other's objects. */
  public static String newNamespace(KubernetesClient client, String prefix) {
    String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    client
        .resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
        .create();
    return name;
  }

  public static Path repoRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("crds"))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new IllegalStateException("crds/ not found above " + Path.of("").toAbsolutePath());
    }
    return dir;
  }

  public static List<Path> crdFiles() {
    try (Stream<Path> files = Files.list(repoRoot().resolve("crds"))) {
      return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static <T extends HasMetadata> T load(KubernetesClient client, Path file, Class<T> type) {
    try {
      return client.getKubernetesSerialization().unmarshal(Files.readString(file), type);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
