package dev.warmstart.endpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.PodStatuses;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Where the time of each replica's cold start went, derived from its pod's status alone: scheduling
 * (created → bound), gate wait (the gate init container), model download (fetch-model's own measure
 * from its termination message, else its run time), image pull (from the last init container's end
 * to the server's start: the kubelet pulls the serving image then, unless it is cached), server
 * start (server start → first passed readiness check).
 */
public final class ColdStarts {
  public enum Phase {
    TOTAL("total"),
    SCHEDULING("scheduling"),
    GATE_WAIT("gateWait"),
    MODEL_DOWNLOAD("modelDownload"),
    IMAGE_PULL("imagePull"),
    SERVER_START("serverStart");

    public final String label;

    Phase(String label) {
      this.label = label;
    }
  }

  /**
   * A measured cold start: the phases in seconds, when the pod became ready, and the status form.
   */
  /**
   * @param placement Warm or Cold when the endpoint has a warm pool ({@link
   *     WarmPlacement#placement}), else null
   */
  public record Measured(
      String pod, String node, String placement, Instant readyAt, Map<Phase, Double> seconds) {
    public Phases toPhases() {
      Phases p = new Phases();
      p.setPod(pod);
      p.setNode(node);
      p.setPlacement(placement);
      p.setReadyAt(readyAt.toString());
      p.setTotal(format(seconds.get(Phase.TOTAL)));
      p.setScheduling(format(seconds.get(Phase.SCHEDULING)));
      p.setGateWait(format(seconds.get(Phase.GATE_WAIT)));
      p.setModelDownload(format(seconds.get(Phase.MODEL_DOWNLOAD)));
      p.setImagePull(format(seconds.get(Phase.IMAGE_PULL)));
      p.setServerStart(format(seconds.get(Phase.SERVER_START)));
      return p;
    }

    /** One line for the event and the log. */
    public String summary() {
      return "pod "
          + pod
          + " on "
          + (placement == null ? "" : placement.toLowerCase(java.util.Locale.ROOT) + " ")
          + "node "
          + node
          + " ready in "
          + format(seconds.get(Phase.TOTAL))
          + ": scheduling "
          + format(seconds.get(Phase.SCHEDULING))
          + ", gate wait "
          + format(seconds.get(Phase.GATE_WAIT))
          + ", model download "
          + format(seconds.get(Phase.MODEL_DOWNLOAD))
          + ", image pull "
          + format(seconds.get(Phase.IMAGE_PULL))
          + ", server start "
          + format(seconds.get(Phase.SERVER_START));
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private ColdStarts() {}

  /**
   * The cold start of a pod whose server has passed its readiness check, or empty while it is still
   * starting.
   */
  public static Optional<Measured> measure(Pod pod) {
    if (pod.getStatus() == null || pod.getMetadata().getCreationTimestamp() == null) {
      return Optional.empty();
    }
    Optional<Instant> ready =
        PodStatuses.condition(pod, "Ready")
            .filter(c -> "True".equals(c.getStatus()))
            .map(PodCondition::getLastTransitionTime)
            .map(Instant::parse);
    Optional<ContainerStatus> server = PodStatuses.container(pod, HelperContract.CONTAINER_SERVER);
    Optional<Instant> serverStarted =
        server
            .map(s -> s.getState() == null ? null : s.getState().getRunning())
            .map(
                r ->
                    r == null || r.getStartedAt() == null ? null : Instant.parse(r.getStartedAt()));
    if (ready.isEmpty() || serverStarted.isEmpty()) {
      return Optional.empty();
    }
    Instant created = Instant.parse(pod.getMetadata().getCreationTimestamp());
    Instant scheduled =
        PodStatuses.condition(pod, "PodScheduled")
            .filter(c -> "True".equals(c.getStatus()))
            .map(PodCondition::getLastTransitionTime)
            .map(Instant::parse)
            .orElse(created);
    Optional<ContainerStatus> gate = terminated(pod, HelperContract.CONTAINER_GATE);
    Optional<ContainerStatus> fetch = terminated(pod, HelperContract.CONTAINER_FETCH_MODEL);

    Map<Phase, Double> s = new EnumMap<>(Phase.class);
    s.put(Phase.TOTAL, seconds(created, ready.get()));
    s.put(Phase.SCHEDULING, seconds(created, scheduled));
    s.put(Phase.GATE_WAIT, gate.map(ColdStarts::runTime).orElse(0.0));
    s.put(Phase.MODEL_DOWNLOAD, fetch.map(f -> downloadSeconds(f).orElse(runTime(f))).orElse(0.0));
    Instant initDone =
        fetch
            .or(() -> gate)
            .map(c -> Instant.parse(c.getState().getTerminated().getFinishedAt()))
            .orElse(scheduled);
    s.put(Phase.IMAGE_PULL, seconds(initDone, serverStarted.get()));
    s.put(Phase.SERVER_START, seconds(serverStarted.get(), ready.get()));
    return Optional.of(
        new Measured(
            pod.getMetadata().getName(),
            pod.getSpec().getNodeName(),
            WarmPlacement.placement(pod),
            ready.get(),
            s));
  }

  /**
   * Cold starts not yet in {@code previous}: pods that became ready after the newest one recorded
   * (or at the same instant under another name), oldest first. Counting by ready time rather than
   * by remembered names keeps a restarted operator from counting old replicas again.
   */
  public static List<Measured> newSince(ColdStart previous, Collection<Pod> pods) {
    Instant newest =
        previous == null
                || previous.getRecent().isEmpty()
                || previous.getRecent().get(0).getReadyAt() == null
            ? Instant.MIN
            : Instant.parse(previous.getRecent().get(0).getReadyAt());
    List<String> known =
        previous == null ? List.of() : previous.getRecent().stream().map(Phases::getPod).toList();
    return pods.stream()
        .map(ColdStarts::measure)
        .flatMap(Optional::stream)
        // A recorded pod whose readiness flaps is not a new cold start.
        .filter(m -> !known.contains(m.pod()) && !m.readyAt().isBefore(newest))
        .sorted(Comparator.comparing(Measured::readyAt).thenComparing(Measured::pod))
        .toList();
  }

  /**
   * The status after recording {@code added}: last, recent (newest first, capped) and per-phase
   * medians.
   */
  public static ColdStart record(ColdStart previous, List<Measured> added) {
    if (added.isEmpty()) {
      return previous;
    }
    ColdStart next = new ColdStart();
    List<Phases> recent = new ArrayList<>();
    for (int i = added.size() - 1; i >= 0; i--) {
      recent.add(added.get(i).toPhases());
    }
    if (previous != null) {
      recent.addAll(previous.getRecent());
    }
    recent = recent.subList(0, Math.min(recent.size(), ColdStart.RECENT));
    next.setRecent(new ArrayList<>(recent));
    next.setLast(recent.get(0));
    next.setCount(
        (previous == null || previous.getCount() == null ? 0 : previous.getCount()) + added.size());
    Phases median = new Phases();
    median.setTotal(median(recent, Phases::getTotal));
    median.setScheduling(median(recent, Phases::getScheduling));
    median.setGateWait(median(recent, Phases::getGateWait));
    median.setModelDownload(median(recent, Phases::getModelDownload));
    median.setImagePull(median(recent, Phases::getImagePull));
    median.setServerStart(median(recent, Phases::getServerStart));
    next.setMedian(median);
    return next;
  }

  private static String median(List<Phases> recent, Function<Phases, String> phase) {
    List<Duration> values =
        recent.stream().map(phase).filter(v -> v != null).map(Durations::parse).sorted().toList();
    if (values.isEmpty()) {
      return null;
    }
    int n = values.size();
    Duration m =
        n % 2 == 1 ? values.get(n / 2) : values.get(n / 2 - 1).plus(values.get(n / 2)).dividedBy(2);
    return Durations.format(m);
  }

  /** fetch-model's termination message: {"bytes":N,"seconds":S,...}. */
  static Optional<Double> downloadSeconds(ContainerStatus fetch) {
    String message = fetch.getState().getTerminated().getMessage();
    if (message == null || message.isBlank()) {
      return Optional.empty();
    }
    try {
      JsonNode seconds = JSON.readTree(message).get(HelperContract.SUMMARY_SECONDS);
      if (seconds == null
          || !seconds.isNumber()
          || !Double.isFinite(seconds.asDouble())
          || seconds.asDouble() < 0) {
        return Optional.empty();
      }
      return Optional.of(seconds.asDouble());
    } catch (Exception e) {
      return Optional
          .empty(); // a truncated or foreign message: fall back to the container's run time
    }
  }

  /**
   * The reason fetch-model gave for failing ({"error":"..."}), or the raw message if it is not that
   * JSON.
   */
  static Optional<String> downloadError(String message) {
    if (message == null || message.isBlank()) {
      return Optional.empty();
    }
    try {
      JsonNode error = JSON.readTree(message).get(HelperContract.SUMMARY_ERROR);
      return Optional.of(error != null && error.isTextual() ? error.asText() : message.strip());
    } catch (Exception e) {
      return Optional.of(message.strip());
    }
  }

  private static double runTime(ContainerStatus c) {
    var t = c.getState().getTerminated();
    return t.getStartedAt() == null || t.getFinishedAt() == null
        ? 0.0
        : seconds(Instant.parse(t.getStartedAt()), Instant.parse(t.getFinishedAt()));
  }

  private static Optional<ContainerStatus> terminated(Pod pod, String name) {
    return PodStatuses.initContainer(pod, name)
        .filter(
            s ->
                s.getState() != null
                    && s.getState().getTerminated() != null
                    && s.getState().getTerminated().getFinishedAt() != null);
  }

  private static double seconds(Instant from, Instant to) {
    return Math.max(0, Duration.between(from, to).toMillis() / 1000.0);
  }

  private static String format(Double seconds) {
    return seconds == null ? null : Durations.format(Duration.ofMillis(Math.round(seconds * 1000)));
  }
}
