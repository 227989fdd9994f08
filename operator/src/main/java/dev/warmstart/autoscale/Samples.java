package dev.warmstart.autoscale;

import dev.warmstart.autoscale.Exposition.Sample;
import java.util.List;
import java.util.Map;

/** Picks the one sample a Pods metric names out of a pod's exposition. */
public final class Samples {
  private Samples() {}

  /**
   * The value of the single series named {@code name} whose labels include {@code matchLabels}.
   * Several matching series are an error rather than a sum or a pick: summing a gauge such as
   * vllm:kv_cache_usage_perc would be wrong, and picking one silently scales on half the truth.
   */
  public static double pick(List<Sample> samples, String name, Map<String, String> matchLabels)
      throws MetricException {
    Sample found = null;
    int matches = 0;
    for (Sample s : samples) {
      if (s.name().equals(name) && s.labels().entrySet().containsAll(matchLabels.entrySet())) {
        matches++;
        found = s;
      }
    }
    if (matches == 0) {
      throw new MetricException(
          "MetricMissing", "no series " + name + describe(matchLabels) + " in the exposition");
    }
    if (matches > 1) {
      throw new MetricException(
          "AmbiguousMetric",
          matches
              + " series "
              + name
              + describe(matchLabels)
              + " in the exposition; add matchLabels to select one");
    }
    if (!Double.isFinite(found.value())) {
      throw new MetricException("InvalidMetricValue", name + " is " + found.value());
    }
    return found.value();
  }

  private static String describe(Map<String, String> matchLabels) {
    return matchLabels.isEmpty() ? "" : " with labels " + matchLabels;
  }
}
