package dev.warmstart.endpoint;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/** warmstart_coldstart_phase_seconds{namespace,endpoint,phase}: a histogram per cold-start phase. */
public class ColdStartMetrics {
  /** Bucket bounds in seconds, from a warm start to a 70B model's half hour. */
  private static final double[] BUCKETS = {1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800};

  private final MeterRegistry registry;

  public ColdStartMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public void record(String namespace, String endpoint, ColdStarts.Measured coldStart) {
    coldStart.seconds().forEach((phase, seconds) -> DistributionSummary.builder("warmstart.coldstart.phase")
        .baseUnit("seconds")
        .description("Seconds each phase of a replica's cold start took")
        .tags("namespace", namespace, "endpoint", endpoint, "phase", phase.label)
        .serviceLevelObjectives(BUCKETS)
        .register(registry)
        .record(seconds));
  }
}
