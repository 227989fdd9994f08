package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.WarmPool;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClass;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The warm-pool placeholders' PriorityClass: the chart ships it; the operator creates it when it is
 * missing (a plain kubectl apply of the CRDs), once per process.
 */
final class PlaceholderPriority {
  /**
   * Below every workload (they default to 0), so that any pod needing a placeholder's GPU preempts it;
   * and not below Cluster Autoscaler's default expendable cutoff (-10), under which it would not add a
   * node for a pending placeholder. Karpenter provisions for pods of any priority.
   */
  static final int VALUE = -10;
  private static final Logger log = LoggerFactory.getLogger(PlaceholderPriority.class);

  private volatile boolean present;

  /** Null once the PriorityClass exists, else why it does not: the WarmPoolReady condition's message. */
  String ensure(KubernetesClient client) {
    if (present) {
      return null;
    }
    var classes = client.scheduling().v1().priorityClasses();
    try {
      if (classes.withName(WarmPool.PRIORITY_CLASS).get() == null) {
        classes.resource(desired()).create();
        log.info("created PriorityClass {} (value {}) for warm-pool placeholders", WarmPool.PRIORITY_CLASS, VALUE);
      }
      present = true;
      return null;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        present = true;
        return null;
      }
      return "PriorityClass " + WarmPool.PRIORITY_CLASS + " is missing and the operator could not create it (HTTP "
          + e.getCode() + "): install the chart's, or run kubectl create priorityclass "
          + WarmPool.PRIORITY_CLASS + " --value=" + VALUE + " --preemption-policy=Never";
    }
  }

  static PriorityClass desired() {
    return new PriorityClassBuilder()
        .withNewMetadata()
          .withName(WarmPool.PRIORITY_CLASS)
          .addToLabels(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
        .endMetadata()
        .withValue(VALUE)
        .withGlobalDefault(false)
        .withPreemptionPolicy("Never")
        .withDescription("warmstart warm-pool placeholders: below every workload, so any pod that needs their GPU "
            + "preempts them; they never preempt anything.")
        .build();
  }
}
