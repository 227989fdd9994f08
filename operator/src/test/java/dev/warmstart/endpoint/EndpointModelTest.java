package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.HELPERS;
import static dev.warmstart.endpoint.ServingPods.VLLM;
import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec.NodeCache;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rules of what an InferenceEndpoint becomes that hold for every input (security, names,
 * probes, variable order) and the input variants no scenario spells out; each scenario's exact
 * objects are {@link EndpointGoldenTest}'s.
 */
class EndpointModelTest {
  private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

  /** What a Service's name must be: a DNS-1035 label (it starts with a letter). */
  private static final Pattern DNS1035_LABEL = Pattern.compile("[a-z]([-a-z0-9]*[a-z0-9])?");

  private static final Pattern LABEL_VALUE =
      Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");

  // ---------------------------------------------------------------- fixtures

  static InferenceEndpoint endpoint(String name) {
    InferenceEndpoint ie = new InferenceEndpoint();
    ie.setMetadata(
        new ObjectMetaBuilder().withName(name).withNamespace("ml").withGeneration(1L).build());
    InferenceEndpointSpec spec = new InferenceEndpointSpec();
    spec.setImage(VLLM);
    ie.setSpec(spec);
    return ie;
  }

  static PodSpec podSpec(InferenceEndpoint ie, HelperSettings helpers) {
    return EndpointModel.deployment(ie, helpers).getSpec().getTemplate().getSpec();
  }

  static PodSpec podSpec(InferenceEndpoint ie) {
    return podSpec(ie, HELPERS);
  }

  static Container container(List<Container> containers, String name) {
    return containers.stream()
        .filter(c -> c.getName().equals(name))
        .findFirst()
        .orElseThrow(
            () ->
                new AssertionError(
                    "no container "
                        + name
                        + " in "
                        + containers.stream().map(Container::getName).toList()));
  }

  static Container server(PodSpec pod) {
    return container(pod.getContainers(), HelperContract.CONTAINER_SERVER);
  }

  static Container gate(PodSpec pod) {
    return container(pod.getInitContainers(), HelperContract.CONTAINER_GATE);
  }

  static Container fetchModel(PodSpec pod) {
    return container(pod.getInitContainers(), HelperContract.CONTAINER_FETCH_MODEL);
  }

  static List<String> initNames(PodSpec pod) {
    return pod.getInitContainers() == null
        ? List.of()
        : pod.getInitContainers().stream().map(Container::getName).toList();
  }

  static Optional<VolumeMount> mountOf(Container c, String volume) {
    return c.getVolumeMounts() == null
        ? Optional.empty()
        : c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst();
  }

