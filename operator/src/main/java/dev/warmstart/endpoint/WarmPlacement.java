package dev.warmstart.endpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.WarmPoolStatus;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import dev.warmstart.kube.PodStatuses;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodSchedulingGate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Where the serving pods of an endpoint with a warm pool go, as pure functions of the pods.
 *
 * <p>Such pods are created behind the {@link Labels#WARM_PLACEMENT_GATE} scheduling gate. The
 * operator lifts it, and while the pod is still gated it may also narrow its node affinity
 * (Kubernetes allows both on a gated pod): to a warm node when one is free, so that the scheduler
 * preempts that node's placeholder rather than pick a cold node with a free GPU; to nothing when
 * none is, so the pod schedules as usual. A plain preferred affinity could not do this: the
 * scheduler preempts only when no node fits, and a free cold node fits.
 */
final class WarmPlacement {
  /** WarmPoolReady's reasons. */
  static final String WARM_POOL_READY = "WarmPoolReady";

  static final String WARM = "Warm";
  static final String WARMING = "Warming";
  static final String COLD = "Cold";
  static final String UNSCHEDULABLE = "PlaceholdersUnschedulable";
  static final String PRIORITY_CLASS_MISSING = "PriorityClassMissing";

  /**
   * By default, a pod sent to a warm node that is still unschedulable this long after, with no
   * preemption under way, is deleted: its ReplicaSet makes a new one, placed again without that
   * node.
   */
  static final Duration STUCK_AFTER = Duration.ofSeconds(60);

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Lift {@code pod}'s gate, pinning it to {@code node} first, or to no node when null. */
  record Release(Pod pod, String node) {}

  private WarmPlacement() {}

  static boolean isGated(Pod pod) {
    return pod.getMetadata().getDeletionTimestamp() == null
        && pod.getSpec().getSchedulingGates() != null
        && pod.getSpec().getSchedulingGates().stream()
            .anyMatch(g -> Labels.WARM_PLACEMENT_GATE.equals(g.getName()));
  }

  /**
   * The nodes held warm for {@code ie}, by name: a placeholder of the current spec (serving image
   * and model) is ready there, so the image is on the node and the weights in its cache.
   */
  static List<String> warmNodes(InferenceEndpoint ie, Collection<Pod> placeholders) {
    Set<String> nodes = new TreeSet<>();
    for (Pod p : placeholders) {
      if (p.getMetadata().getDeletionTimestamp() == null
          && PodStatuses.isReady(p)
          && isCurrent(p, ie)
          && p.getSpec().getNodeName() != null) {
        nodes.add(p.getSpec().getNodeName());
      }
    }
    return List.copyOf(nodes);
  }

  /**
   * Which gated serving pods to release, oldest first, and where: each to a warm node not already
   * promised to another pod still on its way there, nor in {@code avoid}; the rest anywhere.
   */
  static List<Release> plan(
      InferenceEndpoint ie,
      Collection<Pod> serving,
      Collection<Pod> placeholders,
      Set<String> avoid) {
    List<String> free = new ArrayList<>(warmNodes(ie, placeholders));
    free.removeAll(avoid);
    for (Pod pod : serving) {
      String promised = warmNode(pod);
      if (promised != null
          && pod.getSpec().getNodeName() == null
          && pod.getMetadata().getDeletionTimestamp() == null) {
        free.remove(promised);
      }
    }
    List<Release> releases = new ArrayList<>();
    Iterator<String> next = free.iterator();
    serving.stream()
        .filter(WarmPlacement::isGated)
        .sorted(
            Comparator.comparing(
                    (Pod p) -> p.getMetadata().getCreationTimestamp(),
                    Comparator.nullsLast(Comparator.naturalOrder()))
                .thenComparing(p -> p.getMetadata().getName()))
        .forEach(
            pod ->
                releases.add(
                    new Release(
                        pod,
                        next.hasNext() && pod.getSpec().getAffinity() == null
                            ? next.next()
                            : null)));
    return releases;
  }

  /**
   * Pods sent to a warm node that cannot get there: unschedulable for {@code stuckAfter} (see
   * {@link #STUCK_AFTER}), and the scheduler nominated no node (it would, were it preempting the
   * placeholder).
   */
  static List<Pod> stuck(Collection<Pod> serving, Instant now, Duration stuckAfter) {
    return serving.stream()
        .filter(
            p ->
                warmNode(p) != null
                    && p.getSpec().getNodeName() == null
                    && p.getMetadata().getDeletionTimestamp() == null
                    && (p.getStatus() == null || p.getStatus().getNominatedNodeName() == null))
        .filter(
            p ->
                PodStatuses.unschedulable(p)
                    .map(
                        c ->
                            c.getLastTransitionTime() != null
                                && !Instant.parse(c.getLastTransitionTime())
                                    .plus(stuckAfter)
                                    .isAfter(now))
                    .orElse(false))
        .toList();
  }

  /**
   * When the next of the pods on their way to a warm node would count as stuck, if any is on its
   * way.
   */
  static Optional<Instant> nextStuckCheck(Collection<Pod> serving, Duration stuckAfter) {
    return serving.stream()
        .filter(
            p ->
                warmNode(p) != null
                    && p.getSpec().getNodeName() == null
                    && p.getMetadata().getDeletionTimestamp() == null)
        .map(
            p ->
                PodStatuses.unschedulable(p)
                    .map(PodCondition::getLastTransitionTime)
                    .filter(Objects::nonNull)
                    .map(Instant::parse)
                    .orElse(null))
        .filter(Objects::nonNull)
        .map(t -> t.plus(stuckAfter))
        .min(Comparator.naturalOrder());
  }

  /** The warm node the operator sent {@code pod} to, if it did. */
  static String warmNode(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    String node = annotations == null ? null : annotations.get(Labels.WARM_NODE);
    return node == null || node.isEmpty() ? null : node;
  }

  /**
   * Warm or Cold for a pod the operator placed (it runs on the warm node it was sent to, or it was
   * sent to none), null for a pod it never placed (the endpoint had no warm pool).
   */
  static String placement(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    if (annotations == null || !annotations.containsKey(Labels.WARM_NODE)) {
      return null;
    }
    String node = warmNode(pod);
    return node != null && node.equals(pod.getSpec().getNodeName()) ? WARM : COLD;
  }

  /**
   * The JSON patch that releases a pod: checks that it is still the same pod with the same gates (a
   * concurrent change makes the API server refuse it), pins it to the node and lifts the gate.
   */
  static String patch(Release release) {
    Pod pod = release.pod();
    List<PodSchedulingGate> gates = pod.getSpec().getSchedulingGates();
    List<PodSchedulingGate> rest =
        gates.stream().filter(g -> !Labels.WARM_PLACEMENT_GATE.equals(g.getName())).toList();
    List<Map<String, Object>> ops = new ArrayList<>();
    ops.add(op("test", "/metadata/uid", pod.getMetadata().getUid()));
    ops.add(op("test", "/spec/schedulingGates", gates));
    if (release.node() != null) {
      ops.add(
          op(
              "add",
              "/spec/affinity",
              Map.of(
                  "nodeAffinity",
                  Map.of(
                      "requiredDuringSchedulingIgnoredDuringExecution",
                      Map.of(
                          "nodeSelectorTerms",
                          List.of(
                              Map.of(
                                  "matchFields",
                                  List.of(
                                      Map.of(
                                          "key",
                                          "metadata.name",
                                          "operator",
                                          "In",
                                          "values",
                                          List.of(release.node()))))))))));
    }
    // The node it was sent to, or "" for none: the cold-start accounting tells warm starts from
    // cold ones.
    String node = release.node() == null ? "" : release.node();
    if (pod.getMetadata().getAnnotations() == null) {
      ops.add(op("add", "/metadata/annotations", Map.of(Labels.WARM_NODE, node)));
    } else {
      ops.add(
          op(
              "add",
              "/metadata/annotations/" + Labels.WARM_NODE.replace("~", "~0").replace("/", "~1"),
              node));
    }
    ops.add(
        rest.isEmpty()
            ? op("remove", "/spec/schedulingGates", null)
            : op("replace", "/spec/schedulingGates", rest));
    try {
      return JSON.writeValueAsString(ops);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Map<String, Object> op(String op, String path, Object value) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("op", op);
    m.put("path", path);
    if (!"remove".equals(op)) {
      m.put("value", value);
    }
    return m;
  }

  /** status.warmPool: the nodes held warm, against the desired count. */
  static WarmPoolStatus status(InferenceEndpoint ie, Collection<Pod> placeholders) {
    WarmPoolStatus status = new WarmPoolStatus();
    status.setDesired(ie.getSpec().warmPoolSize());
    List<String> nodes = warmNodes(ie, placeholders);
    status.setReady(nodes.size());
    status.setNodes(new ArrayList<>(nodes));
    placeholders.stream()
        .filter(
            p ->
                p.getMetadata().getDeletionTimestamp() == null
                    && PodStatuses.isReady(p)
                    && isCurrent(p, ie))
        .map(
            p ->
                PodStatuses.condition(p, "Ready")
                    .map(PodCondition::getLastTransitionTime)
                    .orElse(null))
        .filter(Objects::nonNull)
        .max(Comparator.comparing(Instant::parse))
        .ifPresent(status::setLastRefillTime);
    return status;
  }

  /**
   * WarmPoolReady. {@code priorityClassProblem}: why the placeholders' PriorityClass is missing, or
   * null.
   */
  static Condition condition(
      InferenceEndpoint ie, Collection<Pod> placeholders, String priorityClassProblem) {
    int desired = ie.getSpec().warmPoolSize();
    int ready = warmNodes(ie, placeholders).size();
    if (priorityClassProblem != null) {
      return new Condition(
          WARM_POOL_READY, Condition.FALSE, PRIORITY_CLASS_MISSING, priorityClassProblem);
    }
    if (ready >= desired) {
      return new Condition(
          WARM_POOL_READY,
          Condition.TRUE,
          WARM,
          ready
              + " of "
              + desired
              + " nodes warm: "
              + String.join(", ", warmNodes(ie, placeholders)));
    }
    List<Pod> unschedulable =
        placeholders.stream()
            .filter(
                p ->
                    p.getMetadata().getDeletionTimestamp() == null
                        && p.getSpec().getNodeName() == null)
            .filter(p -> PodStatuses.unschedulable(p).isPresent())
            .toList();
    if (!unschedulable.isEmpty()) {
      String why =
          PodStatuses.unschedulable(unschedulable.get(0)).map(PodCondition::getMessage).orElse("");
      return new Condition(
          WARM_POOL_READY,
          Condition.FALSE,
          UNSCHEDULABLE,
          ready
              + " of "
              + desired
              + " nodes warm; "
              + unschedulable.size()
              + " placeholder(s) cannot be scheduled: "
              + why
              + " The pool has no free GPU node for them; they wait for one (Karpenter or Cluster Autoscaler add it), "
              + "or lower spec.warmPool.replicas.");
    }
    return new Condition(
        WARM_POOL_READY,
        Condition.FALSE,
        WARMING,
        ready
            + " of "
            + desired
            + " nodes warm; the other placeholders are pulling the image or downloading the weights");
  }

  /**
   * A placeholder of the endpoint's current spec: it holds the serving image, and it fetched the
   * current model (or there is none).
   */
  static boolean isCurrent(Pod placeholder, InferenceEndpoint ie) {
    String image =
        placeholder.getSpec().getContainers().stream()
            .filter(c -> HelperContract.CONTAINER_PLACEHOLDER.equals(c.getName()))
            .map(Container::getImage)
            .findFirst()
            .orElse(null);
    String uri =
        placeholder.getSpec().getInitContainers().stream()
            .filter(c -> HelperContract.CONTAINER_FETCH_MODEL.equals(c.getName()))
            .flatMap(
                c ->
                    c.getEnv() == null
                        ? java.util.stream.Stream.<EnvVar>empty()
                        : c.getEnv().stream())
            .filter(e -> HelperContract.ENV_MODEL_URI.equals(e.getName()))
            .map(EnvVar::getValue)
            .findFirst()
            .orElse(null);
    String wanted = ie.getSpec().getModel() == null ? null : ie.getSpec().getModel().getUri();
    return Objects.equals(image, ie.getSpec().getImage()) && Objects.equals(uri, wanted);
  }
}
