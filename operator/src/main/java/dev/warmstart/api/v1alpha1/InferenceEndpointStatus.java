package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.model.annotation.LabelSelector;
import io.fabric8.kubernetes.model.annotation.StatusReplicas;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class InferenceEndpointStatus {
  @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
  private Long observedGeneration;

  @StatusReplicas
  @JsonPropertyDescription("Serving pods that exist.")
  private Integer replicas;

  @JsonPropertyDescription("Serving pods that pass their readiness check.")
  private Integer readyReplicas;

  @JsonPropertyDescription("Replicas the autoscaler asks for.")
  private Integer desiredReplicas;

  @JsonPropertyDescription("When the autoscaler last changed the replica count (RFC 3339).")
  private String lastScaleTime;

  @JsonPropertyDescription("The autoscaler's latest reading of each metric, in spec order.")
  private List<MetricValue> currentMetrics = new ArrayList<>();

  @LabelSelector
  @JsonPropertyDescription(
      "Label selector of the serving pods, for the /scale subresource (HPA, KEDA).")
  private String selector;

  @JsonPropertyDescription("In-cluster URL of the endpoint.")
  private String url;

  @JsonPropertyDescription("Where the time of recent cold starts went.")
  private ColdStart coldStart;

  @JsonPropertyDescription("The nodes held warm by spec.warmPool.")
  private WarmPoolStatus warmPool;

  @JsonPropertyDescription(
      "Ready, ImageCached, Progressing, Degraded, WarmPoolReady and the autoscaler's conditions.")
  private List<Condition> conditions = new ArrayList<>();

  @Override
  public boolean equals(Object o) {
    return o instanceof InferenceEndpointStatus s
        && Objects.equals(observedGeneration, s.observedGeneration)
        && Objects.equals(replicas, s.replicas)
        && Objects.equals(readyReplicas, s.readyReplicas)
        && Objects.equals(desiredReplicas, s.desiredReplicas)
        && Objects.equals(lastScaleTime, s.lastScaleTime)
        && Objects.equals(currentMetrics, s.currentMetrics)
        && Objects.equals(selector, s.selector)
        && Objects.equals(url, s.url)
        && Objects.equals(coldStart, s.coldStart)
        && Objects.equals(warmPool, s.warmPool)
        && Objects.equals(conditions, s.conditions);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        observedGeneration,
        replicas,
        readyReplicas,
        desiredReplicas,
        lastScaleTime,
        currentMetrics,
        selector,
        url,
        coldStart,
        warmPool,
        conditions);
  }

  public Long getObservedGeneration() {
    return observedGeneration;
  }

  public void setObservedGeneration(Long observedGeneration) {
    this.observedGeneration = observedGeneration;
  }

  public Integer getReplicas() {
    return replicas;
  }

  public void setReplicas(Integer replicas) {
    this.replicas = replicas;
  }

  public Integer getReadyReplicas() {
    return readyReplicas;
  }

  public void setReadyReplicas(Integer readyReplicas) {
    this.readyReplicas = readyReplicas;
  }

  public Integer getDesiredReplicas() {
    return desiredReplicas;
  }

  public void setDesiredReplicas(Integer desiredReplicas) {
    this.desiredReplicas = desiredReplicas;
  }

  public String getLastScaleTime() {
    return lastScaleTime;
  }

  public void setLastScaleTime(String lastScaleTime) {
    this.lastScaleTime = lastScaleTime;
  }

  public List<MetricValue> getCurrentMetrics() {
    return currentMetrics;
  }

  public void setCurrentMetrics(List<MetricValue> currentMetrics) {
    this.currentMetrics = currentMetrics;
  }

  public String getSelector() {
    return selector;
  }

  public void setSelector(String selector) {
    this.selector = selector;
  }

  public String getUrl() {
    return url;
  }

  public void setUrl(String url) {
    this.url = url;
  }

  public ColdStart getColdStart() {
    return coldStart;
  }

  public void setColdStart(ColdStart coldStart) {
    this.coldStart = coldStart;
  }

  public WarmPoolStatus getWarmPool() {
    return warmPool;
  }

  public void setWarmPool(WarmPoolStatus warmPool) {
    this.warmPool = warmPool;
  }

  public List<Condition> getConditions() {
    return conditions;
  }

  public void setConditions(List<Condition> conditions) {
    this.conditions = conditions;
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class ColdStart {
    /** Cold starts kept in status for the rolling median. */
    public static final int RECENT = 10;

    @JsonPropertyDescription("The most recent replica that became ready.")
    private Phases last;

    @JsonPropertyDescription("Per phase, the median over the recent cold starts.")
    private Phases median;

    @JsonPropertyDescription("Cold starts counted since the endpoint was created.")
    private Integer count;

    @JsonPropertyDescription(
        "The last " + RECENT + " cold starts, newest first, that the median is taken over.")
    private List<Phases> recent = new ArrayList<>();

    public Phases getLast() {
      return last;
    }

    public void setLast(Phases last) {
      this.last = last;
    }

    public Phases getMedian() {
      return median;
    }

    public void setMedian(Phases median) {
      this.median = median;
    }

    public Integer getCount() {
      return count;
    }

    public void setCount(Integer count) {
      this.count = count;
    }

    public List<Phases> getRecent() {
      return recent;
    }

    public void setRecent(List<Phases> recent) {
      this.recent = recent;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof ColdStart c
          && Objects.equals(last, c.last)
          && Objects.equals(median, c.median)
          && Objects.equals(count, c.count)
          && Objects.equals(recent, c.recent);
    }

    @Override
    public int hashCode() {
      return Objects.hash(last, median, count, recent);
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Phases {
    @JsonPropertyDescription("The pod whose start this describes.")
    private String pod;

    @JsonPropertyDescription("The node it started on.")
    private String node;

    @JsonPropertyDescription(
        "With a warm pool: Warm when it started on a node the pool held warm, else Cold.")
    private String placement;

    @JsonPropertyDescription("When it passed its first readiness check (RFC 3339).")
    private String readyAt;

    @JsonPropertyDescription("From pod creation to ready.")
    private String total;

    @JsonPropertyDescription("Waiting for a node and being bound to it.")
    private String scheduling;

    @JsonPropertyDescription("Waiting at the transfer gate for the image to be cached.")
    private String gateWait;

    @JsonPropertyDescription("Downloading the model weights.")
    private String modelDownload;

    @JsonPropertyDescription("Pulling the serving image (zero when it was cached).")
    private String imagePull;

    @JsonPropertyDescription("From the server's start to its first passed readiness check.")
    private String serverStart;

    public String getPod() {
      return pod;
    }

    public void setPod(String pod) {
      this.pod = pod;
    }

    public String getNode() {
      return node;
    }

    public void setNode(String node) {
      this.node = node;
    }

    public String getPlacement() {
      return placement;
    }

    public void setPlacement(String placement) {
      this.placement = placement;
    }

    public String getReadyAt() {
      return readyAt;
    }

    public void setReadyAt(String readyAt) {
      this.readyAt = readyAt;
    }

    public String getTotal() {
      return total;
    }

    public void setTotal(String total) {
      this.total = total;
    }

    public String getScheduling() {
      return scheduling;
    }

    public void setScheduling(String scheduling) {
      this.scheduling = scheduling;
    }

    public String getGateWait() {
      return gateWait;
    }

    public void setGateWait(String gateWait) {
      this.gateWait = gateWait;
    }

    public String getModelDownload() {
      return modelDownload;
    }

    public void setModelDownload(String modelDownload) {
      this.modelDownload = modelDownload;
    }

    public String getImagePull() {
      return imagePull;
    }

    public void setImagePull(String imagePull) {
      this.imagePull = imagePull;
    }

    public String getServerStart() {
      return serverStart;
    }

    public void setServerStart(String serverStart) {
      this.serverStart = serverStart;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Phases p
          && Objects.equals(pod, p.pod)
          && Objects.equals(node, p.node)
          && Objects.equals(placement, p.placement)
          && Objects.equals(readyAt, p.readyAt)
          && Objects.equals(total, p.total)
          && Objects.equals(scheduling, p.scheduling)
          && Objects.equals(gateWait, p.gateWait)
          && Objects.equals(modelDownload, p.modelDownload)
          && Objects.equals(imagePull, p.imagePull)
          && Objects.equals(serverStart, p.serverStart);
    }

    @Override
    public int hashCode() {
      return Objects.hash(
          pod,
          node,
          placement,
          readyAt,
          total,
          scheduling,
          gateWait,
          modelDownload,
          imagePull,
          serverStart);
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class WarmPoolStatus {
    @JsonPropertyDescription("Placeholders asked for: spec.warmPool.replicas.")
    private Integer desired;

    @JsonPropertyDescription(
        "Nodes held warm: a placeholder of the current spec is ready there, with the serving "
            + "image pulled and the weights in the node cache.")
    private Integer ready;

    @JsonPropertyDescription("The warm nodes, by name; a new replica goes to one of them first.")
    private List<String> nodes = new ArrayList<>();

    @JsonPropertyDescription("When the most recent of them became warm (RFC 3339).")
    private String lastRefillTime;

    public Integer getDesired() {
      return desired;
    }

    public void setDesired(Integer desired) {
      this.desired = desired;
    }

    public Integer getReady() {
      return ready;
    }

    public void setReady(Integer ready) {
      this.ready = ready;
    }

    public List<String> getNodes() {
      return nodes;
    }

    public void setNodes(List<String> nodes) {
      this.nodes = nodes;
    }

    public String getLastRefillTime() {
      return lastRefillTime;
    }

    public void setLastRefillTime(String lastRefillTime) {
      this.lastRefillTime = lastRefillTime;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof WarmPoolStatus w
          && Objects.equals(desired, w.desired)
          && Objects.equals(ready, w.ready)
          && Objects.equals(nodes, w.nodes)
          && Objects.equals(lastRefillTime, w.lastRefillTime);
    }

    @Override
    public int hashCode() {
      return Objects.hash(desired, ready, nodes, lastRefillTime);
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class MetricValue {
    @JsonPropertyDescription("Pods or Prometheus, as in spec.")
    private String type;

    @JsonPropertyDescription("The metric's name (Pods) or query (Prometheus).")
    private String metric;

    @JsonPropertyDescription("Current average per replica (AverageValue targets).")
    private String averageValue;

    @JsonPropertyDescription(
        "Current value of the metric as a whole (Value targets, and the sum for Pods).")
    private String value;

    @JsonPropertyDescription("Pods whose metrics endpoint answered with a sample (Pods only).")
    private Integer podsRead;

    @JsonPropertyDescription("Why there is no reading, when there is none.")
    private String error;

    public MetricValue() {}

    public MetricValue(String type, String metric) {
      this.type = type;
      this.metric = metric;
    }

    public String getType() {
      return type;
    }

    public void setType(String type) {
      this.type = type;
    }

    public String getMetric() {
      return metric;
    }

    public void setMetric(String metric) {
      this.metric = metric;
    }

    public String getAverageValue() {
      return averageValue;
    }

    public void setAverageValue(String averageValue) {
      this.averageValue = averageValue;
    }

    public String getValue() {
      return value;
    }

    public void setValue(String value) {
      this.value = value;
    }

    public Integer getPodsRead() {
      return podsRead;
    }

    public void setPodsRead(Integer podsRead) {
      this.podsRead = podsRead;
    }

    public String getError() {
      return error;
    }

    public void setError(String error) {
      this.error = error;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof MetricValue m
          && Objects.equals(type, m.type)
          && Objects.equals(metric, m.metric)
          && Objects.equals(averageValue, m.averageValue)
          && Objects.equals(value, m.value)
          && Objects.equals(podsRead, m.podsRead)
          && Objects.equals(error, m.error);
    }

    @Override
    public int hashCode() {
      return Objects.hash(type, metric, averageValue, value, podsRead, error);
    }
  }
}
