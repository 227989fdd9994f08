package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** spec.autoscaling: autoscaling/v2 semantics, read from the inference servers' own metrics. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value = "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
    message = "minReplicas must not exceed maxReplicas")
public class Autoscaling {
  @Min(0)
  @Default("1")
  @JsonPropertyDescription("Fewest replicas the autoscaler keeps (0 allows scale to zero).")
  private Integer minReplicas = 1;

  @Required
  @Min(1)
  @Max(10000)
  @JsonPropertyDescription("Most replicas the autoscaler creates.")
  private Integer maxReplicas;

  @Default("2s")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription(
      "How often metrics are read and a recommendation computed (Go duration, default 2s).")
  private String pollInterval = "2s";

  @Required
  @Size(min = 1, max = 8)
  @JsonPropertyDescription(
      "Metrics to scale on; the largest recommendation wins, as in autoscaling/v2.")
  private List<MetricSpec> metrics = new ArrayList<>();

  @JsonPropertyDescription(
      "Scale-up and scale-down rules; defaults scale up at once and down after 5 minutes of stability.")
  private Behavior behavior;

  public Integer getMinReplicas() {
    return minReplicas;
  }

  public void setMinReplicas(Integer minReplicas) {
    this.minReplicas = minReplicas;
  }

  public Integer getMaxReplicas() {
    return maxReplicas;
  }

  public void setMaxReplicas(Integer maxReplicas) {
    this.maxReplicas = maxReplicas;
  }

  public String getPollInterval() {
    return pollInterval;
  }

  public void setPollInterval(String pollInterval) {
    this.pollInterval = pollInterval;
  }

  public List<MetricSpec> getMetrics() {
    return metrics;
  }

  public void setMetrics(List<MetricSpec> metrics) {
    this.metrics = metrics;
  }

  public Behavior getBehavior() {
    return behavior;
  }

