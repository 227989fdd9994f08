package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The installed chart's RBAC is exactly what the operator uses. The operator runs as the chart's
 * ServiceAccount (impersonated, see {@link Cluster#operatorClient}) through every path that needs a
 * permission, and every call is recorded: a refused call means a rule is missing, a granted verb
 * that no call used means a rule is wider than the code needs. Both fail.
 */
class RbacE2E {
  private static final String LEASE = "warmstart-operator";

  /**
   * Granted permissions that this scenario does not reach, each with the reason; list a permission
   * here only when no test can reach it, and say why.
   */
  private static final java.util.Map<String, String> NOT_EXERCISED =
      java.util.Map.of(
          "update coordination.k8s.io/leases",
          "fabric8's LeaseLock renews with patch, but JOSDK's start-up check "
              + "(LeaderElectionManager.checkLeaseAccess, a SelfSubjectRulesReview) refuses to start without update");

  /**
   * What every authenticated user may do (the default system:basic-user role), not the chart's
   * business.
   */
  private static final Set<String> ALWAYS_ALLOWED =
      Set.of(
          "create authorization.k8s.io/selfsubjectrulesreviews",
          "create authorization.k8s.io/selfsubjectaccessreviews",
          "create authentication.k8s.io/selfsubjectreviews");

  private static KubernetesClient admin;

  @BeforeAll
  static void start() throws Exception {
    admin = Cluster.client();
    Cluster.applyCrds(admin);
  }

  /** The release watching all namespaces: its ClusterRole bound cluster-wide. */
  @Test
  void chartGrantsExactlyWhatTheOperatorUses() throws Exception {
    String[] sa =
        Cluster.serviceAccount()
            .orElseThrow(
                () ->
                    new IllegalStateException(
                        "WARMSTART_E2E_SERVICE_ACCOUNT is not set: run through e2e/test.sh, which installs the chart first"));
    check(sa, "e2e-rbac", List.of());
  }

  /** A release with watchNamespaces: the same rules, bound only in the watched namespace. */
  @Test
  void watchNamespacesReleaseGrantsExactlyWhatTheOperatorUses() throws Exception {
    String env = System.getenv("WARMSTART_E2E_NAMESPACED_SERVICE_ACCOUNT");
    if (env == null || !env.contains(":")) {
      throw new IllegalStateException(
          "WARMSTART_E2E_NAMESPACED_SERVICE_ACCOUNT (namespace:name) is not set: "
              + "run through e2e/test.sh, which installs a release watching e2e-rbac-ns");
    }
    check(env.split(":", 2), "e2e-rbac-ns", List.of("--namespaces=e2e-rbac-ns"));
  }

  @AfterAll
  static void stop() {
    admin.close();
  }

  private static void check(String[] sa, String ns, List<String> operatorArgs) throws Exception {
    Cluster.applyYaml(
        admin,
        """
        apiVersion: v1
        kind: Namespace
        metadata: {name: %1$s}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: registry-pull, namespace: %1$s}
        type: Opaque
        """
            .formatted(ns),
        "e2e");
    Cluster.deleteAndWait(admin, InferenceEndpoint.class, ns, "rbac");
    Cluster.deleteAndWait(admin, InferenceEndpoint.class, ns, "rbac-warm");
    Cluster.deleteAndWait(admin, ImageCache.class, ns, "rbac");
    // The operator must create the Lease, not only renew one that an earlier test left.
    admin.leases().inNamespace(sa[0]).withName(LEASE).delete();
    Cluster.await(
        "old Lease gone",
        () -> admin.leases().inNamespace(sa[0]).withName(LEASE).get() == null,
        gone -> gone);

    // The impersonation works: the ServiceAccount may not list Secrets, which the admin may.
    try (KubernetesClient asOperator =
        Cluster.operatorClient(new ApiCalls(), java.util.Optional.of(sa))) {
      KubernetesClientException e =
          assertThrows(
              KubernetesClientException.class, () -> asOperator.secrets().inNamespace(ns).list());
      assertEquals(403, e.getCode());
    }

    ApiCalls calls = new ApiCalls();
    try {
      exercise(calls, sa, ns, operatorArgs);
    } catch (AssertionError e) {
      // A missing rule shows first as an object that never gets ready: name the refused calls.
      assertEquals(
          Set.of(), calls.refused(), "calls the chart's RBAC refused (" + e.getMessage() + ")");
      throw e;
    }
    admin.resources(InferenceEndpoint.class).inNamespace(ns).withName("rbac").delete();
    admin.resources(ImageCache.class).inNamespace(ns).withName("rbac").delete();

    assertEquals(Set.of(), calls.refused(), "calls the chart's RBAC refused: a rule is missing");
    SortedSet<String> granted = granted(sa);
    SortedSet<String> used =
        calls.used().stream().map(Object::toString).collect(Collectors.toCollection(TreeSet::new));
    System.out.println("e2e: operator used " + used);
    SortedSet<String> unused = new TreeSet<>(granted);
    unused.removeAll(used);
    unused.removeAll(NOT_EXERCISED.keySet());
    assertEquals(
        Set.of(),
        unused,
        "granted but never used: narrow the chart's rules (charts/warmstart/templates/rbac.yaml)");
    SortedSet<String> ungranted = new TreeSet<>(used);
    ungranted.removeAll(granted);
    ungranted.removeAll(ALWAYS_ALLOWED);
    assertTrue(
        granted.containsAll(NOT_EXERCISED.keySet()),
        "NOT_EXERCISED lists a permission the chart no longer grants");
    assertEquals(Set.of(), ungranted, "used but not granted by the chart");
  }

  /** Every path that needs a permission: create, change and delete what the operator owns; lead. */
  private static void exercise(ApiCalls calls, String[] sa, String ns, List<String> operatorArgs)
      throws Exception {
    List<String> args = new java.util.ArrayList<>(operatorArgs);
    args.add("--warm-placement-timeout-seconds=3");
    try (var running = Cluster.startOperator(calls, java.util.Optional.of(sa), args)) {
      assertTrue(running.operator().getRuntimeInfo().isStarted());
      // ImageCache with a pull secret: DaemonSet created, secret looked up, status and events
      // written.
      Cluster.applyYaml(admin, imageCache(ns, "vllm/vllm-openai:v0.11.0"), "e2e");
      Cluster.await(
          "cache ready",
          () -> admin.resources(ImageCache.class).inNamespace(ns).withName("rbac").get(),
          c -> c.getStatus() != null && Conditions.isTrue(c.getStatus().getConditions(), "Ready"));
      // A spec change patches the DaemonSet.
      Cluster.applyYaml(admin, imageCache(ns, "vllm/vllm-openai:v0.11.1"), "e2e");
      Cluster.await(
          "DaemonSet patched",
          () ->
              admin
                  .apps()
                  .daemonSets()
                  .inNamespace(ns)
                  .withLabel("app.kubernetes.io/managed-by", "warmstart")
                  .list()
                  .getItems(),
          l ->
              l.stream()
                  .anyMatch(
                      d ->
                          d.getSpec().getTemplate().getSpec().getContainers().stream()
                              .anyMatch(c -> c.getImage().endsWith("v0.11.1"))));

      // An endpoint: Deployment, Service and ImageCache created; then patched; then its cache
      // deleted.
      Cluster.applyYaml(admin, endpoint(ns, "vllm/vllm-openai:v0.11.0", 8000, true), "e2e");
      Cluster.await(
          "endpoint ready",
          () -> admin.resources(InferenceEndpoint.class).inNamespace(ns).withName("rbac").get(),
          e -> e.getStatus() != null && Conditions.isTrue(e.getStatus().getConditions(), "Ready"));
      Cluster.applyYaml(admin, endpoint(ns, "vllm/vllm-openai:v0.11.1", 8001, true), "e2e");
      Cluster.await(
          "service and cache patched",
          () ->
              List.of(
                  admin
                          .services()
                          .inNamespace(ns)
                          .withName("rbac")
                          .get()
                          .getSpec()
                          .getPorts()
                          .get(0)
                          .getPort()
                      == 8001,
                  admin
                      .resources(ImageCache.class)
                      .inNamespace(ns)
                      .withName("rbac-serving-image")
                      .get()
                      .getSpec()
                      .getImages()
                      .contains("vllm/vllm-openai:v0.11.1")),
          done -> !done.contains(false));
      Cluster.applyYaml(admin, endpoint(ns, "vllm/vllm-openai:v0.11.1", 8001, false), "e2e");
      Cluster.await(
          "endpoint's cache deleted",
          () ->
              admin.resources(ImageCache.class).inNamespace(ns).withName("rbac-serving-image").get()
                  == null,
          gone -> gone);
      // Its GPU is needed below: the warm pool takes up to three of the pool's four.
      admin.resources(InferenceEndpoint.class).inNamespace(ns).withName("rbac").delete();
      warmPool(ns);
      // The leader renews its Lease every 2 s.
      Cluster.await(
          "Lease renewed",
          () ->
              calls.used().stream()
                  .anyMatch(p -> p.toString().equals("patch coordination.k8s.io/leases")),
          renewed -> renewed);
    }
  }

  /**
   * A warm pool: its PriorityClass looked up, the placeholders' Deployment created; a new replica's
   * scheduling gate lifted (pods patch); a replica sent to a warm node it cannot reach (cordoned)
   * deleted after the placement timeout; the pool removed (deployments delete).
   */
  private static void warmPool(String ns) {
    try {
      exerciseWarmPool(ns);
    } finally {
      admin.resources(InferenceEndpoint.class).inNamespace(ns).withName("rbac-warm").delete();
    }
  }

  private static void exerciseWarmPool(String ns) {
    Cluster.applyYaml(admin, warmEndpoint(ns, 1, true), "e2e");
    String node =
        // The first replica may take the first warm node (placement depends on timing) and the
        // placeholder move on: wait until both have settled, the replica Ready and a node warm, in
        // one status, so that the node cordoned below is the placeholder's and not the replica's.
        Cluster.await(
                "the replica ready and a node warm",
                () ->
                    admin
                        .resources(InferenceEndpoint.class)
                        .inNamespace(ns)
                        .withName("rbac-warm")
                        .get(),
                e ->
                    e.getStatus() != null
                        && Integer.valueOf(1).equals(e.getStatus().getReadyReplicas())
                        && e.getStatus().getWarmPool() != null
                        && e.getStatus().getWarmPool().getReady() == 1)
            .getStatus()
            .getWarmPool()
            .getNodes()
            .get(0);
    admin
        .nodes()
        .withName(node)
        .edit(
            n -> {
              n.getSpec().setUnschedulable(true);
              return n;
            });
    try {
      // Events of an earlier run stay for an hour: only one from now on counts.
      java.time.Instant since =
          java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
      Cluster.applyYaml(admin, warmEndpoint(ns, 2, true), "e2e");
      Cluster.await(
          "the replica that could not reach its warm node recreated",
          () ->
              admin
                  .resources(io.fabric8.kubernetes.api.model.events.v1.Event.class)
                  .inNamespace(ns)
                  .list()
                  .getItems(),
          events ->
              events.stream()
                  .anyMatch(
                      e ->
                          "WarmNodeUnreachable".equals(e.getReason())
                              && !java.time.Instant.parse(e.getMetadata().getCreationTimestamp())
                                  .isBefore(since)));
    } finally {
      admin
          .nodes()
          .withName(node)
          .edit(
              n -> {
                n.getSpec().setUnschedulable(null);
                return n;
              });
    }
    Cluster.applyYaml(admin, warmEndpoint(ns, 2, false), "e2e");
    Cluster.await(
        "the warm pool removed",
        () ->
            admin.apps().deployments().inNamespace(ns).withName("rbac-warm-warm-pool").get()
                == null,
        gone -> gone);
  }

  private static String warmEndpoint(String ns, int replicas, boolean warmPool) {
    return """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: rbac-warm, namespace: %s}
        spec:
          image: vllm/vllm-openai:v0.11.0
          replicas: %d
          resources: {limits: {nvidia.com/gpu: 1}}
          nodeSelector: {karpenter.sh/nodepool: gpu}
          tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
          model: {uri: s3://models/rbac/, path: /models/rbac, nodeCache: {enabled: true}}
        """
            .formatted(ns, replicas)
        + (warmPool ? "  warmPool: {replicas: 1}\n" : "");
  }

  /**
   * Every verb on every resource the chart grants its ServiceAccount, from the installed objects.
   */
  private static SortedSet<String> granted(String[] sa) {
    List<PolicyRule> rules = new java.util.ArrayList<>();
    // RoleBindings anywhere: the leader-election Role, and with watchNamespaces the ClusterRole
    // bound in each.
    admin.rbac().roleBindings().inAnyNamespace().list().getItems().stream()
        .filter(
            b ->
                b.getSubjects() != null
                    && b.getSubjects().stream()
                        .anyMatch(s -> sa[1].equals(s.getName()) && sa[0].equals(s.getNamespace())))
        .forEach(
            b ->
                rules.addAll(
                    "Role".equals(b.getRoleRef().getKind())
                        ? admin
                            .rbac()
                            .roles()
                            .inNamespace(b.getMetadata().getNamespace())
                            .withName(b.getRoleRef().getName())
                            .get()
                            .getRules()
                        : admin
                            .rbac()
                            .clusterRoles()
                            .withName(b.getRoleRef().getName())
                            .get()
                            .getRules()));
    admin.rbac().clusterRoleBindings().list().getItems().stream()
        .filter(
            b ->
                b.getSubjects() != null
                    && b.getSubjects().stream()
                        .anyMatch(s -> sa[1].equals(s.getName()) && sa[0].equals(s.getNamespace())))
        .forEach(
            b ->
                rules.addAll(
                    admin
                        .rbac()
                        .clusterRoles()
                        .withName(b.getRoleRef().getName())
                        .get()
                        .getRules()));
    assertTrue(rules.size() > 1, "the chart's ClusterRole is bound to " + String.join(":", sa));
    SortedSet<String> granted = new TreeSet<>();
    for (PolicyRule rule : rules) {
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          for (String verb : rule.getVerbs()) {
            assertTrue(
                !group.equals("*") && !resource.equals("*") && !verb.equals("*"),
                "wildcard in " + rule);
            granted.add(new ApiCalls.Permission(verb, group, resource).toString());
          }
        }
      }
    }
    return granted;
  }

  private static String imageCache(String ns, String image) {
    return """
        apiVersion: warmstart.dev/v1alpha1
        kind: ImageCache
        metadata: {name: rbac, namespace: %s}
        spec:
          images: [%s]
          nodeSelector: {karpenter.sh/nodepool: gpu}
          tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
          imagePullSecrets: [{name: registry-pull}]
        """
        .formatted(ns, image);
  }

  private static String endpoint(String ns, String image, int port, boolean cache) {
    return """
        apiVersion: warmstart.dev/v1alpha1
        kind: InferenceEndpoint
        metadata: {name: rbac, namespace: %s}
        spec:
          image: %s
          port: %d
          resources: {limits: {nvidia.com/gpu: 1}}
          nodeSelector: {karpenter.sh/nodepool: gpu}
          tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
          model: {uri: s3://models/rbac/, path: /models/rbac}
          imageCache: {enabled: %s}
        """
        .formatted(ns, image, port, cache);
  }
}
