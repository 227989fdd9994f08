package dev.warmstart.e2e;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An InferenceEndpoint on the real nodes, written as the YAML a user would apply: the model-server
 * image serving s3://models/tiny-llm/ from the local S3 with the {@link RealNodes#S3_SECRET}
 * credentials, one GPU, on the real nodes (both their taints tolerated). Each {@code with} replaces
 * one top-level spec field.
 */
final class RealEndpoint {
  static final String MODEL_PATH = "/models/tiny-llm";
  final String name;
  private final Map<String, String> spec = new LinkedHashMap<>();

  private RealEndpoint(String name) {
    this.name = name;
    spec.put("image", RealNodes.get("SERVER_IMAGE"));
    spec.put("args", "[" + MODEL_PATH + "]");
    spec.put("resources", "{limits: {nvidia.com/gpu: 1}}");
    spec.put("nodeSelector", "{" + RealNodes.LABEL + ": \"true\"}");
    spec.put("tolerations", RealNodes.tolerationsYaml());
    spec.put("model", model(""));
  }

  static RealEndpoint named(String name) {
    return new RealEndpoint(name);
  }

  /** Sets a top-level spec field to a flow-style YAML value, e.g. {@code with("replicas", "2")}. */
  RealEndpoint with(String field, String flowYaml) {
    spec.put(field, flowYaml);
    return this;
  }

  RealEndpoint without(String field) {
    spec.remove(field);
    return this;
  }

  /** Only on this node (its hostname label), still among the real nodes. */
  RealEndpoint onNode(String node) {
    return with(
        "nodeSelector",
        "{" + RealNodes.LABEL + ": \"true\", kubernetes.io/hostname: " + node + "}");
  }

  /** No GPU: as many replicas per node as the test needs (each real node has one GPU). */
  RealEndpoint withoutGpu() {
    return without("resources");
  }

  /** The weights through the node-local cache at {@code path} on the node. */
  RealEndpoint nodeCache(Path path) {
    return with("model", model(", nodeCache: {enabled: true, path: " + path + "}"));
  }

  private static String model(String more) {
    return "{uri: s3://models/tiny-llm/, path: "
        + MODEL_PATH
        + ", credentialsSecret: "
        + RealNodes.S3_SECRET
        + more
        + "}";
  }

  String yaml() {
    StringBuilder yaml =
        new StringBuilder(
            """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: %s, namespace: %s}
        spec:
        """
                .formatted(name, RealNodes.NAMESPACE));
    spec.forEach(
        (field, value) -> yaml.append("  ").append(field).append(": ").append(value).append('\n'));
    return yaml.toString();
  }

  void apply(KubernetesClient client) {
    Cluster.applyYaml(client, yaml(), "e2e");
  }

  InferenceEndpoint get(KubernetesClient client) {
    return client
        .resources(InferenceEndpoint.class)
        .inNamespace(RealNodes.NAMESPACE)
        .withName(name)
        .get();
  }

  /** Its serving pods that are not being deleted, oldest first. */
  List<Pod> pods(KubernetesClient client) {
    return client
        .pods()
        .inNamespace(RealNodes.NAMESPACE)
        .withLabel(Labels.ENDPOINT, name)
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .sorted(
            java.util.Comparator.comparing((Pod p) -> p.getMetadata().getCreationTimestamp())
                .thenComparing(p -> p.getMetadata().getName()))
        .toList();
  }

  static Optional<Condition> condition(InferenceEndpoint ie, String type) {
    return ie == null || ie.getStatus() == null
        ? Optional.empty()
        : Conditions.find(ie.getStatus().getConditions(), type);
  }

  /** Whether the condition has this status and reason. */
  static boolean is(InferenceEndpoint ie, String type, String status, String reason) {
    return condition(ie, type)
        .map(c -> status.equals(c.getStatus()) && reason.equals(c.getReason()))
        .orElse(false);
  }

  static int readyReplicas(InferenceEndpoint ie) {
    return ie == null || ie.getStatus() == null || ie.getStatus().getReadyReplicas() == null
        ? 0
        : ie.getStatus().getReadyReplicas();
  }

  static int coldStarts(InferenceEndpoint ie) {
    return ie == null
            || ie.getStatus() == null
            || ie.getStatus().getColdStart() == null
            || ie.getStatus().getColdStart().getCount() == null
        ? 0
        : ie.getStatus().getColdStart().getCount();
  }

  /** The recorded cold start of one pod. */
  static Optional<Phases> coldStartOf(InferenceEndpoint ie, String pod) {
    return ie == null || ie.getStatus() == null || ie.getStatus().getColdStart() == null
        ? Optional.empty()
        : ie.getStatus().getColdStart().getRecent().stream()
            .filter(p -> pod.equals(p.getPod()))
            .findFirst();
  }

  /**
   * One cold start as a line: total (scheduling, gate, download, pull, server start), node and
   * placement.
   */
  static String describe(Phases p) {
    return p.getTotal()
        + " (scheduling "
        + p.getScheduling()
        + ", gate "
        + p.getGateWait()
        + ", download "
        + p.getModelDownload()
        + ", pull "
        + p.getImagePull()
        + ", server start "
        + p.getServerStart()
        + ") on "
        + p.getNode()
        + (p.getPlacement() == null ? "" : ", " + p.getPlacement());
  }

  /** A phase of status.coldStart in seconds (whole seconds: the pod's timestamps are). */
  static long seconds(String duration) {
    return Durations.parse(duration).toSeconds();
  }

  static Optional<ContainerStatus> container(Pod pod, String name) {
    if (pod.getStatus() == null) {
      return Optional.empty();
    }
    return java.util.stream.Stream.concat(
            pod.getStatus().getInitContainerStatuses() == null
                ? java.util.stream.Stream.empty()
                : pod.getStatus().getInitContainerStatuses().stream(),
            pod.getStatus().getContainerStatuses() == null
                ? java.util.stream.Stream.empty()
                : pod.getStatus().getContainerStatuses().stream())
        .filter(c -> name.equals(c.getName()))
        .findFirst();
  }

  /** fetch-model's one-line JSON summary (its termination message). */
  static String fetchSummary(Pod pod) {
    return container(pod, HelperContract.CONTAINER_FETCH_MODEL)
        .map(c -> c.getState().getTerminated())
        .map(t -> t.getMessage())
        .orElse(null);
  }

  static boolean podReady(Pod pod) {
    return pod.getStatus() != null
        && pod.getStatus().getConditions() != null
        && pod.getStatus().getConditions().stream()
            .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }
}
