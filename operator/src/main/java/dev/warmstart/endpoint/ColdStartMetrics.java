package dev.warmstart.endpoint;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * warmstart_coldstart_phase_seconds{namespace,endpoint,phase,placement}: a histogram per cold-start
 * phase; placement is warm or cold with a warm pool, none without.
 */
public class ColdStartMetrics {
  /** Bucket bounds in seconds, from a warm start to a 70B model's half hour. */
  private static final double[] BUCKETS = {
    1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800
  };

  private final MeterRegistry registry;

  public ColdStartMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  /**
   * warmstart_warm_pool_placements_total{namespace,endpoint,placement}: serving pods placed, warm
   * or cold.
   */
  public void placed(String namespace, String endpoint, boolean warm) {
    registry
        .counter(
            "warmstart.warm.pool.placements",
            "namespace",
            namespace,
            "endpoint",
            endpoint,
            "placement",
            warm ? "warm" : "cold")
        .increment();
  }

  public void record(String namespace, String endpoint, ColdStarts.Measured coldStart) {
    coldStart
        .seconds()
        .forEach(
            (phase, seconds) ->
                DistributionSummary.builder("warmstart.coldstart.phase")
                    .baseUnit("seconds")
                    .description("Seconds each phase of a replica's cold start took")
                    .tags(
                        "namespace",
                        namespace,
                        "endpoint",
                        endpoint,
                        "phase",
                        phase.label,
                        "placement",
                        coldStart.placement() == null
                            ? "none"
                            : coldStart.placement().toLowerCase(java.util.Locale.ROOT))
                    .serviceLevelObjectives(BUCKETS)
                    .register(registry)
                    .record(seconds));
  }
}
