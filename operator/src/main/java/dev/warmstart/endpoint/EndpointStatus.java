package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.PodStatuses;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An InferenceEndpoint's status from what one round observed ({@link EndpointObservation}): a pure
 * function.
 */
public final class EndpointStatus {
  public static final String READY = "Ready";
  public static final String IMAGE_CACHED = "ImageCached";
  public static final String PROGRESSING = "Progressing";
  public static final String DEGRADED = "Degraded";

  private static final Set<String> PULL_FAILURES =
      Set.of(
          "ErrImagePull",
          "ImagePullBackOff",
          "InvalidImageName",
          "RegistryUnavailable",
          "SignatureValidationFailed",
          "ErrImageNeverPull");

  /** How much of the server's last log line goes into a condition's message. */
  static final int MAX_LAST_WORDS = 300;

  private EndpointStatus() {}

  /** What is wrong with the pods, if anything, as a Degraded condition's reason and message. */
  record Problem(String reason, String message) {}

  /**
   * The finished status after a round: replicas, conditions (with the transition times of the
   * previous status kept where nothing changed), the autoscaler's part with spec.autoscaling and
   * the warm pool's with spec.warmPool.
   */
  public static InferenceEndpointStatus compute(EndpointObservation seen, Instant now) {
    InferenceEndpoint ie = seen.endpoint();
    InferenceEndpointStatus previous = ie.getStatus();
    InferenceEndpointStatus status = new InferenceEndpointStatus();
    status.setObservedGeneration(ie.getMetadata().getGeneration());
    status.setSelector(EndpointModel.selectorString(ie));
    status.setUrl(EndpointModel.url(ie));
    status.setColdStart(seen.coldStart());
    List<Condition> conditions = new ArrayList<>(serving(seen, status));
    if (ie.getSpec().getAutoscaling() != null) {
      conditions.addAll(autoscaling(seen, previous, status));
    } else if (previous != null) { // from when autoscaling was on, kept as they are
      status.setDesiredReplicas(previous.getDesiredReplicas());
      status.setLastScaleTime(previous.getLastScaleTime());
    }
    if (ie.getSpec().warmPoolSize() > 0) {
      status.setWarmPool(WarmPlacement.status(ie, seen.placeholders()));
      conditions.add(WarmPlacement.condition(ie, seen.placeholders(), seen.priorityClassProblem()));
    }
    status.setConditions(
        Conditions.merge(
            previous == null ? null : previous.getConditions(),
            conditions,
            ie.getMetadata().getGeneration(),
            now));
    return status;
  }

  /** Replica counts into {@code status}; Ready, ImageCached, Progressing and Degraded returned. */
  private static List<Condition> serving(EndpointObservation seen, InferenceEndpointStatus status) {
    InferenceEndpoint ie = seen.endpoint();
    Deployment deployment = seen.deployment();
    var ds = deployment == null ? null : deployment.getStatus();
    int replicas = ds == null || ds.getReplicas() == null ? 0 : ds.getReplicas();
    int ready = ds == null || ds.getReadyReplicas() == null ? 0 : ds.getReadyReplicas();
    int updated = ds == null || ds.getUpdatedReplicas() == null ? 0 : ds.getUpdatedReplicas();
    Integer specReplicas =
        deployment == null || deployment.getSpec() == null
            ? null
            : deployment.getSpec().getReplicas();
    int desired =
        specReplicas != null
            ? specReplicas
            : EndpointModel.replicas(ie) == null ? 1 : EndpointModel.replicas(ie);
    status.setReplicas(replicas);
    status.setReadyReplicas(ready);

    List<Pod> live =
        seen.pods().stream().filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
    Optional<Problem> problem = problem(ie, live, seen.missingCredentials(), seen.health());
    Optional<String> unschedulable =
        live.stream()
            .map(PodStatuses::unschedulable)
            .flatMap(Optional::stream)
            .map(PodCondition::getMessage)
            .findFirst();
    boolean observed =
        deployment != null
            && ds != null
            && ds.getObservedGeneration() != null
            && ds.getObservedGeneration() >= deployment.getMetadata().getGeneration();

    return List.of(
        readyCondition(desired, ready, observed, problem, unschedulable),
        imageCachedCondition(ie, seen.cache()),
        progressingCondition(deployment == null, observed, desired, replicas, updated, ready),
        problem
            .map(p -> new Condition(DEGRADED, Condition.TRUE, p.reason(), p.message()))
            .orElse(new Condition(DEGRADED, Condition.FALSE, "AsExpected", "no failures")));
  }

