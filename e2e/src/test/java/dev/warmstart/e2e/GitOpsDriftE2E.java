package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a GitOps tool commits, the operator never writes: an ImageCache and an InferenceEndpoint
 * applied as Argo CD applies them (server-side, its own field manager) and reconciled until Ready
 * show no difference against the applied manifest (kubectl diff --server-side, as Argo CD's
 * server-side diff), their generation is unchanged, every field another manager owns is status, and
 * the Argo CD health checks read their live status as Healthy.
 */
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.OrderAnnotation.class)
class GitOpsDriftE2E {
  /**
   * Dashboard metrics that exist only after an event this test does not cause, with the Micrometer
   * meter (in the operator's sources or JOSDK's) that exports them. GateE2E causes the gate's.
   */
  private static final java.util.Map<String, String> EVENT_ONLY =
      java.util.Map.ofEntries(
          java.util.Map.entry("warmstart_gate_wait_seconds_bucket", "warmstart.gate.wait"),
          java.util.Map.entry("warmstart_gate_decisions_total", "warmstart.gate.decisions"),
          java.util.Map.entry(
              "operator_sdk_reconciliations_failed_total",
              "JOSDK MicrometerMetrics: a failed reconciliation"),
          java.util.Map.entry(
              "operator_sdk_controllers_execution_reconcile_failure_total",
              "JOSDK MicrometerMetrics: a failed reconcile"),
          // An endpoint with spec.autoscaling (AutoscalingE2E has one).
          java.util.Map.entry(
              "warmstart_autoscale_desired_replicas", "warmstart.autoscale.desired.replicas"),
          java.util.Map.entry(
              "warmstart_autoscale_decisions_total", "warmstart.autoscale.decisions"),
          java.util.Map.entry(
              "warmstart_autoscale_metric_reads_total", "warmstart.autoscale.metric.reads"),
          java.util.Map.entry(
              "warmstart_autoscale_metric_read_seconds_sum", "warmstart.autoscale.metric.read"),
          java.util.Map.entry(
              "warmstart_autoscale_metric_read_seconds_count", "warmstart.autoscale.metric.read"),
          java.util.Map.entry(
              "warmstart_autoscale_arriving_replicas", "warmstart.autoscale.arriving.replicas"),
          // A serving pod placed by an endpoint with spec.warmPool (WarmPoolE2E has some).
          java.util.Map.entry(
              "warmstart_warm_pool_placements_total", "warmstart.warm.pool.placements"));