  public void setBehavior(Behavior behavior) {
    this.behavior = behavior;
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  @ValidationRule(
      value =
          "(self.type == 'Pods') == has(self.pods) && (self.type == 'Prometheus') == has(self.prometheus)",
      message =
          "set exactly the field named by type: pods for type Pods, prometheus for type Prometheus")
  public static class MetricSpec {
    @Required
    @Pattern("^(Pods|Prometheus)$")
    @JsonPropertyDescription(
        "Pods: scrape each ready serving pod. Prometheus: an instant query to a Prometheus API.")
    private String type;

    @JsonPropertyDescription(
        "A metric scraped from every ready serving pod, for example vllm:num_requests_waiting.")
    private PodsMetric pods;

    @JsonPropertyDescription("An instant PromQL query returning one element.")
    private PrometheusMetric prometheus;

    public String getType() {
      return type;
    }

    public void setType(String type) {
      this.type = type;
    }

    public PodsMetric getPods() {
      return pods;
    }

    public void setPods(PodsMetric pods) {
      this.pods = pods;
    }

    public PrometheusMetric getPrometheus() {
      return prometheus;
    }

    public void setPrometheus(PrometheusMetric prometheus) {
      this.prometheus = prometheus;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_EMPTY)
  public static class PodsMetric {
    @Required
    @Pattern("^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    @JsonPropertyDescription(
        "Metric name as exposed, for example vllm:num_requests_waiting, tgi_queue_size or "
            + "nv_inference_pending_request_count.")
    private String name;

    @JsonPropertyDescription("Label values the series must have, for example model_name: qwen3-8b.")
    private Map<String, String> matchLabels = new LinkedHashMap<>();

    @Min(1)
    @Max(65535)
    @JsonPropertyDescription("Port of the metrics endpoint; the serving port when empty.")
    private Integer port;

    @Default("/metrics")
    @Pattern("^/.*")
    @JsonPropertyDescription("Path of the metrics endpoint (Prometheus text or OpenMetrics).")
    private String path = "/metrics";

    @Required
    @JsonPropertyDescription("Target: averageValue per pod, or value for the sum over pods.")
    private MetricTarget target;

    public String getName() {
      return name;
    }

    public void setName(String name) {
      this.name = name;
    }

    public Map<String, String> getMatchLabels() {
      return matchLabels;
    }

    public void setMatchLabels(Map<String, String> matchLabels) {
      this.matchLabels = matchLabels;
    }

    public Integer getPort() {
      return port;
    }

    public void setPort(Integer port) {
      this.port = port;
    }

    public String getPath() {
      return path;
    }

    public void setPath(String path) {
      this.path = path;
    }

    public MetricTarget getTarget() {
      return target;
    }

    public void setTarget(MetricTarget target) {
      this.target = target;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class PrometheusMetric {
    @Required
    @Pattern("^https?://.+")
    @JsonPropertyDescription(
        "Base URL of the Prometheus HTTP API, for example http://prometheus.monitoring:9090.")
    private String address;

    @Required
    @Size(min = 1, max = 4096)
    @JsonPropertyDescription("Instant PromQL query returning a single element.")
    private String query;

    @JsonPropertyDescription(
        "Secret in this namespace with a token key (bearer) or username and password keys (basic auth).")
    private String authSecret;

    @Required
    @JsonPropertyDescription(
        "Target: averageValue divides the result by the replica count; value compares it as is.")
    private MetricTarget target;

    public String getAddress() {
      return address;
    }

    public void setAddress(String address) {
      this.address = address;
    }

    public String getQuery() {
      return query;
    }

    public void setQuery(String query) {
      this.query = query;
    }

    public String getAuthSecret() {
      return authSecret;
    }

    public void setAuthSecret(String authSecret) {
      this.authSecret = authSecret;
    }

    public MetricTarget getTarget() {
      return target;
    }

    public void setTarget(MetricTarget target) {
      this.target = target;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  @ValidationRule(
      value =
          "(self.type == 'AverageValue') == has(self.averageValue) && (self.type == 'Value') == has(self.value)",
      message = "set averageValue for type AverageValue, value for type Value, and not the other")
  // A target of zero or below would make every reading an infinite ratio: refuse it at admission.
  // (isQuantity() as well would exceed the CEL cost budget; a string that is no quantity fails
  // quantity().)
  @ValidationRule(
      value =
          "!has(self.averageValue) || quantity(string(self.averageValue)).isGreaterThan(quantity('0'))",
      message = "averageValue must be a quantity greater than zero")
  @ValidationRule(
      value = "!has(self.value) || quantity(string(self.value)).isGreaterThan(quantity('0'))",
      message = "value must be a quantity greater than zero")
  public static class MetricTarget {
    @Required
    @Pattern("^(AverageValue|Value)$")
    @JsonPropertyDescription(
        "AverageValue: per-replica target. Value: target for the metric as a whole.")
    private String type;

    @JsonPropertyDescription("Desired value per replica, for example 5 waiting requests.")
    private Quantity averageValue;

    @JsonPropertyDescription("Desired value of the metric as a whole.")
    private Quantity value;

    public String getType() {
      return type;
    }

    public void setType(String type) {
      this.type = type;
    }

    public Quantity getAverageValue() {
      return averageValue;
    }

    public void setAverageValue(Quantity averageValue) {
      this.averageValue = averageValue;
    }

    public Quantity getValue() {
      return value;
    }

    public void setValue(Quantity value) {
      this.value = value;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Behavior {
    @JsonPropertyDescription(
        "Rules for scaling up; default: no stabilization window and no rate limit, because "
            + "replicas still starting already count as capacity on the way.")
    private ScalingRules scaleUp;

    @JsonPropertyDescription(
        "Rules for scaling down; default: 300s stabilization window, then at most 100% every 15s.")
    private ScalingRules scaleDown;

    public ScalingRules getScaleUp() {
      return scaleUp;
    }

    public void setScaleUp(ScalingRules scaleUp) {
      this.scaleUp = scaleUp;
    }

    public ScalingRules getScaleDown() {
      return scaleDown;
    }

    public void setScaleDown(ScalingRules scaleDown) {
      this.scaleDown = scaleDown;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_EMPTY)
  public static class ScalingRules {
    @Min(0)
    @Max(3600)
    @JsonPropertyDescription(
        "Seconds of past recommendations considered, to prevent flapping: scaling down follows "
            + "the highest recommendation in the window, scaling up the lowest. Default 0 up, 300 down.")
    private Integer stabilizationWindowSeconds;

    @Pattern("^(Max|Min|Disabled)$")
    @JsonPropertyDescription(
        "Which policy wins when several apply: Max (default), Min, or Disabled to never scale this way.")
    private String selectPolicy;

    @Size(max = 10)
    @JsonPropertyDescription(
        "Limits on how much replicas may change within a period; none means no limit.")
    private List<ScalingPolicy> policies = new ArrayList<>();

    public Integer getStabilizationWindowSeconds() {
      return stabilizationWindowSeconds;
    }

    public void setStabilizationWindowSeconds(Integer s) {
      this.stabilizationWindowSeconds = s;
    }

    public String getSelectPolicy() {
      return selectPolicy;
    }

    public void setSelectPolicy(String selectPolicy) {
      this.selectPolicy = selectPolicy;
    }

    public List<ScalingPolicy> getPolicies() {
      return policies;
    }

    public void setPolicies(List<ScalingPolicy> policies) {
      this.policies = policies;
    }
  }

  public static class ScalingPolicy {
    @Required
    @Pattern("^(Pods|Percent)$")
    @JsonPropertyDescription(
        "Pods: a number of replicas. Percent: a percentage of the current replicas.")
    private String type;

    @Required
    @Min(1)
    @JsonPropertyDescription("How many pods, or what percentage, may change within periodSeconds.")
    private Integer value;

    @Required
    @Min(1)
    @Max(1800)
    @JsonPropertyDescription("The window, in seconds, the policy applies to.")
    private Integer periodSeconds;

    public String getType() {
      return type;
    }

    public void setType(String type) {
      this.type = type;
    }

    public Integer getValue() {
      return value;
    }

    public void setValue(Integer value) {
      this.value = value;
    }

    public Integer getPeriodSeconds() {
      return periodSeconds;
    }

    public void setPeriodSeconds(Integer periodSeconds) {
      this.periodSeconds = periodSeconds;
    }
  }
}
