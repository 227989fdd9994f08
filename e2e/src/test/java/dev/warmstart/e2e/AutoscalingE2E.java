package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.kube.Labels;
import dev.warmstart.operator.OperatorCommand;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * spec.autoscaling on the local cluster with a real Prometheus (Debian's, installed by
 * e2e/tools.sh) scraping a load-driven vLLM-style /metrics fixture every second on loopback. The
 * real Deployment controller creates the replicas the autoscaler asks for; KWOK walks them through
 * their cold start. Then Prometheus goes away, and the endpoint must keep its replicas.
 */
class AutoscalingE2E {
  private static final String NS = "autoscale-e2e";
  private static final String NAME = "llm";
  private static final AtomicInteger waiting = new AtomicInteger();
  private static KubernetesClient client;
  private static OperatorCommand.Running operator;
  private static HttpServer fixture;
  private static Process prometheus;
  private static Path tsdb;
  private static int prometheusPort;

  @BeforeAll
  static void start() throws Exception {
    client = Cluster.client();
    Cluster.applyCrds(client);
    client.namespaces().withName(NS).delete();
    client.namespaces().withName(NS).waitUntilCondition(n -> n == null, 60, TimeUnit.SECONDS);
    client
        .resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build())
        .create();

    fixture = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    fixture.createContext(
        "/metrics",
        ex -> {
          byte[] body =
              ("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"llm\"} "
                      + waiting.get()
                      + ".0\n")
                  .getBytes(StandardCharsets.UTF_8);
          ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
          ex.sendResponseHeaders(200, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        });
    fixture.start();
    startPrometheus();
    operator = Cluster.startOperator();
  }

  private static void startPrometheus() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      prometheusPort = s.getLocalPort();
    }
    tsdb = Files.createTempDirectory("autoscale-e2e-prometheus");
    Path config = tsdb.resolve("prometheus.yml");
    Files.writeString(
        config,
        """
        global: {scrape_interval: 1s, scrape_timeout: 900ms}
        scrape_configs:
          - job_name: autoscale-e2e
            static_configs: [{targets: ['127.0.0.1:%d']}]
        """
            .formatted(fixture.getAddress().getPort()));
    prometheus =
        new ProcessBuilder(
                "prometheus",
                "--config.file=" + config,
                "--storage.tsdb.path=" + tsdb.resolve("data"),
                "--web.listen-address=127.0.0.1:" + prometheusPort)
            .redirectErrorStream(true)
            .redirectOutput(tsdb.resolve("prometheus.log").toFile())
            .start();
    HttpClient http = HttpClient.newHttpClient();
    Cluster.await(
        "Prometheus scraping the fixture",
        () -> {
          try {
            return http.send(
                    HttpRequest.newBuilder(
                            URI.create(
                                "http://127.0.0.1:"
                                    + prometheusPort
                                    + "/api/v1/query?query=vllm:num_requests_waiting"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body();
          } catch (IOException e) {
            return "";
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
        },
        body -> body.contains("\"result\":[{"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (operator != null) {
      operator.close();
    }
    if (prometheus != null) {
      prometheus.destroy();
      prometheus.waitFor(10, TimeUnit.SECONDS);
    }
    if (fixture != null) {
      fixture.stop(0);
    }
    client.namespaces().withName(NS).delete();
    client.close();
    if (tsdb != null) {
      try (var files = Files.walk(tsdb)) {
        files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
      }
    }
  }

  @Test
  void followsTheQueueThroughPrometheusAndHoldsWhenPrometheusGoesAway() throws Exception {
    waiting.set(0);
    client.resource(newEndpoint()).create();
    Cluster.await(
        "the endpoint at its minimum",
        AutoscalingE2E::endpoint,
        e ->
            e != null
                && e.getStatus() != null
                && Integer.valueOf(1).equals(e.getStatus().getReadyReplicas())
                && condition(e, Autoscaler.SCALING_ACTIVE).map(Condition::isTrue).orElse(false));

    // 12 requests waiting, 4 per replica: 3 replicas, created by the Deployment controller.
    waiting.set(12);
    Cluster.await(
        "3 replicas asked for", AutoscalingE2E::deployment, d -> d.getSpec().getReplicas() == 3);
    InferenceEndpoint ie =
        Cluster.await(
            "3 replicas ready",
            AutoscalingE2E::endpoint,
            e -> Integer.valueOf(3).equals(e.getStatus().getReadyReplicas()));
    assertEquals(3, ie.getStatus().getDesiredReplicas());
    assertEquals("12", ie.getStatus().getCurrentMetrics().get(0).getValue());
    assertTrue(
        client.events().v1().events().inNamespace(NS).list().getItems().stream()
            .anyMatch(
                e -> "Rescaled".equals(e.getReason()) && e.getNote().startsWith("New size: 3")));

    // The queue drains: back down (the example has no scale-down window).
    waiting.set(2);
    Cluster.await(
        "scaled down to 1", AutoscalingE2E::deployment, d -> d.getSpec().getReplicas() == 1);
    waiting.set(20);
    Cluster.await(
        "5 replicas asked for", AutoscalingE2E::deployment, d -> d.getSpec().getReplicas() == 5);

    // Prometheus goes away at peak: the endpoint keeps its 5 replicas and says why.
    prometheus.destroy();
    prometheus.waitFor(10, TimeUnit.SECONDS);
    ie =
        Cluster.await(
            "the outage reported",
            AutoscalingE2E::endpoint,
            e -> condition(e, Autoscaler.SCALING_ACTIVE).map(c -> !c.isTrue()).orElse(false));
    Condition active = condition(ie, Autoscaler.SCALING_ACTIVE).orElseThrow();
    assertEquals("FailedPrometheusQuery", active.getReason());
    assertTrue(active.getMessage().contains("holding 5 replicas"), active.getMessage());
    Thread.sleep(3000);
    assertEquals(5, deployment().getSpec().getReplicas());
    assertEquals(5, servingPods().size());
    System.out.println(
        Cluster.kubectl(
            "get",
            "ie",
            NAME,
            "-n",
            NS,
            "-o",
            "jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{\"\\n\"}{end}"));
  }

  private static InferenceEndpoint newEndpoint() {
    String yaml =
        """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: %s, namespace: %s}
        spec:
          image: vllm/vllm-openai:v0.11.0
          args: [--model, /models/llm]
          imageCache: {enabled: false}
          autoscaling:
            minReplicas: 1
            maxReplicas: 6
            pollInterval: 1s
            metrics:
              - type: Prometheus
                prometheus:
                  address: http://127.0.0.1:%d
                  query: sum(vllm:num_requests_waiting{job="autoscale-e2e"})
                  target: {type: AverageValue, averageValue: "4"}
            behavior:
              scaleDown: {stabilizationWindowSeconds: 0}
        """
            .formatted(NAME, NS, prometheusPort);
    return client
        .getKubernetesSerialization()
        .unmarshal(
            new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)),
            InferenceEndpoint.class);
  }

  private static java.util.Optional<Condition> condition(InferenceEndpoint e, String type) {
    return e == null || e.getStatus() == null
        ? java.util.Optional.empty()
        : Conditions.find(e.getStatus().getConditions(), type);
  }

  private static InferenceEndpoint endpoint() {
    return client.resources(InferenceEndpoint.class).inNamespace(NS).withName(NAME).get();
  }

  private static Deployment deployment() {
    return client.apps().deployments().inNamespace(NS).withName(NAME).get();
  }

  private static List<Pod> servingPods() {
    return client
        .pods()
        .inNamespace(NS)
        .withLabel(Labels.COMPONENT, Labels.COMPONENT_SERVER)
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }
}
