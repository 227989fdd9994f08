package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.operator.OperatorCommand;
import dev.warmstart.status.Conditions;
import dev.warmstart.testing.Await;
import dev.warmstart.testing.Edits;
import dev.warmstart.testing.KubeApi;
import dev.warmstart.testing.Pods;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/**
 * The autoscaler against a real API server, with real HTTP metrics endpoints on loopback: the test
 * plays kubelet (pods Ready at 127.0.0.1) and the inference server (a /metrics fixture) or
 * Prometheus (an /api/v1/query fixture). No Deployment controller runs, so replicas are exactly
 * what the autoscaler wrote.
 */
class AutoscalerIT {
  private static KubernetesClient client;
  private static OperatorCommand.Running operator;
  private static HttpServer fixture;
  private static final AtomicReference<String> exposition =
      new AtomicReference<>("vllm:num_requests_waiting 0\n");
  private static final AtomicReference<String> queryAnswer = new AtomicReference<>();
  private static final AtomicReference<String> authorization = new AtomicReference<>();

  @BeforeAll
  static void start() throws Exception {
    client = KubeApi.client();
    fixture = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    fixture.createContext(
        "/metrics", ex -> respond(ex, "text/plain; version=0.0.4", exposition.get()));
    fixture.createContext(
        "/api/v1/query",
        ex -> {
          authorization.set(ex.getRequestHeaders().getFirst("Authorization"));
          respond(ex, "application/json", queryAnswer.get());
        });
    fixture.start();
    OperatorCommand command = new OperatorCommand();
    new CommandLine(command).parseArgs("--http-port=0", "--helper-image=warmstart/warmstart:it");
    operator = command.start(KubeApi.newClient());
  }

  private static void respond(com.sun.net.httpserver.HttpExchange ex, String type, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(200, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @AfterAll
  static void stop() {
    operator.close();
    fixture.stop(0);
    client.close();
  }

  @Test
  void scalesOnEachPodsQueueAndHoldsWhenTheExpositionBreaks() {
    String ns = KubeApi.newNamespace(client, "as");
    exposition.set(
        "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 2\n");
    client
        .resource(
            endpoint(
                ns,
                "llm",
                """
        minReplicas: 1
        maxReplicas: 6
        pollInterval: 1s
        metrics:
          - type: Pods
            pods:
              name: vllm:num_requests_waiting
              matchLabels: {model_name: m}
              port: %d
              target: {type: AverageValue, averageValue: "4"}
        """
                    .formatted(fixture.getAddress().getPort())))
        .create();
    Deployment deployment = Await.until(() -> deployment(ns, "llm"), d -> d != null);
    readyPod(deployment);
    // Below target with one replica at the minimum: stays at 1, and says it is reading the metric.
    InferenceEndpoint ie =
        Await.until(
            () -> get(ns, "llm"),
            e -> condition(e, Autoscaler.SCALING_ACTIVE).map(Condition::isTrue).orElse(false));
    assertEquals(1, ie.getStatus().getDesiredReplicas());
    assertEquals("2", ie.getStatus().getCurrentMetrics().get(0).getAverageValue());
    assertEquals(1, ie.getStatus().getCurrentMetrics().get(0).getPodsRead());

    // 12 waiting on the one ready pod, target 4 per pod: 3 replicas.
    exposition.set(
        "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 12\n");
    Await.until(() -> deployment(ns, "llm"), d -> d.getSpec().getReplicas() == 3);
    ie =
        Await.until(
            () -> get(ns, "llm"),
            e -> Integer.valueOf(3).equals(e.getStatus().getDesiredReplicas()));
    assertNotNull(ie.getStatus().getLastScaleTime());
    Event rescaled =
        Await.until(
            () ->
                client.events().v1().events().inNamespace(ns).list().getItems().stream()
                    .filter(e -> "Rescaled".equals(e.getReason()))
                    .findFirst()
                    .orElse(null),
            e -> e != null);
    assertTrue(rescaled.getNote().startsWith("New size: 3 (was 1)"), rescaled.getNote());

    // The two new replicas are still loading weights: the same queue asks for no more.
    sleepPolls(3);
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());

    // A spec change re-applies the Deployment: the autoscaler's count survives it.
    Edits.edit(
        client.resources(InferenceEndpoint.class).inNamespace(ns).withName("llm"),
        e -> {
          e.getSpec().setArgs(java.util.List.of("--model", "/models/m", "--max-num-seqs", "64"));
          return e;
        });
    Await.until(
        () -> deployment(ns, "llm"),
        d ->
            d.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getArgs()
                .contains("--max-num-seqs"));
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());

    // A broken exposition: a clear condition, and the count holds (never down to the minimum).
    exposition.set("vllm:num_requests_waiting{model_name=\"m\" 12\n");
    ie =
        Await.until(
            () -> get(ns, "llm"),
            e -> condition(e, Autoscaler.SCALING_ACTIVE).map(c -> !c.isTrue()).orElse(false));
    Condition active = condition(ie, Autoscaler.SCALING_ACTIVE).orElseThrow();
    assertEquals("FailedGetPodsMetric", active.getReason());
    assertTrue(active.getMessage().contains("malformed exposition"), active.getMessage());
    assertTrue(active.getMessage().contains("holding 3 replicas"), active.getMessage());
    sleepPolls(2);
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());
    // One Warning event for the failure, not one per poll.
    var warnings =
        client.events().v1().events().inNamespace(ns).list().getItems().stream()
            .filter(
                e -> "Warning".equals(e.getType()) && "FailedGetPodsMetric".equals(e.getReason()))
            .toList();
    assertEquals(1, warnings.size(), warnings.toString());

