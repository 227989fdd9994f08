package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.WarmPool;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.ReconcileResult.Operation;
import io.javaoperatorsdk.operator.api.reconciler.dependent.managed.DefaultManagedWorkflowAndDependentResourceContext;
import java.lang.reflect.Proxy;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient
class PlaceholderPriorityClassTest {
  static final String PATH = "/apis/scheduling.k8s.io/v1/priorityclasses";
  static final Instant T0 = Instant.parse("2025-06-01T10:00:00Z");

  KubernetesMockServer server;
  KubernetesClient client;

  /**
   * The two things the dependent takes from a reconciliation's context: the client and the clock.
   */
  @SuppressWarnings("unchecked")
  Context<InferenceEndpoint> context(Instant now) {
    var managed =
        new DefaultManagedWorkflowAndDependentResourceContext<InferenceEndpoint>(null, null, null);
    Context<InferenceEndpoint> context =
        (Context<InferenceEndpoint>)
            Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {Context.class},
                (proxy, method, args) ->
                    switch (method.getName()) {
                      case "getClient" -> client;
                      case "managedWorkflowAndDependentResourceContext" -> managed;
                      default -> throw new UnsupportedOperationException(method.getName());
                    });
    EndpointDependents.provide(
        context, new EndpointDependents.Inputs(null, Clock.fixed(now, ZoneOffset.UTC)));
    return context;
  }

  @Test
  void createdWhenMissingThenTrustedForAWhile() throws Exception {
    server
        .expect()
        .get()
        .withPath(PATH + "/" + WarmPool.PRIORITY_CLASS)
        .andReturn(404, null)
        .once();
    server.expect().post().withPath(PATH).andReturn(201, PlaceholderPriorityClass.desired()).once();
    server
        .expect()
        .get()
        .withPath(PATH + "/" + WarmPool.PRIORITY_CLASS)
        .andReturn(200, PlaceholderPriorityClass.desired())
        .once();
    var dependent = new PlaceholderPriorityClass();
    InferenceEndpoint ie = qwen();

    assertEquals(Operation.CREATED, dependent.reconcile(ie, context(T0)).getSingleOperation());
    String created = server.getLastRequest().getBody().readUtf8();
    assertTrue(
        created.contains("\"value\":-10") && created.contains("\"preemptionPolicy\":\"Never\""),
        created);
    int requests = server.getRequestCount();
    dependent.reconcile(ie, context(T0.plus(PlaceholderPriorityClass.TRUSTED_FOR).minusSeconds(1)));
    assertEquals(requests, server.getRequestCount(), "seen lately: not read again");
    dependent.reconcile(ie, context(T0.plus(PlaceholderPriorityClass.TRUSTED_FOR)));
    assertEquals(
        requests + 1,
        server.getRequestCount(),
        "read again after a while: a deleted class comes back");
  }

  @Test
  void aClassTheOperatorMayNotReadOrCreateIsAProblemToReport() {
    server
        .expect()
        .get()
        .withPath(PATH + "/" + WarmPool.PRIORITY_CLASS)
        .andReturn(403, null)
        .once();
    var problem =
        assertThrows(
            PlaceholderPriorityClass.Unavailable.class,
            () -> new PlaceholderPriorityClass().reconcile(qwen(), context(T0)));
    assertTrue(
        problem
            .getMessage()
            .startsWith(
                "PriorityClass warmstart-warm-pool is missing and the operator could "
                    + "not create it (HTTP 403): install the chart's, or run kubectl create priorityclass warmstart-warm-pool"
                    + " --value=-10 --preemption-policy=Never"),
        problem.getMessage());
  }

  @Test
  void createdMeanwhileBySomeoneElseIsPresent() {
    server
        .expect()
        .get()
        .withPath(PATH + "/" + WarmPool.PRIORITY_CLASS)
        .andReturn(404, null)
        .once();
    server.expect().post().withPath(PATH).andReturn(409, null).once();
    var dependent = new PlaceholderPriorityClass();
    dependent.reconcile(qwen(), context(T0)); // no Unavailable: the class exists
    int requests = server.getRequestCount();
    dependent.reconcile(qwen(), context(T0.plusSeconds(1)));
    assertEquals(requests, server.getRequestCount());
  }
}