  /**
   * desiredReplicas, lastScaleTime and currentMetrics into {@code status}; the three autoscaling
   * conditions returned.
   */
  private static List<Condition> autoscaling(
      EndpointObservation seen, InferenceEndpointStatus previous, InferenceEndpointStatus status) {
    Autoscaler.Outcome scaling = seen.scaling();
    String lastScale = previous == null ? null : previous.getLastScaleTime();
    if (scaling == null) {
      // No Deployment yet (or no autoscaler in this process): say so rather than leave the
      // conditions out.
      status.setDesiredReplicas(previous == null ? null : previous.getDesiredReplicas());
      status.setLastScaleTime(lastScale);
      return List.of(
          new Condition(
              Autoscaler.ABLE_TO_SCALE,
              Condition.FALSE,
              seen.autoscalerRuns() ? "NoScaleTarget" : "AutoscalerOff",
              seen.autoscalerRuns()
                  ? "the Deployment does not exist yet"
                  : "this operator runs without the autoscaler"));
    }
    status.setDesiredReplicas(scaling.desiredReplicas());
    status.setLastScaleTime(
        scaling.lastScale() != null
            ? scaling.lastScale().truncatedTo(ChronoUnit.SECONDS).toString()
            : lastScale);
    status.setCurrentMetrics(scaling.currentMetrics());
    return scaling.conditions();
  }

  private static Condition readyCondition(
      int desired,
      int ready,
      boolean observed,
      Optional<Problem> problem,
      Optional<String> unschedulable) {
    if (desired == 0) {
      return new Condition(
          READY, Condition.FALSE, "ScaledToZero", "the endpoint is scaled to zero replicas");
    }
    if (observed && ready >= desired) {
      return new Condition(
          READY, Condition.TRUE, "ReplicasReady", ready + "/" + desired + " replicas ready");
    }
    String counts = ready + "/" + desired + " replicas ready";
    if (problem.isPresent()) {
      return new Condition(
          READY, Condition.FALSE, problem.get().reason(), counts + "; " + problem.get().message());
    }
    if (unschedulable.isPresent()) {
      return new Condition(
          READY,
          Condition.FALSE,
          "Unschedulable",
          counts + "; a replica waits for a node with room: " + unschedulable.get());
    }
    return new Condition(
        READY, Condition.FALSE, "ReplicasStarting", counts + "; replicas are starting");
  }

  private static Condition imageCachedCondition(InferenceEndpoint ie, ImageCache cache) {
    if (!ie.getSpec().imageCacheEnabled()) {
      return new Condition(
          IMAGE_CACHED,
          Condition.FALSE,
          "CachingDisabled",
          "spec.imageCache.enabled is false: each new replica's node pulls the serving image when the replica starts");
    }
    if (cache == null || cache.getStatus() == null) {
      return new Condition(
          IMAGE_CACHED,
          Condition.UNKNOWN,
          "Reconciling",
          "the serving image's ImageCache is being created");
    }
    Condition cacheReady = Conditions.find(cache.getStatus().getConditions(), "Ready").orElse(null);
    if (cacheReady == null) {
      return new Condition(
          IMAGE_CACHED,
          Condition.UNKNOWN,
          "Reconciling",
          "the serving image's ImageCache has no status yet");
    }
    return new Condition(
        IMAGE_CACHED,
        cacheReady.getStatus(),
        cacheReady.getReason(),
        "ImageCache " + cache.getMetadata().getName() + ": " + cacheReady.getMessage());
  }

