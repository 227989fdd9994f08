package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import java.util.Objects;

/** spec.warmPool: GPU nodes held warm (serving image and weights on them) for the next replicas. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class WarmPool {
  /**
   * The PriorityClass of the placeholders: shipped by the chart, created by the operator when
   * missing.
   */
  public static final String PRIORITY_CLASS = "warmstart-warm-pool";

  @Min(0)
  @Max(100)
  @Default("0")
  @JsonPropertyDescription(
      "Placeholder pods to keep on the endpoint's node pool, each holding one node warm: "
          + "the serving image pulled and the weights in the node-local model cache. A new replica takes a warm "
          + "node first, preempting its placeholder (which then warms another node). They stay when the endpoint "
          + "is scaled to zero, so that scaling up from zero is a warm start.")
  private Integer replicas = 0;

  public Integer getReplicas() {
    return replicas;
  }

  public void setReplicas(Integer replicas) {
    this.replicas = replicas;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WarmPool w && Objects.equals(replicas, w.replicas);
  }

  @Override
  public int hashCode() {
    return Objects.hashCode(replicas);
  }
}
