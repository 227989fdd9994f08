package dev.warmstart.gate;

import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the gate knows about one node, read from the pods on it: which images are cached, which
 * images have a cache at all, which bulk transfers run, and which images the serving pods waiting
 * at their gate still need. Built by {@link #observe}, a pure function of the pods, the grants and
 * the waiters, so that every rule here is unit-testable.
 *
 * @param cached images with a running container in some image-cache pod on the node (canonical
 *     form)
 * @param caches every image some image-cache pod on the node holds, in any state, to that pod's
 *     name
 * @param transfers the model downloads and pre-pulls running (or about to run) on the node
 * @param needed images that serving pods waiting at their gate need and that are not cached yet, to
 *     that pod's name
 */
public record NodeSituation(
    String node,
    Set<String> cached,
    Map<String, String> caches,
    List<Transfer> transfers,
    Map<String, String> needed) {

  /** A bulk transfer on the node: whose it is and what it does, for messages. */
  public record Transfer(String uid, GateKind kind, String pod, String what) {
    @Override
    public String toString() {
      return kind.description() + " of " + pod + " (" + what + ")";
    }
  }

  /**
   * Init-container and container waiting reasons under which the container is about to start (its
   * image being pulled or the previous init container just finished). Any other waiting reason
   * (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError...) is a failure:
   * it moves no bytes and must not hold up other pods.
   */
  private static final Set<String> STARTING_REASONS =
      Set.of("ContainerCreating", "PodInitializing");

  public NodeSituation {
    cached = Set.copyOf(cached);
    caches = Map.copyOf(caches);
    transfers = List.copyOf(transfers);
    needed = Map.copyOf(needed);
  }

  public boolean isCached(String image) {
    return image != null && cached.contains(canonical(image));
  }

  public boolean hasCacheFor(String image) {
    return image != null && caches.containsKey(canonical(image));
  }

  /** The image-cache pod that holds {@code image} on this node, if any. */
  public Optional<String> cacheFor(String image) {
    return image == null ? Optional.empty() : Optional.ofNullable(caches.get(canonical(image)));
  }

  /** Transfers that compete with {@code uid}'s: all of them but its own. */
  public List<Transfer> transfersExcept(String uid) {
    return transfers.stream().filter(t -> !t.uid().equals(uid)).toList();
  }

  /** The first of {@code images} that a waiting serving pod needs, with that pod's name. */
  public Optional<Map.Entry<String, String>> neededAmong(Collection<String> images) {
    for (String image : images) {
      String pod = needed.get(canonical(image));
      if (pod != null) {
        return Optional.of(Map.entry(image, pod));
      }
    }
    return Optional.empty();
  }

  /**
   * Reads the situation on {@code node} from the pods there.
   *
   * @param pods the warmstart-managed pods bound to the node
   * @param grants when the gate last said go, by pod UID
   * @param waitingUids UIDs of the pods waiting at their gate on the node (any kind; only serving
   *     pods matter)
   * @param grantExpiry how long a grant counts as a transfer while the pod is not yet seen running
   *     it
   */
  public static NodeSituation observe(
      String node,
      Collection<Pod> pods,
      Map<String, Instant> grants,
      Set<String> waitingUids,
      Instant now,
      Duration grantExpiry) {
    Set<String> cached = new TreeSet<>();
    Map<String, String> caches = new LinkedHashMap<>();
    List<Transfer> transfers = new ArrayList<>();
    for (Pod pod : pods) {
      if (isFinished(pod)) {
        continue;
      }
      Instant grantedAt = grants.get(uid(pod));
      boolean granted = grantedAt != null && now.isBefore(grantedAt.plus(grantExpiry));
      if (isCachePod(pod)) {
        for (Container c : pod.getSpec().getContainers()) {
          if (c.getImage() == null) {
            continue;
          }
          caches.putIfAbsent(canonical(c.getImage()), name(pod));
          if (isRunning(
              status(
                  pod.getStatus() == null ? null : pod.getStatus().getContainerStatuses(),
                  c.getName()))) {
            cached.add(canonical(c.getImage()));
          }
        }
        prePull(pod, granted).ifPresent(transfers::add);
      } else if (fetchesModel(pod)) {
        modelDownload(pod, granted).ifPresent(transfers::add);
      }
    }
    Map<String, String> needed = new LinkedHashMap<>();
    for (Pod pod : pods) {
      if (fetchesModel(pod) && waitingUids.contains(uid(pod)) && imageCacheEnabled(pod)) {
        String image = serverImage(pod);
        if (image != null && !cached.contains(canonical(image))) {
          needed.putIfAbsent(canonical(image), name(pod));
        }
      }
    }
    return new NodeSituation(node, cached, caches, transfers, needed);
  }

  /**
   * A serving pod downloads its model while fetch-model runs; it is about to once its gate has
   * opened (seen terminated, or granted within the expiry) and fetch-model has not finished.
   */
  static Optional<Transfer> modelDownload(Pod pod, boolean granted) {
    if (!hasInitContainer(pod, HelperContract.CONTAINER_FETCH_MODEL)) {
      return Optional.empty();
    }
    ContainerStatus fetch = initStatus(pod, HelperContract.CONTAINER_FETCH_MODEL);
    if (isRunning(fetch)) {
      return Optional.of(new Transfer(uid(pod), GateKind.MODEL, name(pod), "fetch-model running"));
    }
    if (isTerminated(fetch) || !isStarting(fetch)) {
      return Optional.empty();
    }
    if (succeeded(initStatus(pod, HelperContract.CONTAINER_GATE))) {
      return Optional.of(
          new Transfer(uid(pod), GateKind.MODEL, name(pod), "gate passed, fetch-model starting"));
    }
    if (granted) {
      return Optional.of(
          new Transfer(uid(pod), GateKind.MODEL, name(pod), "granted, fetch-model starting"));
    }
    return Optional.empty();
  }

  /**
   * An image-cache pod pre-pulls once all its init containers (the gate last) have finished, or its
   * gate was granted, until each of its image containers runs or has failed to pull.
   */
  static Optional<Transfer> prePull(Pod pod, boolean granted) {
    List<ContainerStatus> inits =
        pod.getStatus() == null ? null : pod.getStatus().getInitContainerStatuses();
    boolean initsDone =
        pod.getSpec().getInitContainers().stream()
            .allMatch(c -> succeeded(status(inits, c.getName())));
    if (!initsDone && !granted) {
      return Optional.empty();
    }
    List<ContainerStatus> statuses =
        pod.getStatus() == null ? null : pod.getStatus().getContainerStatuses();
    List<String> pulling =
        pod.getSpec().getContainers().stream()
            .filter(c -> isStarting(status(statuses, c.getName())))
            .map(Container::getImage)
            .toList();
    if (pulling.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(
        new Transfer(
            uid(pod), GateKind.PREPULL, name(pod), "pulling " + String.join(", ", pulling)));
  }

  /**
   * A pod that downloads a model before its main container: a serving pod or a warm-pool
   * placeholder.
   */
  static boolean fetchesModel(Pod pod) {
    String component = label(pod, Labels.COMPONENT);
    return Labels.COMPONENT_SERVER.equals(component)
        || Labels.COMPONENT_WARM_POOL.equals(component);
  }

  static boolean isCachePod(Pod pod) {
    return Labels.COMPONENT_IMAGE_CACHE.equals(label(pod, Labels.COMPONENT));
  }

  /**
   * Only an explicit "false" turns the wait for the cache off: a cache on the node is worth waiting
   * for.
   */
  static boolean imageCacheEnabled(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    return annotations == null
        || !"false".equalsIgnoreCase(annotations.get(Labels.IMAGE_CACHE_ENABLED));
  }

  /** The serving image: the server's, or the one a warm-pool placeholder holds. */
  static String serverImage(Pod pod) {
    return pod.getSpec().getContainers().stream()
        .filter(
            c ->
                HelperContract.CONTAINER_SERVER.equals(c.getName())
                    || HelperContract.CONTAINER_PLACEHOLDER.equals(c.getName()))
        .map(Container::getImage)
        .findFirst()
        .orElse(null);
  }

  /** The images an image-cache pod holds, in container order. */
  static List<String> cachedImages(Pod pod) {
    return pod.getSpec().getContainers().stream()
        .map(Container::getImage)
        .filter(i -> i != null)
        .toList();
  }

  /**
   * One spelling per image, so that {@code vllm/vllm-openai:v1} and {@code
   * docker.io/vllm/vllm-openai:v1} compare equal (the default registry, the library/ namespace of
   * single-name images, and the latest tag filled in).
   */
  static String canonical(String image) {
    String s = image.trim();
    String digest = "";
    int at = s.indexOf('@');
    if (at >= 0) {
      digest = s.substring(at);
      s = s.substring(0, at);
    }
    int slash = s.indexOf('/');
    String first = slash < 0 ? "" : s.substring(0, slash);
    boolean hasDomain =
        slash >= 0 && (first.contains(".") || first.contains(":") || first.equals("localhost"));
    if (!hasDomain) {
      s = "docker.io/" + s;
    } else if (first.equals("index.docker.io") || first.equals("registry-1.docker.io")) {
      s = "docker.io" + s.substring(slash);
    }
    if (s.startsWith("docker.io/") && s.indexOf('/', "docker.io/".length()) < 0) {
      s = "docker.io/library/" + s.substring("docker.io/".length());
    }
    if (digest.isEmpty() && s.indexOf(':', s.lastIndexOf('/')) < 0) {
      s = s + ":latest";
    }
    return s + digest;
  }

  private static boolean isFinished(Pod pod) {
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    return "Succeeded".equals(phase) || "Failed".equals(phase);
  }

  private static boolean hasInitContainer(Pod pod, String name) {
    return pod.getSpec().getInitContainers().stream().anyMatch(c -> name.equals(c.getName()));
  }

  private static ContainerStatus initStatus(Pod pod, String name) {
    return status(
        pod.getStatus() == null ? null : pod.getStatus().getInitContainerStatuses(), name);
  }

  private static ContainerStatus status(List<ContainerStatus> statuses, String name) {
    if (statuses == null) {
      return null;
    }
    return statuses.stream().filter(s -> name.equals(s.getName())).findFirst().orElse(null);
  }

  private static boolean isRunning(ContainerStatus status) {
    return status != null && status.getState() != null && status.getState().getRunning() != null;
  }

  private static boolean isTerminated(ContainerStatus status) {
    return status != null && status.getState() != null && status.getState().getTerminated() != null;
  }

  private static boolean succeeded(ContainerStatus status) {
    return isTerminated(status)
        && Integer.valueOf(0).equals(status.getState().getTerminated().getExitCode());
  }

  /**
   * Not started yet but on its way: no status, no state, or waiting for a reason that is not a
   * failure.
   */
  private static boolean isStarting(ContainerStatus status) {
    if (status == null || status.getState() == null) {
      return true;
    }
    ContainerState state = status.getState();
    if (state.getRunning() != null || state.getTerminated() != null) {
      return false;
    }
    return state.getWaiting() == null
        || state.getWaiting().getReason() == null
        || STARTING_REASONS.contains(state.getWaiting().getReason());
  }

  private static String label(Pod pod, String key) {
    Map<String, String> labels = pod.getMetadata().getLabels();
    return labels == null ? null : labels.get(key);
  }

  static String uid(Pod pod) {
    return pod.getMetadata().getUid();
  }

  static String name(Pod pod) {
    return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
  }
}
