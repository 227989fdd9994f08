package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.HELPERS;
import static dev.warmstart.endpoint.ServingPods.VLLM;
import static dev.warmstart.endpoint.ServingPods.load;
import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec.ImageCachePolicy;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec.NodeCache;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What an InferenceEndpoint becomes: its Deployment, Service and ImageCache. */
class EndpointModelTest {
  private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  /** What a Service's name must be: a DNS-1035 label (it starts with a letter). */
  private static final Pattern DNS1035_LABEL = Pattern.compile("[a-z]([-a-z0-9]*[a-z0-9])?");
  private static final Pattern LABEL_VALUE = Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");

  // ---------------------------------------------------------------- fixtures

  static InferenceEndpoint endpoint(String name) {
    InferenceEndpoint ie = new InferenceEndpoint();
    ie.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("ml").withGeneration(1L).build());
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
    return containers.stream().filter(c -> c.getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no container " + name + " in "
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
    return pod.getInitContainers() == null ? List.of() : pod.getInitContainers().stream().map(Container::getName).toList();
  }

  static Optional<VolumeMount> mountOf(Container c, String volume) {
    return c.getVolumeMounts() == null ? Optional.empty()
        : c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst();
  }

  static Stream<Container> allContainers(PodSpec pod) {
    return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream());
  }

  static Optional<String> env(Container c, String name) {
    return c.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst().map(EnvVar::getValue);
  }

  static String fieldPath(Container c, String name) {
    EnvVar var = c.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
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

  /** As a tree of maps and lists: what a golden file says, whatever its key order (ImageCacheSpec has no equals). */
  static Object tree(Object resource) {
    return Serialization.unmarshal(Serialization.asYaml(resource), Map.class);
  }

  static <T> void assertMatchesGolden(T actual, String resource, Class<T> type) {
    String actualYaml = Serialization.asYaml(actual);
    // Parsed as the type first, so that quoting and number formats in the golden file do not matter either.
    T expected = load(resource, type);
    assertNotNull(expected, resource + " is empty");
    assertEquals(tree(expected), tree(actual),
        () -> "differs from src/test/resources/endpoint/" + resource + "; if the change is intended, review and "
            + "replace the file with:\n" + actualYaml);
  }

  // ---------------------------------------------------------------- golden files

  @Test
  void deploymentMatchesGoldenFile() {
    assertMatchesGolden(EndpointModel.deployment(qwen(), HELPERS), "out-qwen3-8b-deployment.yaml", Deployment.class);
  }

  @Test
  void serviceMatchesGoldenFile() {
    assertMatchesGolden(EndpointModel.service(qwen()), "out-qwen3-8b-service.yaml", Service.class);
  }

  @Test
  void imageCacheMatchesGoldenFile() {
    assertMatchesGolden(EndpointModel.imageCache(qwen()), "out-qwen3-8b-imagecache.yaml", ImageCache.class);
  }

  @Test
  void desiredObjectsAreDeterministic() {
    assertEquals(EndpointModel.deployment(qwen(), HELPERS), EndpointModel.deployment(qwen(), HELPERS));
    assertEquals(EndpointModel.service(qwen()), EndpointModel.service(qwen()));
    assertEquals(Serialization.asYaml(EndpointModel.imageCache(qwen())),
        Serialization.asYaml(EndpointModel.imageCache(qwen())));
  }

  // ---------------------------------------------------------------- init containers

  @Test
  void initOrderIsGateThenFetchModel() {
    PodSpec pod = podSpec(qwen());
    assertEquals(List.of(HelperContract.CONTAINER_GATE, HelperContract.CONTAINER_FETCH_MODEL), initNames(pod),
        "the download waits at the gate, so the gate runs first");
    assertEquals(List.of(HelperContract.CONTAINER_SERVER), pod.getContainers().stream().map(Container::getName).toList());
    assertEquals(HELPERS.image(), gate(pod).getImage());
    assertEquals(HELPERS.image(), fetchModel(pod).getImage());
    assertEquals(VLLM, server(pod).getImage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " "})
  void withoutGateUrlThereIsNoGate(String url) {
    for (HelperSettings helpers : List.of(new HelperSettings(HELPERS.image(), null),
        new HelperSettings(HELPERS.image(), url))) {
      PodSpec pod = podSpec(qwen(), helpers);
      assertEquals(List.of(HelperContract.CONTAINER_FETCH_MODEL), initNames(pod), () -> "gate URL '" + helpers.gateUrl() + "'");
    }
  }

  @Test
  void withoutModelThereIsNoDownloadAndNoModelMount() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setModel(null);
    PodSpec pod = podSpec(ie);
    assertEquals(List.of(HelperContract.CONTAINER_GATE), initNames(pod));
    assertEquals(Optional.empty(), mountOf(server(pod), EndpointModel.MODEL_VOLUME), "nothing to mount");
    assertTrue(initNames(podSpec(ie, new HelperSettings(HELPERS.image(), null))).isEmpty(), "neither gate nor download");
  }

  @Test
  void gateKnowsItsPodAndTimeout() {
    Container gate = gate(podSpec(qwen()));
    assertEquals("metadata.namespace", fieldPath(gate, "POD_NAMESPACE"));
    assertEquals("metadata.name", fieldPath(gate, "POD_NAME"));
    assertEquals("metadata.uid", fieldPath(gate, "POD_UID"));
    assertEquals("spec.nodeName", fieldPath(gate, "NODE_NAME"));
    assertTrue(gate.getArgs().contains("--url=" + HELPERS.gateUrl()), gate.getArgs()::toString);
    assertTrue(gate.getArgs().contains("--kind=model"), gate.getArgs()::toString);
    assertEquals("gate", gate.getArgs().get(0), "the subcommand");
    assertTrue(gate.getArgs().contains("--timeout=10m"), gate.getArgs()::toString);

    InferenceEndpoint custom = qwen();
    custom.getSpec().getImageCache().setGateTimeout("3m30s");
    List<String> args = gate(podSpec(custom)).getArgs();
    assertTrue(args.contains("--timeout=3m30s"), args::toString);
    assertEquals(1, args.stream().filter(a -> a.startsWith("--timeout")).count(), args::toString);
  }

  @Test
  void gateTimeoutDefaultsToTenMinutes() {
    InferenceEndpoint noPolicy = qwen();
    noPolicy.getSpec().setImageCache(null);
    assertTrue(gate(podSpec(noPolicy)).getArgs().contains("--timeout=10m"));
    InferenceEndpoint noTimeout = qwen();
    noTimeout.getSpec().getImageCache().setGateTimeout(null);
    assertTrue(gate(podSpec(noTimeout)).getArgs().contains("--timeout=10m"));
  }

  @Test
  void fetchModelIsToldWhatAndWhere() {
    Container fetch = fetchModel(podSpec(qwen()));
    assertEquals(List.of("fetch-model"), fetch.getArgs());
    assertEquals(Optional.of("s3://models/qwen3-8b/"), env(fetch, "MODEL_URI"));
    assertEquals(Optional.of("/models/qwen3-8b"), env(fetch, "MODEL_PATH"));
    assertEquals("File", fetch.getTerminationMessagePolicy(), "its summary feeds the cold-start accounting");
  }

  // ---------------------------------------------------------------- the model volume

  @Test
  void serverReadsTheModelReadOnlyAndFetchModelWritesIt() {
    PodSpec pod = podSpec(qwen());
    VolumeMount serverMount = mountOf(server(pod), EndpointModel.MODEL_VOLUME)
        .orElseThrow(() -> new AssertionError("the server does not mount the model"));
    assertEquals("/models/qwen3-8b", serverMount.getMountPath(), "spec.model.path");
    assertEquals(Boolean.TRUE, serverMount.getReadOnly(), "the server must not change the weights");
    VolumeMount fetchMount = mountOf(fetchModel(pod), EndpointModel.MODEL_VOLUME)
        .orElseThrow(() -> new AssertionError("fetch-model does not mount the model volume"));
    assertEquals("/models/qwen3-8b", fetchMount.getMountPath());
    assertNotEquals(Boolean.TRUE, fetchMount.getReadOnly(), "fetch-model writes the weights");
    assertTrue(pod.getVolumes().stream().anyMatch(v -> v.getName().equals(EndpointModel.MODEL_VOLUME)
        && v.getEmptyDir() != null), "the model lives in an emptyDir");
    assertEquals(Optional.empty(), mountOf(gate(pod), EndpointModel.MODEL_VOLUME), "the gate needs no weights");
  }

  @Test
  void modelPathDefault() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().getModel().setPath(null);
    PodSpec pod = podSpec(ie);
    assertEquals("/models/model", mountOf(server(pod), EndpointModel.MODEL_VOLUME).orElseThrow().getMountPath());
    assertEquals("/models/model", mountOf(fetchModel(pod), EndpointModel.MODEL_VOLUME).orElseThrow().getMountPath());
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
      assertTrue(c.getEnvFrom() == null || c.getEnvFrom().isEmpty(), () -> c.getName() + " gets " + c.getEnvFrom());
      assertTrue(c.getEnv().stream().noneMatch(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null),
          () -> c.getName() + " reads a Secret: " + c.getEnv());
    }
    assertTrue(pod.getVolumes().stream().noneMatch(v -> v.getSecret() != null), "no Secret volume");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " "})
  void noCredentialsSecretMeansNoEnvFrom(String secret) {
    InferenceEndpoint ie = qwen();
    ie.getSpec().getModel().setCredentialsSecret(secret);
    assertTrue(allContainers(podSpec(ie)).allMatch(c -> c.getEnvFrom() == null || c.getEnvFrom().isEmpty()));
    ie.getSpec().getModel().setCredentialsSecret(null);
    assertTrue(allContainers(podSpec(ie)).allMatch(c -> c.getEnvFrom() == null || c.getEnvFrom().isEmpty()));
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
      assertNotNull(sc.getRunAsUser(), () -> c.getName() + ": runAsUser (the image's user may be root)");
      assertNotEquals(0L, sc.getRunAsUser(), () -> c.getName() + ": runs as root");
      assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation(), () -> c.getName() + ": allowPrivilegeEscalation");
      assertNotEquals(Boolean.TRUE, sc.getPrivileged(), () -> c.getName() + ": privileged");
      assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem(), () -> c.getName() + ": readOnlyRootFilesystem");
      assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), () -> c.getName() + ": drop ALL");
      assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty(),
          () -> c.getName() + ": adds capabilities");
      assertNotNull(c.getResources().getLimits().get("memory"), () -> c.getName() + ": memory limit");
    }
    assertEquals("RuntimeDefault", pod.getSecurityContext().getSeccompProfile().getType(), "seccomp for every container");
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
  void nodeCacheIsAHostPathWhereEachPodGetsItsOwnDirectory() {
    PodSpec pod = podSpec(withNodeCache("/mnt/nvme/model-cache", "200Gi"));

    Volume volume = pod.getVolumes().stream().filter(v -> v.getName().equals(EndpointModel.MODEL_CACHE_VOLUME))
        .findFirst().orElseThrow(() -> new AssertionError("no cache volume in " + pod.getVolumes()));
    assertEquals("/mnt/nvme/model-cache", volume.getHostPath().getPath());
    assertEquals("DirectoryOrCreate", volume.getHostPath().getType());
    assertTrue(pod.getVolumes().stream().noneMatch(v -> v.getName().equals(EndpointModel.MODEL_VOLUME)),
        "no emptyDir: the model lives in the cache's mount, where it can be hard-linked");
    Container fetch = fetchModel(pod);
    VolumeMount mount = mountOf(fetch, EndpointModel.MODEL_CACHE_VOLUME)
        .orElseThrow(() -> new AssertionError("fetch-model does not mount the cache"));
    assertEquals("/var/lib/warmstart/model-cache", mount.getMountPath());
    assertNotEquals(Boolean.TRUE, mount.getReadOnly(), "fetch-model fills the cache");
    assertEquals(null, mount.getSubPath());
    assertEquals(List.of("fetch-model", "--cache-dir=/var/lib/warmstart/model-cache",
        "--cache-max-size=" + (200L << 30),
        "--cache-pods-url=http://warmstart-gate.warmstart.svc:8081/v1/pods?node=$(NODE_NAME)"), fetch.getArgs());
    // $(VAR) in an env value expands the variables defined before it: the downward API's come first.
    assertEquals(Optional.of("/var/lib/warmstart/model-cache/pods/$(POD_NAMESPACE)/$(POD_UID)"), env(fetch, "MODEL_PATH"));
    List<String> names = fetch.getEnv().stream().map(e -> e.getName()).toList();
    assertTrue(names.contains("POD_UID") && names.indexOf("POD_UID") < names.indexOf("MODEL_PATH")
        && names.indexOf("POD_NAMESPACE") < names.indexOf("MODEL_PATH") && names.contains("NODE_NAME"), names.toString());
    assertEquals("metadata.uid", fetch.getEnv().stream().filter(e -> e.getName().equals("POD_UID")).findFirst()
        .orElseThrow().getValueFrom().getFieldRef().getFieldPath());

    VolumeMount served = mountOf(server(pod), EndpointModel.MODEL_CACHE_VOLUME)
        .orElseThrow(() -> new AssertionError("the server does not mount its directory"));
    assertEquals("/models/qwen3-8b", served.getMountPath());
    assertEquals("pods/$(WARMSTART_POD_NAMESPACE)/$(WARMSTART_POD_UID)", served.getSubPathExpr());
    assertEquals(Boolean.TRUE, served.getReadOnly(), "the server only reads the weights");
    assertEquals("metadata.uid", server(pod).getEnv().stream().filter(e -> e.getName().equals("WARMSTART_POD_UID"))
        .findFirst().orElseThrow().getValueFrom().getFieldRef().getFieldPath());
    assertEquals(Optional.empty(), mountOf(gate(pod), EndpointModel.MODEL_CACHE_VOLUME));
    assertEquals(Optional.of("s3://models/qwen3-8b/"), env(fetch, "MODEL_URI"));
  }

  @Test
  void fetchModelWritesTheNodeCacheAsRootWithoutCapabilities() {
    PodSpec pod = podSpec(withNodeCache(null, null));
    SecurityContext sc = fetchModel(pod).getSecurityContext();
    // The kubelet creates the hostPath directory as root, mode 0755.
    assertEquals(0L, sc.getRunAsUser());
    assertEquals(Boolean.FALSE, sc.getRunAsNonRoot());
    assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), "root without DAC override: only root's files");
    assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty());
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
    assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
    assertNotEquals(Boolean.TRUE, sc.getPrivileged());
    assertEquals(HelperContract.HELPER_UID, gate(pod).getSecurityContext().getRunAsUser(), "the gate is unchanged");
  }

  @Test
  void nodeCacheDefaults() {
    PodSpec pod = podSpec(withNodeCache(null, null));
    assertEquals("/var/lib/warmstart/model-cache", pod.getVolumes().stream()
        .filter(v -> v.getHostPath() != null).findFirst().orElseThrow().getHostPath().getPath());
    assertTrue(fetchModel(pod).getArgs().contains("--cache-max-size=" + (500L << 30)), fetchModel(pod).getArgs()::toString);

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
      assertEquals(EndpointModel.deployment(qwen(), HELPERS), EndpointModel.deployment(ie, HELPERS),
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
  void probesUseTheHealthPathOnTheNamedPort() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setHealthPath("/v2/health/ready");
    ie.getSpec().setPort(8080);
    PodSpec pod = podSpec(ie);
    Container server = server(pod);
    assertEquals(1, server.getPorts().size());
    String portName = server.getPorts().get(0).getName();
    assertNotNull(portName, "the port is named");
    assertEquals(8080, server.getPorts().get(0).getContainerPort());
    for (Probe probe : List.of(server.getReadinessProbe(), server.getLivenessProbe())) {
      assertNotNull(probe);
      assertEquals("/v2/health/ready", probe.getHttpGet().getPath());
      assertEquals(new IntOrString(portName), probe.getHttpGet().getPort());
    }
    assertNull(server.getStartupProbe(), "the readiness probe runs from the start: a startup probe delays it");
    assertEquals(1, server.getReadinessProbe().getPeriodSeconds(), "a server is seen ready within a second of answering");
    assertTrue(server.getLivenessProbe().getInitialDelaySeconds() >= 1800,
        "weights of large models load for many minutes: a 30-minute startup budget before any restart");

    Service service = EndpointModel.service(ie);
    assertEquals(8080, service.getSpec().getPorts().get(0).getPort());
    assertEquals(new IntOrString(portName), service.getSpec().getPorts().get(0).getTargetPort());
  }

  @Test
  void defaultHealthPathAndPort() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setHealthPath(null);
    ie.getSpec().setPort(null);
    Container server = server(podSpec(ie));
    assertEquals("/health", server.getReadinessProbe().getHttpGet().getPath());
    assertEquals("/health", server.getLivenessProbe().getHttpGet().getPath());
    assertEquals(8000, server.getPorts().get(0).getContainerPort());
    assertEquals("http://qwen3-8b.ml.svc:8000", EndpointModel.url(ie));
  }

  @Test
  void gpuLimitsAreCopied() {
    PodSpec pod = podSpec(qwen());
    Container server = server(pod);
    assertEquals(new Quantity("1"), server.getResources().getLimits().get("nvidia.com/gpu"));
    assertEquals(new Quantity("24Gi"), server.getResources().getRequests().get("memory"));
    for (Container c : pod.getInitContainers()) {
      assertNull(c.getResources().getLimits().get("nvidia.com/gpu"), () -> c.getName() + " must not hold a GPU");
      assertNull(c.getResources().getRequests().get("nvidia.com/gpu"), () -> c.getName() + " must not hold a GPU");
    }
  }

  @Test
  void commandArgsAndEnvOfTheServer() {
    Container server = server(podSpec(qwen()));
    assertEquals(List.of("--model", "/models/qwen3-8b", "--served-model-name", "qwen3-8b", "--port", "8000"),
        server.getArgs());
    assertTrue(server.getCommand() == null || server.getCommand().isEmpty(), "the image's ENTRYPOINT");
    assertEquals(Optional.of("INFO"), env(server, "VLLM_LOGGING_LEVEL"));
  }

  @Test
  void schedulingIsCopiedToThePods() {
    InferenceEndpoint ie = qwen();
    PodSpec pod = podSpec(ie);
    assertEquals(Map.of("karpenter.sh/nodepool", "gpu"), pod.getNodeSelector());
    assertEquals(ie.getSpec().getTolerations(), pod.getTolerations());
    assertEquals(List.of(new LocalObjectReference("registry-pull")), pod.getImagePullSecrets());
  }

  // ---------------------------------------------------------------- replicas

  @Test
  void replicasFromSpecOneByDefault() {
    InferenceEndpoint ie = qwen();
    assertEquals(2, EndpointModel.deployment(ie, HELPERS).getSpec().getReplicas());
    ie.getSpec().setReplicas(0);
    assertEquals(0, EndpointModel.deployment(ie, HELPERS).getSpec().getReplicas(), "scaled to zero");
    ie.getSpec().setReplicas(null);
    assertEquals(1, EndpointModel.deployment(ie, HELPERS).getSpec().getReplicas());
  }

  @Test
  void autoscalingLeavesReplicasToTheAutoscaler() {
    InferenceEndpoint ie = qwen();
    Autoscaling autoscaling = new Autoscaling();
    autoscaling.setMaxReplicas(4);
    ie.getSpec().setAutoscaling(autoscaling);
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    assertNull(d.getSpec().getReplicas());
    // Server-side apply must not send the field at all, or it takes the count back from the autoscaler.
    String yaml = Serialization.asYaml(d);
    assertFalse(yaml.contains("replicas:"), yaml);
  }

  // ---------------------------------------------------------------- names, labels, selectors

  @Test
  void podsAreSeenByTheOperatorAndLeadBackToTheirEndpoint() {
    InferenceEndpoint ie = qwen();
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    var template = d.getSpec().getTemplate().getMetadata();
    d.getSpec().getSelector().getMatchLabels()
        .forEach((k, v) -> assertEquals(v, template.getLabels().get(k), "template label " + k));
    assertEquals(d.getSpec().getSelector().getMatchLabels(), EndpointModel.service(ie).getSpec().getSelector(),
        "the Service selects the serving pods");
    assertEquals(EndpointModel.selector(ie), d.getSpec().getSelector().getMatchLabels());
    assertEquals("warmstart.dev/endpoint=qwen3-8b", EndpointModel.selectorString(ie), "status.selector for /scale");
    // The reconciler's pod informer selects on these.
    assertEquals(Labels.MANAGED_BY_VALUE, template.getLabels().get(Labels.MANAGED_BY));
    assertEquals(Labels.COMPONENT_SERVER, template.getLabels().get(Labels.COMPONENT));
    assertEquals("true", template.getAnnotations().get(Labels.IMAGE_CACHE_ENABLED));
    var pod = ServingPods.podOf(ie, "qwen3-8b-7d9f8c6b5-x2x4q", null, 0).build();
    assertEquals(Set.of(new io.javaoperatorsdk.operator.processing.event.ResourceID("qwen3-8b", "ml")),
        InferenceEndpointReconciler.endpointOfPod(pod));
  }

  @Test
  void imageCacheEnabledAnnotationTellsTheGate() {
    InferenceEndpoint ie = qwen();
    ImageCachePolicy off = new ImageCachePolicy();
    off.setEnabled(false);
    ie.getSpec().setImageCache(off);
    var annotations = EndpointModel.deployment(ie, HELPERS).getSpec().getTemplate().getMetadata().getAnnotations();
    assertEquals("false", annotations.get(Labels.IMAGE_CACHE_ENABLED));
  }

  @Test
  void urlNamesTheService() {
    InferenceEndpoint ie = qwen();
    assertEquals("http://qwen3-8b.ml.svc:8000", EndpointModel.url(ie));
    ie.getSpec().setPort(9000);
    Service service = EndpointModel.service(ie);
    assertEquals("http://" + service.getMetadata().getName() + ".ml.svc:9000", EndpointModel.url(ie));
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
    for (Map<String, String> labels : List.of(d.getMetadata().getLabels(), d.getSpec().getTemplate().getMetadata()
        .getLabels(), service.getMetadata().getLabels(), cache.getMetadata().getLabels())) {
      labels.values().forEach(v -> {
        assertTrue(v.length() <= 63, () -> "label value longer than 63: " + v);
        assertTrue(LABEL_VALUE.matcher(v).matches(), () -> "invalid label value: " + v);
      });
    }
    assertEquals(ie.getMetadata().getName(),
        d.getSpec().getTemplate().getMetadata().getAnnotations().get(Labels.ENDPOINT_NAME), "the full name");
    assertEquals("http://" + service.getMetadata().getName() + ".ml.svc:8000", EndpointModel.url(ie));
    assertTrue(EndpointModel.selectorString(ie).endsWith("=" + selectorValue));
  }

  @Test
  void longNamesDifferingAtTheEndStayApart() {
    InferenceEndpoint a = endpoint(longName('a'));
    InferenceEndpoint b = endpoint(longName('b'));
    assertNotEquals(EndpointModel.name(a), EndpointModel.name(b));
    assertNotEquals(EndpointModel.selector(a), EndpointModel.selector(b), "one endpoint must not select the other's pods");
    assertNotEquals(EndpointModel.imageCacheName(a), EndpointModel.imageCacheName(b));
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen3-8b", "3b-chat", "8b", "llama.3.1-70b", "a"})
  void serviceNameIsValidForAnyEndpointName(String name) {
    // The API server validates Service names as DNS-1035 labels: a name starting with a digit is rejected.
    String serviceName = EndpointModel.service(endpoint(name)).getMetadata().getName();
    assertTrue(serviceName.length() <= 63, serviceName);
    assertTrue(DNS1035_LABEL.matcher(serviceName).matches(), () -> "not a valid Service name: " + serviceName);
    assertEquals(EndpointModel.url(endpoint(name)), "http://" + serviceName + ".ml.svc:8000");
  }

  // ---------------------------------------------------------------- the ImageCache

  @Test
  void imageCacheHoldsExactlyTheServingImageOnThePool() {
    InferenceEndpoint ie = qwen();
    ImageCache cache = EndpointModel.imageCache(ie);
    assertEquals(List.of(VLLM), cache.getSpec().getImages());
    assertEquals(Map.of("karpenter.sh/nodepool", "gpu"), cache.getSpec().getNodeSelector());
    assertEquals(ie.getSpec().getTolerations(), cache.getSpec().getTolerations());
    assertEquals(List.of(new LocalObjectReference("registry-pull")), cache.getSpec().getImagePullSecrets());
    assertEquals("ml", cache.getMetadata().getNamespace());
    assertEquals(Labels.COMPONENT_IMAGE_CACHE, cache.getMetadata().getLabels().get(Labels.COMPONENT));
    assertEquals(EndpointModel.imageCacheName(ie), cache.getMetadata().getName());
  }

  @Test
  void imageCacheFollowsTheEndpoint() {
    InferenceEndpoint ie = qwen();
    ie.getSpec().setImage("ghcr.io/huggingface/text-generation-inference:3.3.4");
    Toleration dedicated = new TolerationBuilder().withKey("dedicated").withOperator("Equal").withValue("inference")
        .withEffect("NoExecute").build();
    ie.getSpec().setTolerations(new ArrayList<>(List.of(dedicated)));
    Map<String, String> selector = new LinkedHashMap<>();
    selector.put("node.kubernetes.io/instance-type", "g6e.12xlarge");
    ie.getSpec().setNodeSelector(selector);
    ie.getSpec().setImagePullSecrets(new ArrayList<>());
    ImageCache cache = EndpointModel.imageCache(ie);
    assertEquals(List.of("ghcr.io/huggingface/text-generation-inference:3.3.4"), cache.getSpec().getImages());
    assertEquals(selector, cache.getSpec().getNodeSelector());
    assertEquals(List.of(dedicated), cache.getSpec().getTolerations());
    assertTrue(cache.getSpec().getImagePullSecrets() == null || cache.getSpec().getImagePullSecrets().isEmpty());

    Supplier<String> image = () -> EndpointModel.deployment(ie, HELPERS).getSpec().getTemplate().getSpec()
        .getContainers().get(0).getImage();
    assertEquals(cache.getSpec().getImages().get(0), image.get(), "the cache holds what the server runs");
  }
}
