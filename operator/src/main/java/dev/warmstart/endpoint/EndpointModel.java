package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec;
import dev.warmstart.api.v1alpha1.InferenceEndpointSpec.NodeCache;
import dev.warmstart.api.v1alpha1.WarmPool;
import dev.warmstart.kube.DownwardApi;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.kube.Names;
import dev.warmstart.kube.PodSecurity;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetActionBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSchedulingGate;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What an InferenceEndpoint becomes, as pure functions of it: the Deployment of serving pods, the
 * Service in front of them and the ImageCache that keeps the serving image on the pool.
 *
 * <p>With {@code spec.warmPool}, a second Deployment keeps placeholders on the pool: each runs the
 * same gate and fetch-model into the node cache, then holds the serving image and the GPU with the
 * pause binary, at a priority below every workload. Serving pods then start behind a scheduling
 * gate that the operator lifts ({@link WarmPlacement}), sending each to a warm node first.
 *
 * <p>A serving pod runs {@code gate} (wait until the node holds the serving image and no other bulk
 * transfer runs there), then {@code fetch-model} (download the weights into the model volume), then
 * the server, which reads the weights read-only.
 */
public final class EndpointModel {
  static final String MODEL_VOLUME = "model";

  /**
   * The node-local model cache (spec.model.nodeCache): a hostPath, mounted whole into fetch-model
   * and as the pod's own directory ({@code pods/<namespace>/<uid>}) into the server.
   */
  static final String MODEL_CACHE_VOLUME = "model-cache";

  static final String MODEL_CACHE_MOUNT = "/var/lib/warmstart/model-cache";

  /**
   * Set in the server container for its subPathExpr; prefixed so that they cannot clash with the
   * image's.
   */
  static final String SERVER_POD_NAMESPACE_ENV = "WARMSTART_POD_NAMESPACE";

  static final String SERVER_POD_UID_ENV = "WARMSTART_POD_UID";
  static final String HTTP = "http";

  /**
   * The server's readiness probe runs every second, the kubelet's shortest period, from the
   * container's start: a server is seen Ready within about a second of answering. A startup probe
   * would add a hop: the kubelet runs the readiness probe only after the startup probe passed and
   * it has relisted the runtime (another second). Ten failures in a row (10 s) take a serving pod
   * out of its Service, as 3 at the former 5 s period did.
   */
  static final int READINESS_PERIOD = 1;

  static final int READINESS_FAILURES = 10;

  /**
   * Startup budget of the server (30 min: weights of large models load for many minutes), kept by a
   * liveness probe that begins only then: a server not answering its health path by then, or that
   * stops answering for {@link #LIVENESS_FAILURES} × {@link #LIVENESS_PERIOD} s later on, is
   * restarted. Its 5 s timeout spares a server that is slow to answer under load.
   */
  static final int STARTUP_BUDGET_SECONDS = 1800;

  static final int LIVENESS_PERIOD = 10;
  static final int LIVENESS_TIMEOUT = 5;
  static final int LIVENESS_FAILURES = 3;

  private EndpointModel() {}

  /**
   * Name of the Deployment, the Service and the pods' selector value: valid however long the
   * endpoint's name.
   */
  public static String name(InferenceEndpoint ie) {
    return Names.derived("", ie.getMetadata().getName());
  }

  /** Service names must start with a letter (DNS-1035), which endpoint names need not. */
  public static String serviceName(InferenceEndpoint ie) {
    String name = name(ie);
    return Character.isLetter(name.charAt(0))
        ? name
        : Names.derived("ie-", ie.getMetadata().getName());
  }

  public static String warmPoolName(InferenceEndpoint ie) {
    return Names.derived("", ie.getMetadata().getName() + "-warm-pool");
  }

  public static String imageCacheName(InferenceEndpoint ie) {
    return Names.derived("", ie.getMetadata().getName() + "-serving-image");
  }

  public static Map<String, String> selector(InferenceEndpoint ie) {
    return Map.of(Labels.ENDPOINT, name(ie));
  }

  public static String selectorString(InferenceEndpoint ie) {
    return Labels.ENDPOINT + "=" + name(ie);
  }

