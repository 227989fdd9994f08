package dev.warmstart.gate;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Who may start a bulk transfer on a node, and when: a pure function of the request and the {@link
 * NodeSituation}. A model download waits for the serving image to be cached (when the endpoint
 * keeps one) and for a free transfer slot, except that it runs alongside the pre-pull of its own
 * serving image (the pod needs both, see {@link #IMAGE_PULLING}); a pre-pull waits for a free slot
 * unless a serving pod waiting at its gate needs one of its images. Deadlines are not decided here:
 * the in-pod gate gives up and proceeds on its own.
 */
public final class GatePolicy {
  /** The endpoint keeps no image cache: only the transfer slots matter. */
  public static final String CACHE_DISABLED = "CacheDisabled";

  /**
   * The endpoint keeps an image cache, but no ImageCache pod on the node holds the image: the
   * kubelet pulls it.
   */
  public static final String NO_CACHE_ON_NODE = "NoCacheOnNode";

  public static final String IMAGE_CACHED = "ImageCached";

  /**
   * The node's ImageCache pod is pulling the serving image: the download goes alongside it. The
   * serving pod needs both, so holding the download back cannot make it ready sooner, and it leaves
   * the link idle whenever the pull does not fill it: while containerd unpacks (the pull is
   * CPU-bound, well below a fast link), and when the registry caps each connection (a pull fetches
   * a few layers at a time). bench/coldstart.sh measured both: waiting made a new node slower than
   * Kubernetes' default order. Other transfers on the node still count against the slots.
   */
  public static final String IMAGE_PULLING = "ImagePulling";

  /** Fewer transfers than the per-node limit run on the node. */
  public static final String TRANSFER_SLOT_FREE = "TransferSlotFree";

  public static final String SERVING_POD_NEEDS_IMAGE = "ServingPodNeedsImage";
  public static final String IMAGE_NOT_CACHED = "ImageNotCached";
  public static final String TRANSFER_RUNNING = "TransferRunning";

  private final int maxPerNode;

  /**
   * @param maxPerNode how many bulk transfers may run at once on one node (at least 1)
   */
  public GatePolicy(int maxPerNode) {
    if (maxPerNode < 1) {
      throw new IllegalArgumentException("maxPerNode must be at least 1, was " + maxPerNode);
    }
    this.maxPerNode = maxPerNode;
  }

  public int maxPerNode() {
    return maxPerNode;
  }

  /**
   * A pod asking to start its transfer.
   *
   * @param pod namespace/name, for messages
   * @param imageCacheEnabled model downloads: whether the endpoint keeps its serving image cached
   * @param images model downloads: the serving image (or none); pre-pulls: the images the pod holds
   */
  public record Request(
      GateKind kind, String uid, String pod, boolean imageCacheEnabled, List<String> images) {
    public Request {
      images = List.copyOf(images);
    }

    /** The request a pod of the operator makes: what it needs, read from its spec. */
    public static Request of(GateKind kind, Pod pod) {
      return switch (kind) {
        case MODEL -> {
          String image = NodeSituation.serverImage(pod);
          yield new Request(
              kind,
              NodeSituation.uid(pod),
              NodeSituation.name(pod),
              NodeSituation.imageCacheEnabled(pod),
              image == null ? List.of() : List.of(image));
        }
        case PREPULL ->
            new Request(
                kind,
                NodeSituation.uid(pod),
                NodeSituation.name(pod),
                true,
                NodeSituation.cachedImages(pod));
      };
    }
  }

  public enum Outcome {
    GO,
    WAIT
  }

  /** The answer: go or wait, a CamelCase reason for machines and a sentence for people. */
  public record Decision(Outcome outcome, String reason, String message) {
    public static Decision go(String reason, String message) {
      return new Decision(Outcome.GO, reason, message);
    }

    public static Decision await(String reason, String message) {
      return new Decision(Outcome.WAIT, reason, message);
    }

    public boolean isGo() {
      return outcome == Outcome.GO;
    }

    /** "go" or "wait", as in the gate API and in metric tags. */
    public String decision() {
      return isGo() ? "go" : "wait";
    }
  }

  public Decision decide(Request request, NodeSituation node) {
    List<NodeSituation.Transfer> others = node.transfersExcept(request.uid());
    return switch (request.kind()) {
      case MODEL -> decideModel(request, node, others);
      case PREPULL -> decidePrePull(request, node, others);
    };
  }

  private Decision decideModel(
      Request request, NodeSituation node, List<NodeSituation.Transfer> others) {
    String image = request.images().isEmpty() ? null : request.images().get(0);
    Optional<Decision> busy = slotsFull(node, others);
    if (!request.imageCacheEnabled()) {
      return busy.orElseGet(
          () ->
              Decision.go(
                  CACHE_DISABLED, "the endpoint keeps no image cache; " + slots(node, others)));
    }
    if (!node.hasCacheFor(image)) {
      return busy.orElseGet(
          () ->
              Decision.go(
                  NO_CACHE_ON_NODE,
                  "no ImageCache on node "
                      + node.node()
                      + " holds "
                      + image
                      + " (the kubelet will pull it); "
                      + slots(node, others)));
    }
    if (!node.isCached(image)) {
      Optional<String> cachePod = node.cacheFor(image);
      List<NodeSituation.Transfer> notOwnPull =
          others.stream()
              .filter(
                  t ->
                      !(t.kind() == GateKind.PREPULL
                          && cachePod.isPresent()
                          && t.pod().equals(cachePod.get())))
              .toList();
      if (notOwnPull.size() < others.size()) {
        return slotsFull(node, notOwnPull)
            .orElseGet(
                () ->
                    Decision.go(
                        IMAGE_PULLING,
                        "image "
                            + image
                            + " is being pre-pulled on node "
                            + node.node()
                            + " by "
                            + cachePod.get()
                            + "; the download shares the link with it, since the pod needs both; "
                            + slots(node, notOwnPull)));
      }
      return Decision.await(
          IMAGE_NOT_CACHED,
          "image "
              + image
              + " is not cached on node "
              + node.node()
              + " yet; "
              + node.cacheFor(image).orElse("an ImageCache pod")
              + " pre-pulls it");
    }
    return busy.orElseGet(
        () -> Decision.go(IMAGE_CACHED, "image " + image + " is cached; " + slots(node, others)));
  }

  private Decision decidePrePull(
      Request request, NodeSituation node, List<NodeSituation.Transfer> others) {
    Optional<Map.Entry<String, String>> needed = node.neededAmong(request.images());
    if (needed.isPresent()) {
      return Decision.go(
          SERVING_POD_NEEDS_IMAGE,
          "serving pod "
              + needed.get().getValue()
              + " waits on node "
              + node.node()
              + " for image "
              + needed.get().getKey());
    }
    return slotsFull(node, others)
        .orElseGet(() -> Decision.go(TRANSFER_SLOT_FREE, slots(node, others)));
  }

  private String slots(NodeSituation node, List<NodeSituation.Transfer> others) {
    return others.size() + " of " + maxPerNode + " transfer slot(s) in use on node " + node.node();
  }

  private Optional<Decision> slotsFull(NodeSituation node, List<NodeSituation.Transfer> others) {
    if (others.size() < maxPerNode) {
      return Optional.empty();
    }
    return Optional.of(
        Decision.await(
            TRANSFER_RUNNING,
            others.size()
                + " transfer(s) running on node "
                + node.node()
                + " (at most "
                + maxPerNode
                + "): "
                + others.stream().map(Object::toString).collect(Collectors.joining("; "))));
  }
}
