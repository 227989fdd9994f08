package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.CachedImage;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.NodeCounts;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.PullFailure;
import dev.warmstart.kube.PodStatuses;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Where an ImageCache's images are, computed from its DaemonSet and pods: a pure function, so every
 * case (a 5,000-node pool, a failed pull, a tag that moved) is a unit test.
 */
public final class CacheStatus {
  public static final String READY = "Ready";
  public static final String DEGRADED = "Degraded";

  /** Waiting reasons that mean "still on the way", not "failed". */
  private static final Set<String> IN_PROGRESS =
      Set.of("ContainerCreating", "PodInitializing", "Pulling");

  /** Waiting reasons of a failed pull: the registry said no, or cannot be reached. */
  private static final Set<String> PULL_FAILURES =
      Set.of(
          "ErrImagePull",
          "ImagePullBackOff",
          "RegistryUnavailable",
          "SignatureValidationFailed",
          "ErrImageNeverPull");

  /**
   * Reason prefixes of failures of the install-pause init container rather than of a cached image.
   */
  private static final String HELPER_IMAGE = "HelperImage";

  private static final String HELPER_FAILED = "HelperFailed";

  private CacheStatus() {}

  enum State {
    CACHED,
    PULLING,
    FAILED
  }

  /** One image on one node. */
  record Observation(
      String node, String image, State state, String digest, String reason, String message) {}

  /**
   * The finished status after a round: {@link #compute(ImageCache, DaemonSet, Collection, List)},
   * with the transition times of the previous status's conditions kept where nothing changed.
   */
  public static ImageCacheStatus compute(
      ImageCache cache,
      DaemonSet daemonSet,
      Collection<Pod> pods,
      List<String> missingPullSecrets,
      Instant now) {
    ImageCacheStatus status = compute(cache, daemonSet, pods, missingPullSecrets);
    ImageCacheStatus previous = cache.getStatus();
    status.setConditions(
        Conditions.merge(
            previous == null ? null : previous.getConditions(),
            status.getConditions(),
            cache.getMetadata().getGeneration(),
            now));
    return status;
  }

  /**
   * @param daemonSet the cache's DaemonSet as last seen, or null before it exists
   * @param pods the DaemonSet's pods
   * @param missingPullSecrets names in spec.imagePullSecrets that do not exist
   */
  public static ImageCacheStatus compute(
      ImageCache cache,
      DaemonSet daemonSet,
      Collection<Pod> pods,
      List<String> missingPullSecrets) {
    List<String> images = cache.getSpec().getImages();
    List<Observation> observations = observe(images, pods);

    // Per node, the worst state over the images: a node is cached only when it holds all of them.
    Map<String, Map<String, Observation>> byNode = new TreeMap<>();
    for (Observation o : observations) {
      byNode
          .computeIfAbsent(o.node(), n -> new HashMap<>())
          .merge(o.image(), o, CacheStatus::better);
    }
    int cached = 0;
    int failed = 0;
    for (Map<String, Observation> perImage : byNode.values()) {
      if (images.stream()
          .allMatch(i -> perImage.containsKey(i) && perImage.get(i).state() == State.CACHED)) {
        cached++;
      } else if (perImage.values().stream().anyMatch(o -> o.state() == State.FAILED)) {
        failed++;
      }
    }
    boolean dsObserved =
        daemonSet != null
            && daemonSet.getStatus() != null
            && daemonSet.getStatus().getObservedGeneration() != null
            && daemonSet.getStatus().getObservedGeneration()
                >= daemonSet.getMetadata().getGeneration();
    int desired =
        dsObserved ? nullToZero(daemonSet.getStatus().getDesiredNumberScheduled()) : byNode.size();
    desired = Math.max(desired, cached + failed);
    int pulling = desired - cached - failed;

    ImageCacheStatus status = new ImageCacheStatus();
    status.setObservedGeneration(cache.getMetadata().getGeneration());
    status.setNodes(new NodeCounts(desired, cached, pulling, failed));
    status.setImages(images.stream().map(i -> perImage(i, byNode)).toList());
    List<PullFailure> failures =
        observations.stream()
            .filter(o -> o.state() == State.FAILED)
            .filter(o -> byNode.get(o.node()).get(o.image()).state() == State.FAILED)
            .sorted(Comparator.comparing(Observation::node).thenComparing(Observation::image))
            .map(o -> new PullFailure(o.node(), o.image(), o.reason(), o.message()))
            .distinct()
            .limit(ImageCacheStatus.MAX_FAILURES)
            .toList();
    status.setFailures(failures);
    status.setConditions(
        List.of(
            ready(status.getNodes(), dsObserved, images.size()),
            degraded(cache, status.getNodes(), failures, missingPullSecrets)));
    return status;
  }

