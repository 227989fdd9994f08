package dev.warmstart.autoscale;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The autoscaler's own Prometheus metrics:
 * warmstart_autoscale_decisions_total{namespace,endpoint,outcome=up|down|none|held},
 * warmstart_autoscale_desired_replicas{namespace,endpoint},
 * warmstart_autoscale_metric_reads_total{namespace,endpoint,source,outcome} and
 * warmstart_autoscale_metric_read_seconds{source} (how long a scrape or query took).
 */
public class AutoscaleMetrics {
  private final MeterRegistry registry;
  private final Map<String, AtomicInteger> desired = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> arriving = new ConcurrentHashMap<>();

  public AutoscaleMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public void decision(String namespace, String endpoint, String outcome, int desiredReplicas) {
    Counter.builder("warmstart.autoscale.decisions")
        .description(
            "Autoscaling decisions by outcome: up, down, none (within tolerance or stabilized), held (metrics failed)")
        .tags("namespace", namespace, "endpoint", endpoint, "outcome", outcome)
        .register(registry)
        .increment();
    desired
        .computeIfAbsent(
            namespace + "/" + endpoint,
            k -> {
              AtomicInteger value = new AtomicInteger();
              Gauge.builder("warmstart.autoscale.desired.replicas", value, AtomicInteger::get)
                  .description("Replicas the autoscaler last asked for")
                  .tags("namespace", namespace, "endpoint", endpoint)
                  .register(registry);
              return value;
            })
        .set(desiredReplicas);
  }

  /**
   * warmstart_autoscale_arriving_replicas{placement=warm|cold}: the replicas on their way, counted
   * as capacity.
   */
  void arriving(String namespace, String endpoint, Arrivals arrivals) {
    gauge(arriving, namespace, endpoint, "warm").set(arrivals.warm());
    gauge(arriving, namespace, endpoint, "cold").set(arrivals.cold());
  }

  private AtomicInteger gauge(
      Map<String, AtomicInteger> values, String namespace, String endpoint, String placement) {
    return values.computeIfAbsent(
        namespace + "/" + endpoint + "/" + placement,
        k -> {
          AtomicInteger value = new AtomicInteger();
          Gauge.builder("warmstart.autoscale.arriving.replicas", value, AtomicInteger::get)
              .description(
                  "Replicas on their way (not ready yet) that the autoscaler counts as capacity, by whether the "
                      + "operator sent them to a warm node")
              .tags("namespace", namespace, "endpoint", endpoint, "placement", placement)
              .register(registry);
          return value;
        });
  }

  void outcome(String namespace, String endpoint, String source, String outcome) {
    Counter.builder("warmstart.autoscale.metric.reads")
        .description(
            "Metric reads (one per pod scrape or Prometheus query) by outcome: ok or the failure reason")
        .tags("namespace", namespace, "endpoint", endpoint, "source", source, "outcome", outcome)
        .register(registry)
        .increment();
  }

  void read(String namespace, String endpoint, String source, long nanos) {
    Timer.builder("warmstart.autoscale.metric.read")
        .description("Time to scrape a pod or run a Prometheus query")
        .tags("source", source)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }
}
