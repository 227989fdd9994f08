package dev.warmstart.gate;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The transfer gate's meters: requests held now, answers given, and the time from first request to
 * go.
 */
final class GateMetrics implements AutoCloseable {
  static final String DENIED = "deny";

  private final MeterRegistry registry;
  private final Map<GateKind, AtomicInteger> held = new EnumMap<>(GateKind.class);
  private final List<Gauge> gauges = new ArrayList<>();

  GateMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (GateKind kind : GateKind.values()) {
      AtomicInteger count = new AtomicInteger();
      held.put(kind, count);
      gauges.add(
          Gauge.builder("warmstart.gate.waiters", count, AtomicInteger::get)
              .description("Pods whose request is held at the transfer gate right now")
              .tag("kind", kind.wireName())
              .register(registry));
    }
  }

  void held(GateKind kind) {
    held.get(kind).incrementAndGet();
  }

  void answered(GateKind kind) {
    held.get(kind).decrementAndGet();
  }

  void waited(GateKind kind, String reason, Duration waited) {
    Timer.builder("warmstart.gate.wait")
        .description("Time from a pod's first request at the transfer gate to go")
        .tags("kind", kind.wireName(), "reason", reason)
        .serviceLevelObjectives(
            Duration.ofSeconds(1),
            Duration.ofSeconds(5),
            Duration.ofSeconds(15),
            Duration.ofSeconds(30),
            Duration.ofMinutes(1),
            Duration.ofMinutes(2),
            Duration.ofMinutes(5),
            Duration.ofMinutes(10),
            Duration.ofMinutes(20))
        .register(registry)
        .record(waited);
  }

  /**
   * @param decision go, wait or {@link #DENIED}
   */
  void decided(GateKind kind, String decision, String reason) {
    Counter.builder("warmstart.gate.decisions")
        .description(
            "Answers of the transfer gate: go, wait (a poll ended) or deny (the claim did not hold)")
        .tags("kind", kind.wireName(), "decision", decision, "reason", reason)
        .register(registry)
        .increment();
  }

  /** Removes the gauges, which would otherwise keep this gate reachable from the registry. */
  @Override
  public void close() {
    gauges.forEach(registry::remove);
  }
}
