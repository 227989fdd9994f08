package dev.warmstart.autoscale;

import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The replicas on their way, which the recommender counts as capacity: warm (sent to a node of the
 * warm pool) or cold, each kind with when its first one should be ready: its creation plus the
 * median start of that kind in the endpoint's recent cold starts. For the scale-up event, the log
 * and warmstart_autoscale_arriving_replicas.
 */
record Arrivals(int warm, int cold, Optional<Instant> warmReadyAt, Optional<Instant> coldReadyAt) {
  static final Arrivals NONE = new Arrivals(0, 0, Optional.empty(), Optional.empty());

  static Arrivals of(Collection<Pod> starting, ColdStart history) {
    Optional<Duration> warmStart = median(history, "Warm");
    Optional<Duration> coldStart = median(history, "Cold").or(() -> median(history, null));
    int warm = 0;
    int cold = 0;
    Optional<Instant> warmReady = Optional.empty();
    Optional<Instant> coldReady = Optional.empty();
    for (Pod pod : starting) {
      Instant created =
          pod.getMetadata().getCreationTimestamp() == null
              ? null
              : Instant.parse(pod.getMetadata().getCreationTimestamp());
      if (sentWarm(pod)) {
        warm++;
        warmReady =
            earliest(
                warmReady,
                warmStart.flatMap(
                    d -> created == null ? Optional.empty() : Optional.of(created.plus(d))));
      } else {
        cold++;
        coldReady =
            earliest(
                coldReady,
                coldStart.flatMap(
                    d -> created == null ? Optional.empty() : Optional.of(created.plus(d))));
      }
    }
    return new Arrivals(warm, cold, warmReady, coldReady);
  }

  /** For people: "1 warm (ready in ~25s), 2 cold (ready in ~4m10s)", or "none". */
  String describe(Instant now) {
    if (warm == 0 && cold == 0) {
      return "none";
    }
    List<String> parts = new ArrayList<>();
    if (warm > 0) {
      parts.add(warm + " warm" + eta(warmReadyAt, now));
    }
    if (cold > 0) {
      parts.add(cold + " cold" + eta(coldReadyAt, now));
    }
    return String.join(", ", parts);
  }

  private static String eta(Optional<Instant> at, Instant now) {
    return at.map(t -> Duration.between(now, t))
        .map(
            d ->
                d.isNegative()
                    ? " (due now)"
                    : " (ready in ~" + Durations.format(d.withNanos(0)) + ")")
        .orElse("");
  }

  /** The operator sent it to a warm node (see the warm placement): its start should be short. */
  static boolean sentWarm(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    String node = annotations == null ? null : annotations.get(Labels.WARM_NODE);
    return node != null && !node.isEmpty();
  }

  /** The median total of recent starts with {@code placement} (null: all of them). */
  private static Optional<Duration> median(ColdStart history, String placement) {
    if (history == null) {
      return Optional.empty();
    }
    List<Duration> totals =
        history.getRecent().stream()
            .filter(p -> placement == null || placement.equals(p.getPlacement()))
            .map(Phases::getTotal)
            .filter(t -> t != null)
            .map(Durations::parse)
            .sorted()
            .toList();
    return totals.isEmpty() ? Optional.empty() : Optional.of(totals.get((totals.size() - 1) / 2));
  }

  private static Optional<Instant> earliest(Optional<Instant> a, Optional<Instant> b) {
    if (a.isEmpty()) {
      return b;
    }
    return b.isPresent() && b.get().isBefore(a.get()) ? b : a;
  }
}