  private static final String NS = "e2e-gitops";
  private static final String MANAGER = "argocd-controller";
  private static final String MANIFEST =
      """
      apiVersion: v1
      kind: Namespace
      metadata: {name: e2e-gitops}
      ---
      apiVersion: warmstart.dev/v1alpha1
      kind: ImageCache
      metadata:
        name: gitops
        namespace: e2e-gitops
        labels: {app.kubernetes.io/instance: gitops-demo}
        annotations: {team: ml-platform}
      spec:
        images: [vllm/vllm-openai:v0.11.0]
        nodeSelector: {karpenter.sh/nodepool: gpu}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      ---
      apiVersion: warmstart.dev/v1alpha1
      kind: InferenceEndpoint
      metadata:
        name: gitops
        namespace: e2e-gitops
        labels: {app.kubernetes.io/instance: gitops-demo}
      spec:
        image: vllm/vllm-openai:v0.11.0
        args: [--model, /models/m]
        port: 8000
        resources: {limits: {nvidia.com/gpu: 1}}
        nodeSelector: {karpenter.sh/nodepool: gpu}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        model: {uri: s3://models/m/, path: /models/m}
        replicas: 1
      """;
  @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = CLUSTER.client();
  }

  @AfterAll
  static void cleanUp() {
    client.resources(InferenceEndpoint.class).inNamespace(NS).withName("gitops").delete();
    client.resources(ImageCache.class).inNamespace(NS).withName("gitops").delete();
  }

  @Test
  @org.junit.jupiter.api.Order(1)
  void reconciledObjectsShowNoDriftFromTheirManifest() throws Exception {
    Cluster.deleteAndWait(client, InferenceEndpoint.class, NS, "gitops");
    Cluster.deleteAndWait(client, ImageCache.class, NS, "gitops");
    Cluster.applyYaml(client, MANIFEST, MANAGER);

    ImageCache cache =
        Cluster.await(
            "cache reconciled",
            () -> client.resources(ImageCache.class).inNamespace(NS).withName("gitops").get(),
            c ->
                c.getStatus() != null && Conditions.isTrue(c.getStatus().getConditions(), "Ready"));
    InferenceEndpoint ie =
        Cluster.await(
            "endpoint ready with a cold start recorded",
            () ->
                client.resources(InferenceEndpoint.class).inNamespace(NS).withName("gitops").get(),
            e ->
                e.getStatus() != null
                    && Conditions.isTrue(e.getStatus().getConditions(), "Ready")
                    && e.getStatus().getColdStart() != null);

    for (HasMetadata live : List.of(cache, ie)) {
      String id = live.getKind() + " " + live.getMetadata().getName();
      assertEquals(
          1L, live.getMetadata().getGeneration(), id + ": nobody but the applier changed the spec");
      for (ManagedFieldsEntry entry : live.getMetadata().getManagedFields()) {
        assertTrue(
            MANAGER.equals(entry.getManager()) || "status".equals(entry.getSubresource()),
            id
                + ": fields owned by "
                + entry.getManager()
                + " outside status: "
                + entry.getFieldsV1());
      }
    }
    // Argo CD's health checks read the live status as Healthy.
    for (HasMetadata live : List.of(cache, ie)) {
      var json = new com.fasterxml.jackson.databind.ObjectMapper().valueToTree(live);
      List<String> health =
          ArgoCdHealthE2E.runLua(
              Cluster.repoRoot().resolve("argocd/warmstart.dev/" + live.getKind() + "/health.lua"),
              json);
      assertEquals("Healthy", health.get(0), live.getKind() + " health: " + health);
      System.out.println("e2e: Argo CD health of the live " + live.getKind() + ": " + health);
    }
    // Argo CD's server-side diff: a dry-run apply of the manifest changes nothing on the live
    // objects.
    Path manifest = Files.createTempFile("gitops", ".yaml");
    Files.writeString(manifest, MANIFEST);
    String diff =
        Cluster.kubectl(
            "diff",
            "--server-side",
            "--field-manager=" + MANAGER,
            "--force-conflicts",
            "-f",
            manifest.toString());
    assertEquals("", diff.strip(), "kubectl diff shows drift");
    System.out.println(
        "e2e: kubectl diff --server-side: no drift after reconciliation; managers outside status: "
            + MANAGER
            + " only");
  }

  /**
   * The Grafana dashboard queries metrics this operator exports (scraped after the reconciliation
   * above).
   */
  @Test
  @org.junit.jupiter.api.Order(2)
  void dashboardQueriesExportedMetrics() throws Exception {
    var http = java.net.http.HttpClient.newHttpClient();
    String scrape =
        http.send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create(
                            "http://127.0.0.1:" + CLUSTER.operator().http().port() + "/metrics"))
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString())
            .body();
    java.util.Set<String> exported =
        scrape
            .lines()
            .filter(l -> !l.startsWith("#") && !l.isBlank())
            .map(l -> l.split("[{ ]", 2)[0])
            .collect(java.util.stream.Collectors.toSet());
    String dashboard =
        Files.readString(Cluster.repoRoot().resolve("charts/warmstart/dashboards/warmstart.json"));
    java.util.Set<String> queried = new java.util.TreeSet<>();
    var m =
        java.util.regex.Pattern.compile("\\b(warmstart_[a-z_]+|operator_sdk_[a-z_]+)\\b")
            .matcher(dashboard);
    while (m.find()) {
      queried.add(m.group(1));
    }
    assertTrue(queried.size() >= 10, "the dashboard queries the operator's metrics: " + queried);
    String sources;
    try (var files = Files.walk(Cluster.repoRoot().resolve("operator/src/main/java"))) {
      sources =
          files
              .filter(Files::isRegularFile)
              .map(
                  f -> {
                    try {
                      return Files.readString(f);
                    } catch (java.io.IOException e) {
                      throw new java.io.UncheckedIOException(e);
                    }
                  })
              .collect(java.util.stream.Collectors.joining("\n"));
    }
    for (String metric : queried) {
      if (EVENT_ONLY.containsKey(metric)) {
        String meter = EVENT_ONLY.get(metric);
        assertTrue(
            meter.startsWith("JOSDK") || sources.contains('"' + meter + '"'),
            metric + ": no meter " + meter);
      } else {
        assertTrue(exported.contains(metric), metric + " is not in /metrics: " + exported);
      }
    }
    System.out.println("e2e: dashboard queries " + queried.size() + " metrics, all exported");
  }
}
