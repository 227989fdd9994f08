package dev.warmstart.autoscale;

import dev.warmstart.api.v1alpha1.Autoscaling;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The replica count an endpoint should have, computed the way autoscaling/v2's
 * HorizontalPodAutoscaler computes it (kube-controller-manager's replica calculator and behavior
 * normalization), with two changes for LLM serving: replicas still starting count as capacity on
 * the way, and a metric that cannot be read holds the current count instead of letting other
 * metrics scale down.
 *
 * <p>Pure: readings, pods and the past go in, a decision and the new past come out.
 */
public final class Recommender {
  /** kube-controller-manager's default --horizontal-pod-autoscaler-tolerance. */
  public static final double TOLERANCE = 0.1;

  static final Rules DEFAULT_UP = new Rules(0, Select.MAX, List.of());
  static final Rules DEFAULT_DOWN = new Rules(300, Select.MAX, List.of(new Policy(false, 100, 15)));

  private Recommender() {}

  public enum Select {
    MAX,
    MIN,
    DISABLED
  }

  /**
   * A change limit: {@code value} pods (or percent when {@code percent}) per {@code periodSeconds}.
   */
  public record Policy(boolean percent, int value, int periodSeconds) {}

  public record Rules(int stabilizationSeconds, Select select, List<Policy> policies) {
    int longestPeriod() {
      return policies.stream().mapToInt(Policy::periodSeconds).max().orElse(0);
    }
  }

  /** One metric's target: per replica ({@code average}) or for the metric as a whole. */
  public record Target(boolean average, double value) {}

  public record Spec(int minReplicas, int maxReplicas, List<Target> targets, Rules up, Rules down) {
    /** The spec of an endpoint's {@code spec.autoscaling}, with warmstart's defaults filled in. */
    public static Spec of(Autoscaling a) {
      List<Target> targets = new ArrayList<>();
      for (Autoscaling.MetricSpec m : a.getMetrics()) {
        Autoscaling.MetricTarget t =
            "Pods".equals(m.getType()) ? m.getPods().getTarget() : m.getPrometheus().getTarget();
        boolean average = "AverageValue".equals(t.getType());
        targets.add(
            new Target(average, Quantities.toDouble(average ? t.getAverageValue() : t.getValue())));
      }
      Autoscaling.Behavior b = a.getBehavior();
      return new Spec(
          a.getMinReplicas() == null ? 1 : a.getMinReplicas(),
          a.getMaxReplicas(),
          targets,
          rules(b == null ? null : b.getScaleUp(), DEFAULT_UP),
          rules(b == null ? null : b.getScaleDown(), DEFAULT_DOWN));
    }

    private static Rules rules(Autoscaling.ScalingRules r, Rules defaults) {
      if (r == null) {
        return defaults;
      }
      List<Policy> policies =
          r.getPolicies() == null || r.getPolicies().isEmpty()
              ? defaults.policies()
              : r.getPolicies().stream()
                  .map(
                      p ->
                          new Policy(
                              "Percent".equals(p.getType()), p.getValue(), p.getPeriodSeconds()))
                  .toList();
      Select select =
          r.getSelectPolicy() == null
              ? Select.MAX
              : Select.valueOf(r.getSelectPolicy().toUpperCase());
      int window =
          r.getStabilizationWindowSeconds() == null
              ? defaults.stabilizationSeconds()
              : r.getStabilizationWindowSeconds();
      return new Rules(window, select, policies);
    }
  }

  /** What was read for one metric. */
  public sealed interface Reading {
    /** Per ready pod that answered, its value; {@code unanswered} ready pods gave none. */
    record PerPod(Map<String, Double> values, int unanswered) implements Reading {}

    /** One value for the metric as a whole (a Prometheus query). */
    record Whole(double value) implements Reading {}

    record Failed(String reason, String message) implements Reading {}
  }

  /**
   * The scale target: {@code current} is the Deployment's spec.replicas; {@code ready} the ready
   * serving pods; {@code starting} the replicas on their way (pods not ready yet, and replicas the
   * Deployment has been asked for but has not created).
   */
  public record Replicas(int current, int ready, int starting) {}

  record Recommendation(Instant at, int replicas) {}

