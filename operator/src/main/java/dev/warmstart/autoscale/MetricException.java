package dev.warmstart.autoscale;

/**
 * A metric that could not be read, with a reason for the ScalingActive condition
 * (FailedGetPodsMetric, FailedPrometheusQuery, ...) and a message that tells the user what was
 * wrong.
 */
public class MetricException extends Exception {
  private final String reason;

  public MetricException(String reason, String message) {
    super(message);
    this.reason = reason;
  }

  public MetricException(String reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  public String reason() {
    return reason;
  }
}