  static Map<String, String> labels(InferenceEndpoint ie, String component) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(Labels.NAME, "warmstart");
    labels.put(Labels.INSTANCE, name(ie));
    labels.put(Labels.COMPONENT, component);
    labels.put(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE);
    labels.putAll(selector(ie));
    return labels;
  }

  /**
   * The placeholders' labels: no {@link Labels#ENDPOINT}, so that neither the Service nor the
   * serving selector takes them.
   */
  static Map<String, String> warmPoolLabels(InferenceEndpoint ie) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(Labels.NAME, "warmstart");
    labels.put(Labels.INSTANCE, name(ie));
    labels.put(Labels.COMPONENT, Labels.COMPONENT_WARM_POOL);
    labels.put(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE);
    labels.put(Labels.WARM_POOL, name(ie));
    return labels;
  }

  public static String url(InferenceEndpoint ie) {
    return "http://" + serviceName(ie) + "." + ie.getMetadata().getNamespace() + ".svc:" + port(ie);
  }

  public static int port(InferenceEndpoint ie) {
    return ie.getSpec().getPort() == null ? 8000 : ie.getSpec().getPort();
  }

  /**
   * Replicas the Deployment should have: spec.replicas (default 1) without autoscaling; with
   * autoscaling, null, so that server-side apply leaves the count to the autoscaler.
   */
  static Integer replicas(InferenceEndpoint ie) {
    if (ie.getSpec().getAutoscaling() != null) {
      return null;
    }
    return ie.getSpec().getReplicas() == null ? 1 : ie.getSpec().getReplicas();
  }

  public static Deployment deployment(InferenceEndpoint ie, HelperSettings helpers) {
    InferenceEndpointSpec spec = ie.getSpec();
    return new DeploymentBuilder()
        .withMetadata(
            new ObjectMetaBuilder()
                .withName(name(ie))
                .withNamespace(ie.getMetadata().getNamespace())
                .withLabels(labels(ie, Labels.COMPONENT_SERVER))
                .build())
        .withNewSpec()
        .withReplicas(replicas(ie))
        .withNewSelector()
        .withMatchLabels(selector(ie))
        .endSelector()
        // Cold starts take minutes: a rollout is only stuck after half an hour without progress.
        .withProgressDeadlineSeconds(1800)
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(labels(ie, Labels.COMPONENT_SERVER))
        .withAnnotations(podAnnotations(ie))
        .endMetadata()
        .withNewSpec()
        // The operator lifts this gate, first pinning the pod to a warm node if one is free.
        .withSchedulingGates(
            spec.getWarmPool() == null
                ? List.of()
                : List.of(new PodSchedulingGate(Labels.WARM_PLACEMENT_GATE)))
        // The server needs no Kubernetes credentials, and neither do the helpers.
        .withAutomountServiceAccountToken(false)
        .withEnableServiceLinks(false)
        .withSecurityContext(PodSecurity.pod())
        .withNodeSelector(spec.getNodeSelector().isEmpty() ? null : spec.getNodeSelector())
        .withTolerations(spec.getTolerations().isEmpty() ? null : spec.getTolerations())
        .withImagePullSecrets(
            spec.getImagePullSecrets().isEmpty() ? null : spec.getImagePullSecrets())
        .withInitContainers(modelInitContainers(ie, helpers))
        .withContainers(server(ie))
        .addAllToVolumes(modelVolumes(ie))
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  /**
   * What a serving pod and a placeholder both run first: the gate (when the operator has one), then
   * fetch-model (when there is a model).
   */
  private static List<Container> modelInitContainers(InferenceEndpoint ie, HelperSettings helpers) {
    List<Container> init = new ArrayList<>();
    if (helpers.gateEnabled()) {
      init.add(
          helpers.gateContainer(
              HelperContract.GATE_KIND_MODEL, ie.getSpec().gateTimeout(), PodSecurity.helper()));
    }
    if (ie.getSpec().getModel() != null) {
      init.add(fetchModel(ie, helpers));
    }
    return init;
  }

  private static Map<String, String> podAnnotations(InferenceEndpoint ie) {
    Map<String, String> annotations = new LinkedHashMap<>();
    annotations.put(Labels.ENDPOINT_NAME, ie.getMetadata().getName());
    annotations.put(Labels.IMAGE_CACHE_ENABLED, Boolean.toString(ie.getSpec().imageCacheEnabled()));
    return annotations;
  }

  /**
   * The warm pool: spec.warmPool.replicas placeholders on the endpoint's pool. Each takes its node
   * through the same gate and fetch-model as a serving pod (the weights into the node cache), then
   * holds the serving image (a running container pins it against the kubelet's image garbage
   * collection) and the server's resources, GPU included, with the pause binary. Their
   * PriorityClass is below every workload's and never preempts: any pod that needs the GPU evicts a
   * placeholder, and the Deployment puts it back elsewhere.
   */
  public static Deployment warmPool(InferenceEndpoint ie, HelperSettings helpers) {
    InferenceEndpointSpec spec = ie.getSpec();
    List<Container> init = new ArrayList<>();
    init.add(helpers.installPauseContainer(PodSecurity.helper()));
    init.addAll(modelInitContainers(ie, helpers));
    Container placeholder =
        new ContainerBuilder()
            .withName(HelperContract.CONTAINER_PLACEHOLDER)
            .withImage(spec.getImage())
            .withImagePullPolicy("IfNotPresent")
            .withCommand(HelperSettings.PAUSE)
            .withResources(
                spec.getResources() == null
                    ? new ResourceRequirementsBuilder().build()
                    : spec.getResources())
            .withSecurityContext(PodSecurity.helper())
            .addNewVolumeMount()
            .withName(HelperSettings.PAUSE_VOLUME)
            .withMountPath(HelperSettings.PAUSE_DIR)
            .withReadOnly(true)
            .endVolumeMount()
            .build();
    List<Volume> volumes = new ArrayList<>(spec.getModel() == null ? List.of() : modelVolumes(ie));
    volumes.add(HelperSettings.pauseVolume());
    return new DeploymentBuilder()
        .withMetadata(
            new ObjectMetaBuilder()
                .withName(warmPoolName(ie))
                .withNamespace(ie.getMetadata().getNamespace())
                .withLabels(labels(ie, Labels.COMPONENT_WARM_POOL))
                .build())
        .withNewSpec()
        .withReplicas(spec.warmPoolSize())
        .withNewSelector()
        .withMatchLabels(Map.of(Labels.WARM_POOL, name(ie)))
        .endSelector()
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(warmPoolLabels(ie))
        .withAnnotations(podAnnotations(ie))
        .endMetadata()
        .withNewSpec()
        .withPriorityClassName(WarmPool.PRIORITY_CLASS)
        .withAutomountServiceAccountToken(false)
        .withEnableServiceLinks(false)
        // pause exits on SIGTERM at once: a preempted placeholder frees its GPU in moments.
        .withTerminationGracePeriodSeconds(5L)
        .withSecurityContext(PodSecurity.pod())
        .withNodeSelector(spec.getNodeSelector().isEmpty() ? null : spec.getNodeSelector())
        .withTolerations(spec.getTolerations().isEmpty() ? null : spec.getTolerations())
        .withImagePullSecrets(
            spec.getImagePullSecrets().isEmpty() ? null : spec.getImagePullSecrets())
        .withInitContainers(init)
        .withContainers(placeholder)
        .withVolumes(volumes)
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  private static Container server(InferenceEndpoint ie) {
    InferenceEndpointSpec spec = ie.getSpec();
    var probe =
        new HTTPGetActionBuilder()
            .withPath(spec.getHealthPath() == null ? "/health" : spec.getHealthPath())
            .withPort(new IntOrString(HTTP))
            .build();
    ContainerBuilder server =
        new ContainerBuilder()
            .withName(HelperContract.CONTAINER_SERVER)
            .withImage(spec.getImage())
            .withImagePullPolicy("IfNotPresent")
            .withCommand(spec.getCommand().isEmpty() ? null : spec.getCommand())
            .withArgs(spec.getArgs().isEmpty() ? null : spec.getArgs())
            // Empty rather than absent: JOSDK's template comparison expects lists and maps to be
            // there.
            .withEnv(new ArrayList<>(spec.getEnv()))
            .addNewPort()
            .withName(HTTP)
            .withContainerPort(port(ie))
            .withProtocol("TCP")
            .endPort()
            // A server that exits with an error leaves the tail of its log as its termination
            // message: the reason
            // it gives (a missing model, out of GPU memory) reaches ServerCrashLooping's message.
            .withTerminationMessagePolicy("FallbackToLogsOnError")
            .withResources(
                spec.getResources() == null
                    ? new ResourceRequirementsBuilder().build()
                    : spec.getResources())
            .withNewReadinessProbe()
            .withHttpGet(probe)
            .withPeriodSeconds(READINESS_PERIOD)
            .withFailureThreshold(READINESS_FAILURES)
            .endReadinessProbe()
            .withNewLivenessProbe()
            .withHttpGet(probe)
            .withInitialDelaySeconds(STARTUP_BUDGET_SECONDS)
            .withPeriodSeconds(LIVENESS_PERIOD)
            .withTimeoutSeconds(LIVENESS_TIMEOUT)
            .withFailureThreshold(LIVENESS_FAILURES)
            .endLivenessProbe()
            .withSecurityContext(PodSecurity.servingImage());
    if (spec.getModel() != null && spec.getModel().nodeCacheEnabled()) {
      // The pod's own directory in the node cache, which fetch-model filled with hard links to the
      // cached model.
      server
          .addToEnv(DownwardApi.field(SERVER_POD_NAMESPACE_ENV, "metadata.namespace"))
          .addToEnv(DownwardApi.field(SERVER_POD_UID_ENV, "metadata.uid"))
          .addToVolumeMounts(
              new VolumeMountBuilder()
                  .withName(MODEL_CACHE_VOLUME)
                  .withMountPath(modelPath(ie))
                  .withSubPathExpr(
                      HelperContract.CACHE_POD_DIRECTORIES
                          + "/$("
                          + SERVER_POD_NAMESPACE_ENV
                          + ")/$("
                          + SERVER_POD_UID_ENV
                          + ")")
                  .withReadOnly(true)
                  .build());
    } else if (spec.getModel() != null) {
      server.addToVolumeMounts(
          new VolumeMountBuilder()
              .withName(MODEL_VOLUME)
              .withMountPath(modelPath(ie))
              .withReadOnly(true)
              .build());
    }
    return server.build();
  }

  private static Container fetchModel(InferenceEndpoint ie, HelperSettings helpers) {
    var model = ie.getSpec().getModel();
    ContainerBuilder fetch =
        new ContainerBuilder()
            .withName(HelperContract.CONTAINER_FETCH_MODEL)
            .withImage(helpers.image())
            .withImagePullPolicy("IfNotPresent")
            .withArgs(HelperContract.COMMAND_FETCH_MODEL)
            // First: MODEL_PATH below refers to them, and $(VAR) only expands variables defined
            // before.
            .addAllToEnv(model.nodeCacheEnabled() ? DownwardApi.podIdentity() : List.of())
            .addToEnv(new EnvVar(HelperContract.ENV_MODEL_URI, model.getUri(), null))
            .addToEnv(
                new EnvVar(
                    HelperContract.ENV_MODEL_PATH,
                    model.nodeCacheEnabled()
                        ? MODEL_CACHE_MOUNT
                            + "/"
                            + HelperContract.CACHE_POD_DIRECTORIES
                            + "/$("
                            + HelperContract.ENV_POD_NAMESPACE
                            + ")/$("
                            + HelperContract.ENV_POD_UID
                            + ")"
                        : modelPath(ie),
                    null))
            .addToEnv(new EnvVar("JAVA_TOOL_OPTIONS", HelperSettings.FETCH_MODEL_JVM_OPTIONS, null))
            .withResources(
                new ResourceRequirementsBuilder()
                    .addToRequests("cpu", new Quantity("250m"))
                    .addToRequests("memory", new Quantity("384Mi"))
                    .addToLimits("memory", new Quantity("1Gi"))
                    .build())
            .withSecurityContext(PodSecurity.helper())
            // The JSON summary it leaves here feeds the operator's cold-start accounting.
            .withTerminationMessagePolicy("File");
    if (!model.nodeCacheEnabled()) {
      fetch
          .addNewVolumeMount()
          .withName(MODEL_VOLUME)
          .withMountPath(modelPath(ie))
          .endVolumeMount();
    } else {
      // The model goes to the pod's directory inside the cache: on the cache's own mount, so that a
      // model
      // already on the node is hard-linked there in well under a second (links cannot cross
      // mounts). The
      // server mounts just that directory, read-only. fetch-model clears the directories of pods
      // that are gone,
      // asking the operator which live here.
      fetch
          .withArgs(fetchModelCacheArgs(ie, helpers))
          .addNewVolumeMount()
          .withName(MODEL_CACHE_VOLUME)
          .withMountPath(MODEL_CACHE_MOUNT)
          .endVolumeMount()
          // The kubelet creates the hostPath directory owned by root, mode 0755: only root may
          // write there.
          // Root without any capability (no DAC override) can write only where root owns the files.
          .withSecurityContext(PodSecurity.rootWithoutCapabilities());
    }
    if (model.getCredentialsSecret() != null && !model.getCredentialsSecret().isBlank()) {
      // Only the download sees the credentials; the server never does.
      fetch
          .addNewEnvFrom()
          .withNewSecretRef()
          .withName(model.getCredentialsSecret())
          .endSecretRef()
          .endEnvFrom();
    }
    return fetch.build();
  }

  private static List<String> fetchModelCacheArgs(InferenceEndpoint ie, HelperSettings helpers) {
    List<String> args =
        new ArrayList<>(
            List.of(
                HelperContract.COMMAND_FETCH_MODEL,
                HelperContract.FETCH_OPTION_CACHE_DIR + "=" + MODEL_CACHE_MOUNT,
                HelperContract.FETCH_OPTION_CACHE_MAX_SIZE + "=" + nodeCacheMaxBytes(ie)));
    if (helpers.gateEnabled()) {
      args.add(
          HelperContract.FETCH_OPTION_CACHE_PODS_URL
              + "="
              + helpers.gateUrl().replaceAll("/+$", "")
              + HelperContract.PODS_PATH
              + "?"
              + HelperContract.PODS_QUERY_NODE
              + "=$("
              + HelperContract.ENV_NODE_NAME
              + ")");
    }
    return args;
  }

  /**
   * The model's volume: an emptyDir, or with spec.model.nodeCache the node cache's hostPath (the
   * server mounting its pod's directory in it).
   */
  private static List<Volume> modelVolumes(InferenceEndpoint ie) {
    var model = ie.getSpec().getModel();
    if (model == null || !model.nodeCacheEnabled()) {
      return List.of(
          new VolumeBuilder().withName(MODEL_VOLUME).withNewEmptyDir().endEmptyDir().build());
    }
    String path = model.getNodeCache().getPath();
    return List.of(
        new VolumeBuilder()
            .withName(MODEL_CACHE_VOLUME)
            .withNewHostPath()
            .withPath(path == null || path.isBlank() ? NodeCache.DEFAULT_PATH : path)
            .withType("DirectoryOrCreate")
            .endHostPath()
            .build());
  }

  /** spec.model.nodeCache.maxSize in bytes (default 500Gi). */
  static long nodeCacheMaxBytes(InferenceEndpoint ie) {
    Quantity size = ie.getSpec().getModel().getNodeCache().getMaxSize();
    try {
      if (size != null) {
        return Quantity.getAmountInBytes(size).setScale(0, RoundingMode.DOWN).longValueExact();
      }
    } catch (ArithmeticException | IllegalArgumentException e) {
      // not a quantity, or beyond 8 EiB: the default (fetch-model rejects non-positive sizes by not
      // caching)
    }
    return Quantity.getAmountInBytes(new Quantity(NodeCache.DEFAULT_MAX_SIZE)).longValueExact();
  }

  static String modelPath(InferenceEndpoint ie) {
    String path = ie.getSpec().getModel() == null ? null : ie.getSpec().getModel().getPath();
    return path == null ? "/models/model" : path;
  }

  public static Service service(InferenceEndpoint ie) {
    return new ServiceBuilder()
        .withMetadata(
            new ObjectMetaBuilder()
                .withName(serviceName(ie))
                .withNamespace(ie.getMetadata().getNamespace())
                .withLabels(labels(ie, Labels.COMPONENT_SERVER))
                .build())
        .withNewSpec()
        .withType("ClusterIP")
        .withSelector(selector(ie))
        .addNewPort()
        .withName(HTTP)
        .withPort(port(ie))
        .withTargetPort(new IntOrString(HTTP))
        .withProtocol("TCP")
        .endPort()
        .endSpec()
        .build();
  }

  /** The serving image, kept on every node of the endpoint's pool. */
  public static ImageCache imageCache(InferenceEndpoint ie) {
    InferenceEndpointSpec spec = ie.getSpec();
    ImageCache cache = new ImageCache();
    cache.setMetadata(
        new ObjectMetaBuilder()
            .withName(imageCacheName(ie))
            .withNamespace(ie.getMetadata().getNamespace())
            .withLabels(labels(ie, Labels.COMPONENT_IMAGE_CACHE))
            .build());
    ImageCacheSpec cacheSpec = new ImageCacheSpec();
    cacheSpec.setImages(new ArrayList<>(List.of(spec.getImage())));
    cacheSpec.setNodeSelector(new LinkedHashMap<>(spec.getNodeSelector()));
    cacheSpec.setTolerations(new ArrayList<>(spec.getTolerations()));
    cacheSpec.setImagePullSecrets(new ArrayList<>(spec.getImagePullSecrets()));
    cache.setSpec(cacheSpec);
    return cache;
  }
}