  static Stream<Container> allContainers(PodSpec pod) {
    return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream());
  }

  static Optional<String> env(Container c, String name) {
    return c.getEnv().stream()
        .filter(e -> e.getName().equals(name))
        .findFirst()
        .map(EnvVar::getValue);
  }

  static String fieldPath(Container c, String name) {
    EnvVar var =
        c.getEnv().stream()
            .filter(e -> e.getName().equals(name))
            .findFirst()
            .orElseThrow(() -> new AssertionError(c.getName() + " has no env " + name));
    assertNull(var.getValue(), () -> name + " comes from the downward API, not a literal");
    assertNotNull(var.getValueFrom(), name);
    assertNotNull(var.getValueFrom().getFieldRef(), name + ": fieldRef");
    return var.getValueFrom().getFieldRef().getFieldPath();
  }

  static void assertLabel(String s) {
    assertTrue(s.length() <= 63, () -> "longer than 63 (" + s.length() + "): " + s);
    assertTrue(DNS1123_LABEL.matcher(s).matches(), () -> "not a DNS-1123 label: " + s);
  }

  /** A 253-character DNS-1123 subdomain, the longest name an InferenceEndpoint can have. */
  static String longName(char last) {
    StringBuilder sb = new StringBuilder();
    while (sb.length() < 252) {
      sb.append("qwen3-coder-480b.");
    }
    sb.setLength(252);
    if (!Character.isLetterOrDigit(sb.charAt(251))) {
      sb.setCharAt(251, 'x');
    }
    return sb.append(last).toString();
  }

  // ---------------------------------------------------------------- determinism

  @Test
  void desiredObjectsAreDeterministic() {
    assertEquals(
        EndpointModel.deployment(qwen(), HELPERS), EndpointModel.deployment(qwen(), HELPERS));
    assertEquals(EndpointModel.service(qwen()), EndpointModel.service(qwen()));
    assertEquals(
        Serialization.asYaml(EndpointModel.imageCache(qwen())),
        Serialization.asYaml(EndpointModel.imageCache(qwen())));
  }

  // ---------------------------------------------------------------- init containers

  @ParameterizedTest
  @ValueSource(strings = {"", " "})
  void withoutGateUrlThereIsNoGate(String url) {
    for (HelperSettings helpers :
        List.of(
            new HelperSettings(HELPERS.image(), null), new HelperSettings(HELPERS.image(), url))) {
      PodSpec pod = podSpec(qwen(), helpers);
      assertEquals(
          List.of(HelperContract.CONTAINER_FETCH_MODEL),
          initNames(pod),
          () -> "gate URL '" + helpers.gateUrl() + "'");
    }
  }

  @Test
  void withoutModelOrGateThereIsNoInitContainer() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setModel(null);
    assertTrue(
        initNames(podSpec(ie, new HelperSettings(HELPERS.image(), null))).isEmpty(),
        "neither gate nor download");
  }

  // ---------------------------------------------------------------- credentials

  @Test
  void onlyFetchModelSeesTheCredentials() {
    PodSpec pod = podSpec(qwen());
    Container fetch = fetchModel(pod);
    assertEquals(1, fetch.getEnvFrom().size(), fetch.getEnvFrom()::toString);
    assertNotNull(fetch.getEnvFrom().get(0).getSecretRef(), "envFrom a Secret");
    assertEquals("s3-models", fetch.getEnvFrom().get(0).getSecretRef().getName());
    for (Container c : List.of(server(pod), gate(pod))) {
      assertTrue(
          c.getEnvFrom() == null || c.getEnvFrom().isEmpty(),
          () -> c.getName() + " gets " + c.getEnvFrom());
      assertTrue(
          c.getEnv().stream()
              .noneMatch(
                  e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null),
          () -> c.getName() + " reads a Secret: " + c.getEnv());
    }
    assertTrue(pod.getVolumes().stream().noneMatch(v -> v.getSecret() != null), "no Secret volume");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " "})
  void noCredentialsSecretMeansNoEnvFrom(String secret) {
    InferenceEndpoint ie = qwen();
    ie.getSpec().getModel().setCredentialsSecret(secret);
    assertTrue(
        allContainers(podSpec(ie))
            .allMatch(c -> c.getEnvFrom() == null || c.getEnvFrom().isEmpty()));
    ie.getSpec().getModel().setCredentialsSecret(null);
    assertTrue(
        allContainers(podSpec(ie))
            .allMatch(c -> c.getEnvFrom() == null || c.getEnvFrom().isEmpty()));
  }

  // ---------------------------------------------------------------- pod security

  @Test
  void helpersRunRestricted() {
    PodSpec pod = podSpec(qwen());
    assertEquals(2, pod.getInitContainers().size());
    for (Container c : pod.getInitContainers()) {
      SecurityContext sc = c.getSecurityContext();
      assertNotNull(sc, () -> c.getName() + ": securityContext");
      assertEquals(Boolean.TRUE, sc.getRunAsNonRoot(), () -> c.getName() + ": runAsNonRoot");
      assertNotNull(
          sc.getRunAsUser(), () -> c.getName() + ": runAsUser (the image's user may be root)");
      assertNotEquals(0L, sc.getRunAsUser(), () -> c.getName() + ": runs as root");
      assertEquals(
          Boolean.FALSE,
          sc.getAllowPrivilegeEscalation(),
          () -> c.getName() + ": allowPrivilegeEscalation");
      assertNotEquals(Boolean.TRUE, sc.getPrivileged(), () -> c.getName() + ": privileged");
      assertEquals(
          Boolean.TRUE,
          sc.getReadOnlyRootFilesystem(),
          () -> c.getName() + ": readOnlyRootFilesystem");
      assertEquals(
          List.of("ALL"), sc.getCapabilities().getDrop(), () -> c.getName() + ": drop ALL");
      assertTrue(
          sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty(),
          () -> c.getName() + ": adds capabilities");
      assertNotNull(
          c.getResources().getLimits().get("memory"), () -> c.getName() + ": memory limit");
    }
    assertEquals(
        "RuntimeDefault",
        pod.getSecurityContext().getSeccompProfile().getType(),
        "seccomp for every container");
    assertNotEquals(Boolean.TRUE, pod.getHostNetwork());
    assertNotEquals(Boolean.TRUE, pod.getHostPID());
    assertNotEquals(Boolean.TRUE, pod.getHostIPC());
    assertTrue(pod.getVolumes().stream().allMatch(v -> v.getHostPath() == null), "no hostPath");
  }

  // ---------------------------------------------------------------- node cache

  static InferenceEndpoint withNodeCache(String path, String maxSize) {
    InferenceEndpoint ie = qwen();
    NodeCache cache = new NodeCache();
    cache.setEnabled(true);
    if (path != null) {
      cache.setPath(path);
    }
    if (maxSize != null) {
      cache.setMaxSize(new Quantity(maxSize));
    }
    ie.getSpec().getModel().setNodeCache(cache);
    return ie;
  }

  @Test
  void nodeCacheVariablesAreDefinedBeforeTheyAreUsed() {
    Container fetch = fetchModel(podSpec(withNodeCache("/mnt/nvme/model-cache", "200Gi")));
    // $(VAR) in an env value expands the variables defined before it: the downward API's come
    // first.
    assertEquals(
        Optional.of("/var/lib/warmstart/model-cache/pods/$(POD_NAMESPACE)/$(POD_UID)"),
        env(fetch, "MODEL_PATH"));
    List<String> names = fetch.getEnv().stream().map(e -> e.getName()).toList();
    assertTrue(
        names.contains("POD_UID")
            && names.indexOf("POD_UID") < names.indexOf("MODEL_PATH")
            && names.indexOf("POD_NAMESPACE") < names.indexOf("MODEL_PATH")
            && names.contains("NODE_NAME"),
        names.toString());
  }

  @Test
  void fetchModelWritesTheNodeCacheAsRootWithoutCapabilities() {
    PodSpec pod = podSpec(withNodeCache(null, null));
    SecurityContext sc = fetchModel(pod).getSecurityContext();
    // The kubelet creates the hostPath directory as root, mode 0755.
    assertEquals(0L, sc.getRunAsUser());
    assertEquals(Boolean.FALSE, sc.getRunAsNonRoot());
    assertEquals(
        List.of("ALL"),
        sc.getCapabilities().getDrop(),
        "root without DAC override: only root's files");
    assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty());
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
    assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
    assertNotEquals(Boolean.TRUE, sc.getPrivileged());
    assertEquals(
        HelperContract.HELPER_UID,
        gate(pod).getSecurityContext().getRunAsUser(),
        "the gate is unchanged");
  }

  @Test
  void nodeCacheSizeInBytes() {
    InferenceEndpoint odd = withNodeCache(null, "1.5Gi");
    assertTrue(fetchModel(podSpec(odd)).getArgs().contains("--cache-max-size=" + (3L << 29)));
    odd.getSpec().getModel().getNodeCache().setMaxSize(null);
    assertTrue(fetchModel(podSpec(odd)).getArgs().contains("--cache-max-size=" + (500L << 30)));
  }

  @Test
  void nodeCacheOffMeansNoHostPathAndARestrictedDownload() {
    for (Boolean enabled : new Boolean[] {false, null}) {
      InferenceEndpoint ie = withNodeCache(null, null);
      ie.getSpec().getModel().getNodeCache().setEnabled(enabled);
      PodSpec pod = podSpec(ie);
      assertTrue(pod.getVolumes().stream().allMatch(v -> v.getHostPath() == null), "no hostPath");
      assertEquals(List.of("fetch-model"), fetchModel(pod).getArgs());
      assertEquals(HelperContract.HELPER_UID, fetchModel(pod).getSecurityContext().getRunAsUser());
      assertEquals(
          EndpointModel.deployment(qwen(), HELPERS),
          EndpointModel.deployment(ie, HELPERS),
          "the same pod as without nodeCache");
    }
  }

  @Test
  void serverKeepsItsUserButNothingElse() {
    SecurityContext sc = server(podSpec(qwen())).getSecurityContext();
    assertNotNull(sc);
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
    assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
    assertNotEquals(Boolean.TRUE, sc.getPrivileged());
  }

  @Test
  void noServiceAccountToken() {
    assertEquals(Boolean.FALSE, podSpec(qwen()).getAutomountServiceAccountToken());
  }

  // ---------------------------------------------------------------- the server

  @Test
  void serverIsSeenReadyAtOnceAndRestartedOnlyAfterItsStartupBudget() {
    Container server = server(podSpec(qwen()));
    assertNull(
        server.getStartupProbe(),
        "the readiness probe runs from the start: a startup probe delays it");
    assertEquals(
        1,
        server.getReadinessProbe().getPeriodSeconds(),
        "a server is seen ready within a second of answering");
    assertTrue(
        server.getLivenessProbe().getInitialDelaySeconds() >= 1800,
        "weights of large models load for many minutes: a 30-minute startup budget before any restart");
  }

  @Test
  void onlyTheServerHoldsAGpu() {
    PodSpec pod = podSpec(qwen());
    assertEquals(new Quantity("1"), server(pod).getResources().getLimits().get("nvidia.com/gpu"));
    for (Container c : pod.getInitContainers()) {
      assertNull(
          c.getResources().getLimits().get("nvidia.com/gpu"),
          () -> c.getName() + " must not hold a GPU");
      assertNull(
          c.getResources().getRequests().get("nvidia.com/gpu"),
          () -> c.getName() + " must not hold a GPU");
    }
  }

  // ---------------------------------------------------------------- replicas

  @Test
  void zeroReplicasAreKept() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setReplicas(0);
    assertEquals(
        0, EndpointModel.deployment(ie, HELPERS).getSpec().getReplicas(), "scaled to zero");
  }

  // ---------------------------------------------------------------- names, labels, selectors

  @Test
  void podsAreSeenByTheOperatorAndLeadBackToTheirEndpoint() {
    InferenceEndpoint ie = qwen();
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    var template = d.getSpec().getTemplate().getMetadata();
    d.getSpec()
        .getSelector()
        .getMatchLabels()
        .forEach((k, v) -> assertEquals(v, template.getLabels().get(k), "template label " + k));
    assertEquals(
        d.getSpec().getSelector().getMatchLabels(),
        EndpointModel.service(ie).getSpec().getSelector(),
        "the Service selects the serving pods");
    assertEquals(EndpointModel.selector(ie), d.getSpec().getSelector().getMatchLabels());
    assertEquals(
        "warmstart.dev/endpoint=qwen3-8b",
        EndpointModel.selectorString(ie),
        "status.selector for /scale");
    // The reconciler's pod informer selects on these.
    assertEquals(Labels.MANAGED_BY_VALUE, template.getLabels().get(Labels.MANAGED_BY));
    assertEquals(Labels.COMPONENT_SERVER, template.getLabels().get(Labels.COMPONENT));
    assertEquals("true", template.getAnnotations().get(Labels.IMAGE_CACHE_ENABLED));
    var pod = ServingPods.podOf(ie, "qwen3-8b-7d9f8c6b5-x2x4q", null, 0).build();
    assertEquals(
        Set.of(new io.javaoperatorsdk.operator.processing.event.ResourceID("qwen3-8b", "ml")),
        InferenceEndpointReconciler.endpointOfPod(pod));
  }

  @Test
  void urlNamesTheService() {
    InferenceEndpoint ie = qwen();
    assertEquals("http://qwen3-8b.ml.svc:8000", EndpointModel.url(ie));
    ie.getSpec().setPort(9000);
    Service service = EndpointModel.service(ie);
    assertEquals(
        "http://" + service.getMetadata().getName() + ".ml.svc:9000", EndpointModel.url(ie));
  }

  @Test
  void longestNameGivesValidNamesAndLabels() {
    InferenceEndpoint ie = endpoint(longName('a'));
    assertEquals(253, ie.getMetadata().getName().length());
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    Service service = EndpointModel.service(ie);
    ImageCache cache = EndpointModel.imageCache(ie);
    assertLabel(d.getMetadata().getName());
    assertLabel(service.getMetadata().getName());
    assertLabel(cache.getMetadata().getName());
    String selectorValue = d.getSpec().getSelector().getMatchLabels().get(Labels.ENDPOINT);
    assertNotNull(selectorValue);
    assertLabel(selectorValue);
    for (Map<String, String> labels :
        List.of(
            d.getMetadata().getLabels(),
            d.getSpec().getTemplate().getMetadata().getLabels(),
            service.getMetadata().getLabels(),
            cache.getMetadata().getLabels())) {
      labels
          .values()
          .forEach(
              v -> {
                assertTrue(v.length() <= 63, () -> "label value longer than 63: " + v);
                assertTrue(LABEL_VALUE.matcher(v).matches(), () -> "invalid label value: " + v);
              });
    }
    assertEquals(
        ie.getMetadata().getName(),
        d.getSpec().getTemplate().getMetadata().getAnnotations().get(Labels.ENDPOINT_NAME),
        "the full name");
    assertEquals(
        "http://" + service.getMetadata().getName() + ".ml.svc:8000", EndpointModel.url(ie));
    assertTrue(EndpointModel.selectorString(ie).endsWith("=" + selectorValue));
  }

  @Test
  void longNamesDifferingAtTheEndStayApart() {
    InferenceEndpoint a = endpoint(longName('a'));
    InferenceEndpoint b = endpoint(longName('b'));
    assertNotEquals(EndpointModel.name(a), EndpointModel.name(b));
    assertNotEquals(
        EndpointModel.selector(a),
        EndpointModel.selector(b),
        "one endpoint must not select the other's pods");
    assertNotEquals(EndpointModel.imageCacheName(a), EndpointModel.imageCacheName(b));
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen3-8b", "3b-chat", "8b", "llama.3.1-70b", "a"})
  void serviceNameIsValidForAnyEndpointName(String name) {
    // The API server validates Service names as DNS-1035 labels: a name starting with a digit is
    // rejected.
    String serviceName = EndpointModel.service(endpoint(name)).getMetadata().getName();
    assertTrue(serviceName.length() <= 63, serviceName);
    assertTrue(
        DNS1035_LABEL.matcher(serviceName).matches(),
        () -> "not a valid Service name: " + serviceName);
    assertEquals(EndpointModel.url(endpoint(name)), "http://" + serviceName + ".ml.svc:8000");
  }
}