  private static Condition progressingCondition(
      boolean noDeployment, boolean observed, int desired, int replicas, int updated, int ready) {
    if (noDeployment || !observed) {
      return new Condition(
          PROGRESSING, Condition.TRUE, "Reconciling", "the Deployment is being updated");
    }
    if (updated < desired || replicas > desired) {
      return new Condition(
          PROGRESSING,
          Condition.TRUE,
          "RollingOut",
          updated + "/" + desired + " replicas run the current spec");
    }
    if (ready < desired) {
      return new Condition(
          PROGRESSING,
          Condition.TRUE,
          "ReplicasStarting",
          ready + "/" + desired + " replicas ready");
    }
    return new Condition(
        PROGRESSING,
        Condition.FALSE,
        "Complete",
        "every replica runs the current spec and is ready");
  }

  /** The first thing a user must fix, in order of how certainly it blocks a replica. */
  static Optional<Problem> problem(
      InferenceEndpoint ie,
      List<Pod> pods,
      String missingCredentials,
      Map<String, HealthChecks.Answer> health) {
    if (missingCredentials != null) {
      return Optional.of(
          new Problem(
              "CredentialsSecretNotFound",
              "secret "
                  + missingCredentials
                  + " (spec.model."
                  + "credentialsSecret) not found in namespace "
                  + ie.getMetadata().getNamespace()
                  + ": create it with the download credentials, or remove the field to use the pod's identity"));
    }
    for (Pod pod : sorted(pods)) {
      Optional<Problem> lostNode = nodeNotReady(pod);
      if (lostNode.isPresent()) {
        return lostNode; // what else its status says is stale: the node stopped reporting
      }
      Optional<ContainerStatus> server =
          PodStatuses.container(pod, HelperContract.CONTAINER_SERVER);
      String waiting = server.map(PodStatuses::waitingReason).orElse(null);
      if (waiting != null && PULL_FAILURES.contains(waiting)) {
        return Optional.of(
            new Problem(
                "ImagePullFailed",
                "serving image "
                    + ie.getSpec().getImage()
                    + " cannot be pulled on node "
                    + pod.getSpec().getNodeName()
                    + " ("
                    + waiting
                    + ": "
                    + server.get().getState().getWaiting().getMessage()
                    + "): check spec.image and spec.imagePullSecrets"));
      }
      Optional<ContainerStatus> helperPull =
          PodStatuses.initContainers(pod).stream()
              .filter(
                  c ->
                      PodStatuses.waitingReason(c) != null
                          && PULL_FAILURES.contains(PodStatuses.waitingReason(c)))
              .findFirst();
      if (helperPull.isPresent()) {
        return Optional.of(
            new Problem(
                "HelperImageUnavailable",
                "the "
                    + helperPull.get().getName()
                    + " init container's image "
                    + helperPull.get().getImage()
                    + " cannot be pulled on node "
                    + pod.getSpec().getNodeName()
                    + ": check the operator's --helper-image setting and that the nodes can pull it"));
      }
      Optional<ContainerStatus> fetch =
          PodStatuses.initContainer(pod, HelperContract.CONTAINER_FETCH_MODEL);
      Optional<String> fetchError = fetch.flatMap(EndpointStatus::failure);
      if (fetchError.isPresent()) {
        return Optional.of(
            new Problem(
                "ModelDownloadFailed",
                "fetch-model failed in pod "
                    + pod.getMetadata().getName()
                    + ": "
                    + fetchError.get()));
      }
      if ("CrashLoopBackOff".equals(waiting)) {
        return Optional.of(
            new Problem(
                "ServerCrashLooping",
                "the server in pod "
                    + pod.getMetadata().getName()
                    + " keeps exiting"
                    + lastExit(server.get())
                    + ": see kubectl logs "
                    + pod.getMetadata().getName()
                    + " -c server --previous"));
      }
      if ("CreateContainerConfigError".equals(waiting)) {
        return Optional.of(
            new Problem(
                "InvalidPodConfiguration", server.get().getState().getWaiting().getMessage()));
      }
      HealthChecks.Answer answer = health.get(pod.getMetadata().getName());
      if (answer != null
          && answer.rejectsThePath()
          && server.isPresent()
          && server.get().getState() != null
          && server.get().getState().getRunning() != null) {
        String path =
            ie.getSpec().getHealthPath() == null ? "/health" : ie.getSpec().getHealthPath();
        return Optional.of(
            new Problem(
                "HealthCheckFailing",
                "the server in pod "
                    + pod.getMetadata().getName()
                    + " runs since "
                    + server.get().getState().getRunning().getStartedAt()
                    + " but answers GET "
                    + path
                    + " on port "
                    + EndpointModel.port(ie)
                    + " with "
                    + answer.status()
                    + ", so its readiness probe cannot pass:"
                    + " set spec.healthPath to the path where the server says it is ready (vLLM and TGI: /health, Triton:"
                    + " /v2/health/ready)"));
      }
    }
    return Optional.empty();
  }