  static List<Observation> observe(List<String> images, Collection<Pod> pods) {
    List<Observation> out = new ArrayList<>();
    for (Pod pod : pods) {
      String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
      if (node == null || pod.getMetadata().getDeletionTimestamp() != null) {
        continue;
      }
      Map<String, String> imageOfContainer =
          pod.getSpec().getContainers().stream()
              .collect(Collectors.toMap(Container::getName, Container::getImage, (a, b) -> a));
      // The helper image of install-pause can fail to pull too; then no cache container can start.
      ContainerStatus helperFailure =
          PodStatuses.initContainers(pod).stream()
              .filter(CacheStatus::failedWaiting)
              .findFirst()
              .orElse(null);
      for (Map.Entry<String, String> c : imageOfContainer.entrySet()) {
        if (!images.contains(c.getValue())) {
          continue; // a pod of an older template, rolling out
        }
        ContainerStatus cs = PodStatuses.container(pod, c.getKey()).orElse(null);
        out.add(
            helperFailure != null
                    && (cs == null || cs.getState() == null || cs.getState().getRunning() == null)
                ? helperFailed(node, c.getValue(), helperFailure)
                : classify(node, c.getValue(), cs));
      }
    }
    return out;
  }

  /**
   * install-pause cannot run, so no cache container can start: say whether its image or the helper
   * is at fault.
   */
  private static Observation helperFailed(String node, String image, ContainerStatus helper) {
    var waiting = helper.getState().getWaiting();
    boolean pull =
        PULL_FAILURES.contains(waiting.getReason())
            || "InvalidImageName".equals(waiting.getReason());
    return new Observation(
        node,
        image,
        State.FAILED,
        null,
        (pull ? HELPER_IMAGE : HELPER_FAILED) + waiting.getReason(),
        "the install-pause init container (image "
            + helper.getImage()
            + ") cannot "
            + (pull ? "be pulled" : "run")
            + (waiting.getMessage() == null ? "" : ": " + waiting.getMessage()));
  }

  private static Observation classify(String node, String image, ContainerStatus cs) {
    if (cs == null || cs.getState() == null) {
      return new Observation(node, image, State.PULLING, null, null, null);
    }
    if (cs.getState().getRunning() != null) {
      return new Observation(node, image, State.CACHED, digest(cs.getImageID()), null, null);
    }
    if (cs.getState().getWaiting() != null) {
      var waiting = cs.getState().getWaiting();
      if (waiting.getReason() == null || IN_PROGRESS.contains(waiting.getReason())) {
        return new Observation(node, image, State.PULLING, null, null, null);
      }
      return new Observation(
          node, image, State.FAILED, null, waiting.getReason(), waiting.getMessage());
    }
    var terminated = cs.getState().getTerminated();
    return new Observation(
        node,
        image,
        State.FAILED,
        digest(cs.getImageID()),
        terminated.getReason() == null ? "Terminated" : terminated.getReason(),
        "the cache container exited with code " + terminated.getExitCode());
  }

  private static boolean failedWaiting(ContainerStatus cs) {
    return cs.getState() != null
        && cs.getState().getWaiting() != null
        && cs.getState().getWaiting().getReason() != null
        && !IN_PROGRESS.contains(cs.getState().getWaiting().getReason());
  }

  /** Two pods on one node during a rollout: the better observation wins. */
  private static Observation better(Observation a, Observation b) {
    return a.state().ordinal() <= b.state().ordinal() ? a : b;
  }

  /** "docker-pullable://repo@sha256:abc" or "repo@sha256:abc" or "sha256:abc" → "sha256:abc". */
  static String digest(String imageId) {
    if (imageId == null || imageId.isBlank()) {
      return null;
    }
    int at = imageId.lastIndexOf('@');
    String d = at >= 0 ? imageId.substring(at + 1) : imageId;
    return d.startsWith("sha256:") ? d : null;
  }

