package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.autoscale.Autoscaler;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.events.v1.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * spec.autoscaling from the Pods metric source on real nodes: the operator (a pod on a real node)
 * scrapes every ready model-server's /metrics over the pod network every second, and the requests
 * each server really has in flight ({@code vllm:num_requests_running}) come from a load generator
 * pod sending completions through the endpoint's Service. Up under load, down once it stops. The
 * replicas take no GPU (the two real nodes have one each) so that three of them fit.
 */
@Tag("real-node")
class AutoscalingRealNodeE2E {
  private static final Duration SCALE = Duration.ofMinutes(3);
  private static KubernetesClient client;

  @BeforeAll
  static void start() {
    client = RealNodes.prepare();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.pods().inNamespace(RealNodes.NAMESPACE).withLabel(RealNodes.TEST_POD).delete();
      client.resources(InferenceEndpoint.class).inNamespace(RealNodes.NAMESPACE).delete();
      client.close();
    }
  }

  @Test
  void scalesUpUnderRealLoadAndDownAfterIt() {
    // 16 tokens at 100 ms each: a request runs 1.6 s; at most 4 run at once per server, the rest
    // wait.
    RealEndpoint llm =
        RealEndpoint.named("scaled")
            .withoutGpu()
            .with(
                "args",
                "["
                    + RealEndpoint.MODEL_PATH
                    + ", --token-delay-ms, \"100\", --max-num-seqs, \"4\"]")
            .with(
                "autoscaling",
                """
            {minReplicas: 1, maxReplicas: 3, pollInterval: 1s,
                metrics: [{type: Pods, pods: {name: "vllm:num_requests_running",
                  target: {type: AverageValue, averageValue: "2"}}}],
                behavior: {scaleDown: {stabilizationWindowSeconds: 5}}}""");
    try {
      llm.apply(client);
      RealNodes.await(
          "one replica, reading its metric",
          SCALE,
          () -> llm.get(client),
          e ->
              RealEndpoint.readyReplicas(e) == 1
                  && RealEndpoint.is(e, Autoscaler.SCALING_ACTIVE, "True", "ValidMetricFound"));

      // 8 in flight: 4 running on one server, twice the target; then spread over the replicas as
      // they come.
      String load =
          RealNodes.startLoad(
              client, "scaled-load", llm.get(client).getStatus().getUrl(), 8, "150s");
      InferenceEndpoint ie =
          RealNodes.await(
              "3 replicas ready under load",
              SCALE,
              () -> llm.get(client),
              e -> RealEndpoint.readyReplicas(e) == 3);
      assertEquals(3, ie.getStatus().getDesiredReplicas());
      var metric = ie.getStatus().getCurrentMetrics().get(0);
      System.out.println(
          "real-node e2e: under load: "
              + metric.getMetric()
              + " = "
              + metric.getValue()
              + " (average "
              + metric.getAverageValue()
              + " over "
              + metric.getPodsRead()
              + " pods)");
      assertTrue(
          client.resources(Event.class).inNamespace(RealNodes.NAMESPACE).list().getItems().stream()
              .anyMatch(
                  e -> "Rescaled".equals(e.getReason()) && e.getNote().startsWith("New size: 3")));
      RealNodes.await(
          "all 3 serving",
          Duration.ofMinutes(1),
          () -> llm.get(client),
          e ->
              e.getStatus().getCurrentMetrics().get(0).getPodsRead() == 3
                  && Double.parseDouble(e.getStatus().getCurrentMetrics().get(0).getValue()) > 0);

      String out = client.pods().inNamespace(RealNodes.NAMESPACE).withName(load).getLog();
      String last = out.strip().lines().reduce((a, b) -> b).orElse("");
      assertTrue(
          last.matches("load: .* ok=[1-9][0-9]* .*"),
          "completions answered through the Service: " + out);

      // The load stops: nothing runs, back to the minimum after the 5 s window.
      client.pods().inNamespace(RealNodes.NAMESPACE).withName(load).delete();
      RealNodes.await(
          "scaled back down to 1",
          SCALE,
          AutoscalingRealNodeE2E::deployment,
          d -> d.getSpec().getReplicas() == 1);
      ie =
          RealNodes.await(
              "1 replica", SCALE, () -> llm.get(client), e -> e.getStatus().getReplicas() == 1);
      assertEquals(1, ie.getStatus().getDesiredReplicas());
      assertEquals("0", ie.getStatus().getCurrentMetrics().get(0).getValue());
      System.out.println(
          Cluster.kubectl(
              "get",
              "ie",
              "scaled",
              "-n",
              RealNodes.NAMESPACE,
              "-o",
              "jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{\"\\n\"}{end}"));
    } catch (Exception e) {
      throw new AssertionError(e);
    } finally {
      RealNodes.deleteEndpoint(client, "scaled");
    }
  }

  private static Deployment deployment() {
    return client.apps().deployments().inNamespace(RealNodes.NAMESPACE).withName("scaled").get();
  }
}