  /**
   * A pod the node controller marked not ready because its node stopped reporting (kubelet down,
   * node unreachable): its containers last said they were ready, the pod is not. Without readiness
   * gates, which serving pods do not have, the kubelet itself never reports the two apart.
   */
  private static Optional<Problem> nodeNotReady(Pod pod) {
    Optional<PodCondition> ready = PodStatuses.condition(pod, "Ready");
    if (ready.isEmpty()
        || !"False".equals(ready.get().getStatus())
        || !PodStatuses.isTrue(pod, "ContainersReady")) {
      return Optional.empty();
    }
    String node = pod.getSpec().getNodeName();
    return Optional.of(
        new Problem(
            "NodeNotReady",
            "pod "
                + pod.getMetadata().getName()
                + " on node "
                + node
                + " is not ready since "
                + ready.get().getLastTransitionTime()
                + ": node "
                + node
                + " stopped reporting (its"
                + " kubelet is down or the node is unreachable); check it with kubectl describe node "
                + node
                + ". The replica"
                + " counts again when the node is back; if the node stays away, Kubernetes evicts the pod (after 5 minutes"
                + " by default) and the Deployment replaces it"));
  }

  /**
   * " (exit code 1: the last line it wrote)": how the server's last run ended. Its termination
   * message is the tail of its log when it fails (terminationMessagePolicy FallbackToLogsOnError),
   * so the reason a server gives for exiting (a missing model, out of GPU memory) reaches the
   * status.
   */
  static String lastExit(ContainerStatus server) {
    var last = server.getLastState() == null ? null : server.getLastState().getTerminated();
    if (last == null || last.getExitCode() == null) {
      return "";
    }
    String words =
        last.getMessage() == null
            ? ""
            : last.getMessage()
                .strip()
                .lines()
                .map(String::strip)
                .filter(l -> !l.isEmpty())
                .reduce((a, b) -> b)
                .orElse("");
    if (words.length() > MAX_LAST_WORDS) {
      words = words.substring(0, MAX_LAST_WORDS) + "...";
    }
    return " (exit code " + last.getExitCode() + (words.isEmpty() ? "" : ": " + words) + ")";
  }

  private static List<Pod> sorted(List<Pod> pods) {
    return pods.stream().sorted(Comparator.comparing(p -> p.getMetadata().getName())).toList();
  }

  /**
   * A failed download: the init container exited non-zero (its message says why) or crash-loops.
   */
  private static Optional<String> failure(ContainerStatus fetch) {
    var last = fetch.getLastState() == null ? null : fetch.getLastState().getTerminated();
    var now = fetch.getState() == null ? null : fetch.getState().getTerminated();
    if (now != null && Integer.valueOf(0).equals(now.getExitCode())) {
      return Optional.empty(); // the latest run completed
    }
    var failed =
        now != null && now.getExitCode() != null && now.getExitCode() != 0
            ? now
            : last != null && last.getExitCode() != null && last.getExitCode() != 0 ? last : null;
    if (failed == null) {
      return Optional.empty();
    }
    return Optional.of(
        ColdStarts.downloadError(failed.getMessage()).orElse("exit code " + failed.getExitCode()));
  }
}