  record ScaleEvent(Instant at, int change) {}

  /** What the recommender remembers between decisions, as the HPA keeps it in memory. */
  public record History(
      List<Recommendation> recommendations, List<ScaleEvent> ups, List<ScaleEvent> downs) {
    public static final History EMPTY = new History(List.of(), List.of(), List.of());

    /** The history after the scale target went from {@code from} to {@code to} at {@code at}. */
    public History scaled(Instant at, int from, int to) {
      if (to > from) {
        return new History(recommendations, append(ups, new ScaleEvent(at, to - from)), downs);
      }
      if (to < from) {
        return new History(recommendations, ups, append(downs, new ScaleEvent(at, from - to)));
      }
      return this;
    }

    private static <T> List<T> append(List<T> list, T item) {
      List<T> out = new ArrayList<>(list);
      out.add(item);
      return List.copyOf(out);
    }
  }

  /** A condition the decision reports: AbleToScale, ScalingActive or ScalingLimited. */
  public record Verdict(boolean status, String reason, String message) {}

  /**
   * {@code desired}: the count to write; {@code proposals}: per metric, the count it alone asks for
   * (-1 when it failed); {@code next}: the history to keep.
   */
  public record Decision(
      int desired,
      List<Integer> proposals,
      Verdict ableToScale,
      Verdict scalingActive,
      Verdict scalingLimited,
      History next) {
    public boolean rescale(int current) {
      return desired != current;
    }
  }