    // The decisions and reads are counted on the operator's /metrics.
    String metrics = scrapeOperator();
    assertTrue(
        metrics.contains(
            "warmstart_autoscale_decisions_total{endpoint=\"llm\",namespace=\""
                + ns
                + "\",outcome=\"up\"} 1.0"),
        metrics);
    assertTrue(
        metrics.contains(
            "warmstart_autoscale_metric_reads_total{endpoint=\"llm\",namespace=\""
                + ns
                + "\",outcome=\"MalformedExposition\",source=\"Pods\"}"),
        metrics);

    // NaN is no reading either.
    exposition.set("vllm:num_requests_waiting{model_name=\"m\"} NaN\n");
    Await.until(
        () -> get(ns, "llm"),
        e ->
            condition(e, Autoscaler.SCALING_ACTIVE)
                .map(c -> c.getMessage().contains("NaN"))
                .orElse(false));
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());
  }

  @Test
  void scalesOnAPrometheusQueryWithBearerTokenAndHoldsOnEmptyResults() {
    String ns = KubeApi.newNamespace(client, "as");
    client
        .resource(
            new SecretBuilder()
                .withNewMetadata()
                .withName("prom")
                .withNamespace(ns)
                .endMetadata()
                .addToStringData("token", "s3cret")
                .build())
        .create();
    queryAnswer.set(vector("30"));
    client
        .resource(
            endpoint(
                ns,
                "llm",
                """
        minReplicas: 1
        maxReplicas: 10
        pollInterval: 1s
        metrics:
          - type: Prometheus
            prometheus:
              address: http://127.0.0.1:%d
              query: sum(vllm:num_requests_waiting{namespace="%s"})
              authSecret: prom
              target: {type: AverageValue, averageValue: "10"}
        """
                    .formatted(fixture.getAddress().getPort(), ns)))
        .create();
    Await.until(() -> deployment(ns, "llm"), d -> d != null && d.getSpec().getReplicas() == 3);
    assertEquals("Bearer s3cret", authorization.get());
    InferenceEndpoint ie =
        Await.until(
            () -> get(ns, "llm"),
            e ->
                e.getStatus() != null
                    && !e.getStatus().getCurrentMetrics().isEmpty()
                    && "30".equals(e.getStatus().getCurrentMetrics().get(0).getValue()));
    assertEquals("Prometheus", ie.getStatus().getCurrentMetrics().get(0).getType());

    // Prometheus answers with no series (an outage of the scrape, a renamed metric): hold at 3.
    queryAnswer.set(vector());
    ie =
        Await.until(
            () -> get(ns, "llm"),
            e ->
                condition(e, Autoscaler.SCALING_ACTIVE)
                    .map(c -> "EmptyQueryResult".equals(c.getReason()))
                    .orElse(false));
    assertEquals("False", condition(ie, Autoscaler.SCALING_ACTIVE).orElseThrow().getStatus());
    sleepPolls(2);
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());

    // Several series: the user must aggregate.
    queryAnswer.set(vector("1", "2"));
    Await.until(
        () -> get(ns, "llm"),
        e ->
            condition(e, Autoscaler.SCALING_ACTIVE)
                .map(c -> "AmbiguousQueryResult".equals(c.getReason()))
                .orElse(false));
    assertEquals(3, deployment(ns, "llm").getSpec().getReplicas());

    // Back to a real answer above the maximum: capped and says so.
    queryAnswer.set(vector("500"));
    Await.until(() -> deployment(ns, "llm"), d -> d.getSpec().getReplicas() == 10);
    Await.until(
        () -> get(ns, "llm"),
        e ->
            condition(e, Autoscaler.SCALING_LIMITED)
                .map(c -> c.isTrue() && "TooManyReplicas".equals(c.getReason()))
                .orElse(false));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      zero average target   | 'minReplicas: 1, maxReplicas: 4, metrics: [{type: Pods, pods: {name: q, target: {type: AverageValue, averageValue: "0"}}}]' | averageValue must be a quantity greater than zero
      negative value target | 'minReplicas: 1, maxReplicas: 4, metrics: [{type: Pods, pods: {name: q, target: {type: Value, value: "-1"}}}]'                 | value must be a quantity greater than zero
      min above max         | 'minReplicas: 5, maxReplicas: 4, metrics: [{type: Pods, pods: {name: q, target: {type: AverageValue, averageValue: "4"}}}]' | minReplicas must not exceed maxReplicas
      no metrics            | 'minReplicas: 1, maxReplicas: 4, metrics: []'                                                                                 | spec.autoscaling.metrics: Required value
      """)
  void badAutoscalingIsRejectedAtAdmission(String what, String autoscaling, String message) {
    String ns = KubeApi.newNamespace(client, "as");
    KubernetesClientException e =
        assertThrows(
            KubernetesClientException.class,
            () -> client.resource(endpoint(ns, "bad", "{" + autoscaling + "}")).dryRun().create(),
            what);
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void fractionalTargetsAreAccepted() {
    String ns = KubeApi.newNamespace(client, "as");
    client
        .resource(
            endpoint(
                ns,
                "kv",
                "{maxReplicas: 4, metrics: [{type: Pods, pods: {name: vllm:kv_cache_usage_perc, "
                    + "target: {type: AverageValue, averageValue: 800m}}}]}"))
        .dryRun()
        .create();
  }

  private static String vector(String... values) {
    StringBuilder result = new StringBuilder();
    for (int i = 0; i < values.length; i++) {
      result
          .append(i == 0 ? "" : ",")
          .append("{\"metric\":{\"i\":\"")
          .append(i)
          .append("\"},\"value\":[")
          .append(Instant.now().getEpochSecond())
          .append(",\"")
          .append(values[i])
          .append("\"]}");
    }
    return "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
        + result
        + "]}}";
  }

  /** A serving pod as the kubelet reports it once its server answers, reachable on loopback. */
  private static void readyPod(Deployment deployment) {
    Pod pod =
        client
            .resource(Pods.fromTemplate(deployment, deployment.getSpec().getTemplate(), "gpu-1"))
            .create();
    pod.setStatus(
        new PodStatusBuilder()
            .withPhase("Running")
            .withPodIP("127.0.0.1")
            .withConditions(
                new PodConditionBuilder()
                    .withType("Ready")
                    .withStatus("True")
                    .withLastTransitionTime(Instant.now().toString())
                    .build())
            .build());
    client.resource(pod).updateStatus();
  }

  private static String scrapeOperator() {
    try {
      return java.net.http.HttpClient.newHttpClient()
          .send(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create(
                          "http://127.0.0.1:" + operator.http().port() + "/metrics"))
                  .build(),
              java.net.http.HttpResponse.BodyHandlers.ofString())
          .body();
    } catch (IOException | InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  private static void sleepPolls(int polls) {
    try {
      Thread.sleep(polls * 1000L + 500);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static java.util.Optional<Condition> condition(InferenceEndpoint e, String type) {
    return e == null || e.getStatus() == null
        ? java.util.Optional.empty()
        : Conditions.find(e.getStatus().getConditions(), type);
  }

  private static Deployment deployment(String ns, String name) {
    return client.apps().deployments().inNamespace(ns).withName(name).get();
  }

  private static InferenceEndpoint get(String ns, String name) {
    return client.resources(InferenceEndpoint.class).inNamespace(ns).withName(name).get();
  }

  private static InferenceEndpoint endpoint(String ns, String name, String autoscaling) {
    String yaml =
        """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: %s, namespace: %s}
        spec:
          image: vllm/vllm-openai:v0.11.0
          args: [--model, /models/m]
          imageCache: {enabled: false}
          autoscaling:
        %s
        """
            .formatted(name, ns, autoscaling.indent(4));
    return client
        .getKubernetesSerialization()
        .unmarshal(
            new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)),
            InferenceEndpoint.class);
  }
}