  private static CachedImage perImage(String image, Map<String, Map<String, Observation>> byNode) {
    List<Observation> cachedOn =
        byNode.values().stream()
            .map(m -> m.get(image))
            .filter(o -> o != null && o.state() == State.CACHED)
            .toList();
    // Nodes may disagree when a tag moved; report the digest most nodes hold.
    String digest =
        cachedOn.stream()
            .map(Observation::digest)
            .filter(d -> d != null)
            .collect(Collectors.groupingBy(d -> d, TreeMap::new, Collectors.counting()))
            .entrySet()
            .stream()
            .max(Map.Entry.comparingByValue())
            .map(Map.Entry::getKey)
            .orElse(null);
    return new CachedImage(image, digest, cachedOn.size());
  }

  private static Condition ready(NodeCounts n, boolean dsObserved, int imageCount) {
    if (!dsObserved && n.getDesired() == 0) {
      return new Condition(
          READY,
          Condition.FALSE,
          "Reconciling",
          "waiting for the DaemonSet controller to place the cache pods");
    }
    if (n.getDesired() == 0) {
      return new Condition(
          READY,
          Condition.FALSE,
          "NoMatchingNodes",
          "no node matches spec.nodeSelector, spec.nodeAffinity and spec.tolerations: compare them with "
              + "kubectl get nodes --show-labels and the nodes' taints");
    }
    if (n.getCached() == n.getDesired()) {
      return new Condition(
          READY,
          Condition.TRUE,
          "AllNodesCached",
          "all " + n.getDesired() + " nodes hold " + plural(imageCount, "image"));
    }
    return new Condition(
        READY,
        Condition.FALSE,
        n.getPulling() > 0 ? "Pulling" : "PullFailed",
        n.getCached()
            + " of "
            + n.getDesired()
            + " nodes hold "
            + plural(imageCount, "image")
            + "; "
            + n.getPulling()
            + " pulling, "
            + n.getFailed()
            + " failed");
  }

  private static Condition degraded(
      ImageCache cache, NodeCounts n, List<PullFailure> failures, List<String> missingPullSecrets) {
    if (!missingPullSecrets.isEmpty()) {
      return new Condition(
          DEGRADED,
          Condition.TRUE,
          "PullSecretNotFound",
          "image pull "
              + (missingPullSecrets.size() == 1 ? "secret " : "secrets ")
              + String.join(", ", missingPullSecrets)
              + " not found in namespace "
              + cache.getMetadata().getNamespace()
              + ": create "
              + (missingPullSecrets.size() == 1 ? "it" : "them")
              + " or remove "
              + (missingPullSecrets.size() == 1 ? "it" : "them")
              + " from spec.imagePullSecrets");
    }
    if (n.getFailed() > 0 && !failures.isEmpty()) {
      PullFailure first = failures.get(0);
      Map<String, Long> reasons =
          failures.stream()
              .collect(
                  Collectors.groupingBy(
                      PullFailure::getReason, LinkedHashMap::new, Collectors.counting()));
      String reason;
      String advice;
      if (first.getReason().startsWith(HELPER_IMAGE)) {
        reason = "HelperImageUnavailable";
        advice = "check the operator's --helper-image setting and that the nodes can pull it";
      } else if (first.getReason().startsWith(HELPER_FAILED)) {
        reason = "HelperFailed";
        advice =
            "see the install-pause container's log with kubectl logs -c install-pause on that node's cache pod";
      } else if ("InvalidImageName".equals(first.getReason())) {
        reason = "InvalidImageName";
        advice = "fix the image reference in spec.images";
      } else if (PULL_FAILURES.contains(first.getReason())) {
        reason = "ImagePullFailed";
        advice =
            "check that the image and tag exist and that spec.imagePullSecrets grant access to the registry";
      } else {
        reason = "CacheContainerFailed";
        advice = "see kubectl describe pod on that node";
      }
      return new Condition(
          DEGRADED,
          Condition.TRUE,
          reason,
          plural(n.getFailed(), "node")
              + " failed ("
              + reasons.keySet().stream().collect(Collectors.joining(", "))
              + "); first: image "
              + first.getImage()
              + " on node "
              + first.getNode()
              + ": "
              + (first.getMessage() == null ? first.getReason() : first.getMessage())
              + ". "
              + capitalize(advice));
    }
    return new Condition(DEGRADED, Condition.FALSE, "AsExpected", "no failures");
  }

  private static String plural(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  private static String capitalize(String s) {
    return Character.toUpperCase(s.charAt(0)) + s.substring(1);
  }

  private static int nullToZero(Integer i) {
    return i == null ? 0 : i;
  }
}