  public static Decision decide(
      Spec spec, List<Reading> readings, Replicas replicas, History history, Instant now) {
    int current = replicas.current();
    List<Integer> proposals = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    String firstFailureReason = null;
    int metricDesired = -1;
    for (int i = 0; i < readings.size(); i++) {
      Reading r = readings.get(i);
      if (r instanceof Reading.Failed f) {
        proposals.add(-1);
        failures.add("metric " + (i + 1) + ": " + f.message());
        firstFailureReason = firstFailureReason == null ? f.reason() : firstFailureReason;
        continue;
      }
      int p = propose(spec.targets().get(i), r, replicas);
      if (p < 0) {
        proposals.add(-1);
        failures.add("metric " + (i + 1) + ": no ready pod answered");
        firstFailureReason =
            firstFailureReason == null ? "FailedGetPodsMetric" : firstFailureReason;
        continue;
      }
      proposals.add(p);
      metricDesired = Math.max(metricDesired, p);
    }
    History kept = prune(history, spec, now);

    if (current > spec.maxReplicas() || current < spec.minReplicas()) {
      // Outside the bounds (a spec change, someone scaling by hand): back inside first, as the HPA
      // does.
      int desired = Math.max(spec.minReplicas(), Math.min(spec.maxReplicas(), current));
      boolean tooMany = current > spec.maxReplicas();
      return new Decision(
          desired,
          proposals,
          new Verdict(true, "SucceededRescale", "the count is brought within bounds"),
          active(failures, firstFailureReason, metricDesired),
          new Verdict(
              true,
              tooMany ? "TooManyReplicas" : "TooFewReplicas",
              "the current replica count is "
                  + (tooMany ? "above maxReplicas" : "below minReplicas")),
          kept);
    }
    // Hold when nothing could be read, or when a metric failed and the others would scale down:
    // an outage must never look like idleness.
    if (metricDesired < 0 || (!failures.isEmpty() && metricDesired < current)) {
      return new Decision(
          current,
          proposals,
          new Verdict(true, "ReadyForNewScale", "holding the current count"),
          new Verdict(
              false,
              firstFailureReason,
              "holding " + current + " replicas: " + String.join("; ", failures)),
          new Verdict(
              false, "DesiredWithinRange", "the desired count is within the acceptable range"),
          kept);
    }

    // Stabilization: scale up to the lowest recommendation of the up-window, down to the highest of
    // the down-window.
    Instant upCutoff = now.minusSeconds(spec.up().stabilizationSeconds());
    Instant downCutoff = now.minusSeconds(spec.down().stabilizationSeconds());
    int upRecommendation = metricDesired;
    int downRecommendation = metricDesired;
    for (Recommendation rec : kept.recommendations()) {
      if (rec.at().isAfter(upCutoff)) {
        upRecommendation = Math.min(upRecommendation, rec.replicas());
      }
      if (rec.at().isAfter(downCutoff)) {
        downRecommendation = Math.max(downRecommendation, rec.replicas());
      }
    }
    int stabilized = current;
    stabilized = Math.max(stabilized, upRecommendation);
    stabilized = Math.min(stabilized, downRecommendation);
    List<Recommendation> recs = new ArrayList<>(kept.recommendations());
    recs.add(new Recommendation(now, metricDesired));
    History next = new History(List.copyOf(recs), kept.ups(), kept.downs());

    Verdict able;
    if (stabilized != metricDesired) {
      boolean heldDown = stabilized > metricDesired;
      able =
          new Verdict(
              true,
              heldDown ? "ScaleDownStabilized" : "ScaleUpStabilized",
              heldDown
                  ? "recent recommendations were higher than current one, applying the highest recent recommendation"
                  : "recent recommendations were lower than current one, applying the lowest recent recommendation");
    } else {
      able = new Verdict(true, "ReadyForNewScale", "recommended size matches current size");
    }

    int desired = stabilized;
    Verdict limited =
        new Verdict(
            false, "DesiredWithinRange", "the desired count is within the acceptable range");
    if (stabilized > current) {
      int upLimit = Math.max(current, limit(spec.up(), current, kept, now, true));
      int maxAllowed = Math.min(spec.maxReplicas(), upLimit);
      if (stabilized > maxAllowed) {
        desired = maxAllowed;
        limited =
            upLimit < spec.maxReplicas()
                ? new Verdict(
                    true,
                    "ScaleUpLimit",
                    "the desired replica count is increasing faster than the maximum scale rate")
                : new Verdict(
                    true,
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count");
      }
    } else if (stabilized < current) {
      int downLimit = Math.min(current, limit(spec.down(), current, kept, now, false));
      int minAllowed = Math.max(spec.minReplicas(), downLimit);
      if (stabilized < minAllowed) {
        desired = minAllowed;
        limited =
            downLimit > spec.minReplicas()
                ? new Verdict(
                    true,
                    "ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate")
                : new Verdict(
                    true,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count");
      }
    }
    return new Decision(
        desired,
        proposals,
        able,
        active(failures, firstFailureReason, metricDesired),
        limited,
        next);
  }

  private static Verdict active(List<String> failures, String reason, int metricDesired) {
    if (metricDesired < 0) {
      return new Verdict(false, reason, String.join("; ", failures));
    }
    return new Verdict(
        true,
        "ValidMetricFound",
        failures.isEmpty()
            ? "the replica count is computed from the metrics"
            : "scaling up on the metrics that could be read; " + String.join("; ", failures));
  }

  /**
   * The count one metric asks for, as autoscaling/v2 computes it; -1 when there is nothing to go
   * on.
   */
  static int propose(Target target, Reading reading, Replicas replicas) {
    int current = replicas.current();
    if (reading instanceof Reading.PerPod pods) {
      if (pods.values().isEmpty()) {
        return -1;
      }
      if (target.average()) {
        return perPodAverage(target.value(), pods, replicas);
      }
      double total = pods.values().values().stream().mapToDouble(Double::doubleValue).sum();
      return wholeValue(total / target.value(), replicas);
    }
    double value = ((Reading.Whole) reading).value();
    if (target.average()) {
      // External AverageValue: the total over the target per replica, and replicas still starting
      // are
      // part of spec.replicas, so they count as capacity on the way.
      if (current == 0) {
        return (int) Math.ceil(value / target.value());
      }
      double ratio = value / (target.value() * current);
      return Math.abs(1.0 - ratio) <= TOLERANCE ? current : (int) Math.ceil(value / target.value());
    }
    return wholeValue(value / target.value(), replicas);
  }

  /**
   * A Value target: the ratio scales the ready pods (kube-controller-manager's
   * getUsageRatioReplicaCount).
   */
  private static int wholeValue(double ratio, Replicas replicas) {
    int current = replicas.current();
    if (current == 0) {
      return (int) Math.ceil(ratio);
    }
    if (Math.abs(1.0 - ratio) <= TOLERANCE) {
      return current;
    }
    if (replicas.ready() == 0) {
      // Every replica is still starting (kubernetes#130130): the HPA would compute 0 here. The
      // replicas on their way are the capacity; wait for them rather than guess.
      return current;
    }
    return (int) Math.ceil(ratio * replicas.ready());
  }

  /**
   * kube-controller-manager's calcPlainMetricReplicas: pods that did not answer count as exactly on
   * target when scaling down and as idle when scaling up; replicas still starting count as idle
   * when scaling up (capacity on the way) and are left out when scaling down.
   */
  private static int perPodAverage(double target, Reading.PerPod pods, Replicas replicas) {
    int current = replicas.current();
    double sum = pods.values().values().stream().mapToDouble(Double::doubleValue).sum();
    int counted = pods.values().size();
    double usageRatio = sum / counted / target;
    boolean rebalanceStarting = replicas.starting() > 0 && usageRatio > 1.0;
    if (!rebalanceStarting && pods.unanswered() == 0) {
      return Math.abs(1.0 - usageRatio) <= TOLERANCE
          ? current
          : (int) Math.ceil(usageRatio * counted);
    }
    double newSum = sum;
    int newCount = counted;
    if (pods.unanswered() > 0) {
      newSum += usageRatio < 1.0 ? target * pods.unanswered() : 0;
      newCount += pods.unanswered();
    }
    if (rebalanceStarting) {
      newCount += replicas.starting();
    }
    double newRatio = newSum / newCount / target;
    if (Math.abs(1.0 - newRatio) <= TOLERANCE
        || usageRatio < 1.0 && newRatio > 1.0
        || usageRatio > 1.0 && newRatio < 1.0) {
      return current;
    }
    int proposed = (int) Math.ceil(newRatio * newCount);
    if (newRatio < 1.0 && proposed > current || newRatio > 1.0 && proposed < current) {
      return current;
    }
    return proposed;
  }

  /** The furthest the count may move from {@code current} under the direction's policies. */
  static int limit(Rules rules, int current, History history, Instant now, boolean up) {
    if (rules.select() == Select.DISABLED) {
      return current;
    }
    if (rules.policies().isEmpty()) {
      return up ? Integer.MAX_VALUE : 0;
    }
    // For scaling up Max picks the largest count; for scaling down Max picks the largest change,
    // the smallest count.
    boolean pickLargest = up == (rules.select() == Select.MAX);
    int result = pickLargest ? Integer.MIN_VALUE : Integer.MAX_VALUE;
    for (Policy p : rules.policies()) {
      Instant cutoff = now.minusSeconds(p.periodSeconds());
      int added = changeSince(history.ups(), cutoff);
      int removed = changeSince(history.downs(), cutoff);
      int periodStart = current - added + removed;
      int proposed;
      if (up) {
        proposed =
            p.percent()
                ? (int) Math.ceil(periodStart * (1 + p.value() / 100.0))
                : periodStart + p.value();
      } else {
        proposed =
            p.percent() ? (int) (periodStart * (1 - p.value() / 100.0)) : periodStart - p.value();
      }
      result = pickLargest ? Math.max(result, proposed) : Math.min(result, proposed);
    }
    return result;
  }

  private static int changeSince(List<ScaleEvent> events, Instant cutoff) {
    int sum = 0;
    for (ScaleEvent e : events) {
      if (e.at().isAfter(cutoff)) {
        sum += e.change();
      }
    }
    return sum;
  }

  /** Drops what no window or period can reach any more, so the history stays small. */
  static History prune(History h, Spec spec, Instant now) {
    Duration keepRecs =
        Duration.ofSeconds(
            Math.max(spec.up().stabilizationSeconds(), spec.down().stabilizationSeconds()));
    Instant recCutoff = now.minus(keepRecs);
    Instant upCutoff = now.minusSeconds(spec.up().longestPeriod());
    Instant downCutoff = now.minusSeconds(spec.down().longestPeriod());
    return new History(
        h.recommendations().stream().filter(r -> r.at().isAfter(recCutoff)).toList(),
        h.ups().stream().filter(e -> e.at().isAfter(upCutoff)).toList(),
        h.downs().stream().filter(e -> e.at().isAfter(downCutoff)).toList());
  }
}
