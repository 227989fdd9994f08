package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.WarmPool;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClass;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.api.reconciler.dependent.ReconcileResult;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The warm-pool placeholders' PriorityClass, a create-only dependent: the chart ships it, and the
 * operator creates it when it is missing (a plain kubectl apply of the CRDs). It is never updated
 * or deleted: it is cluster-scoped, shared by every endpoint with a warm pool, and the chart may
 * own it.
 *
 * <p>No informer: the chart grants get on this one name only (bound cluster-wide even when the
 * operator watches a few namespaces), not list or watch. So the class is read by name, and once
 * seen it is trusted for {@link #TRUSTED_FOR} before the next read; a deleted class comes back
 * within that time.
 */
final class PlaceholderPriorityClass
    implements DependentResource<PriorityClass, InferenceEndpoint>,
        Creator<PriorityClass, InferenceEndpoint> {
  /**
   * Below every workload (they default to 0), so that any pod needing a placeholder's GPU preempts
   * it; and not below Cluster Autoscaler's default expendable cutoff (-10), under which it would
   * not add a node for a pending placeholder. Karpenter provisions for pods of any priority.
   */
  static final int VALUE = -10;

  static final Duration TRUSTED_FOR = Duration.ofMinutes(5);
  private static final Logger log = LoggerFactory.getLogger(PlaceholderPriorityClass.class);

  /** Until when the class is known to exist; null before it was seen. */
  private volatile Instant presentUntil;

  /**
   * The class is missing and the operator may not create it (or read it): the WarmPoolReady
   * condition's message.
   */
  static final class Unavailable extends RuntimeException {
    Unavailable(KubernetesClientException cause) {
      super(
          "PriorityClass "
              + WarmPool.PRIORITY_CLASS
              + " is missing and the operator could not create it (HTTP "
              + cause.getCode()
              + "): install the chart's, or run kubectl create priorityclass "
              + WarmPool.PRIORITY_CLASS
              + " --value="
              + VALUE
              + " --preemption-policy=Never",
          cause);
    }
  }

  @Override
  public ReconcileResult<PriorityClass> reconcile(
      InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    Instant now = EndpointDependents.clock(context).instant();
    Instant until = presentUntil;
    if (until != null && now.isBefore(until)) {
      return ReconcileResult.noOperation(null);
    }
    try {
      PriorityClass existing =
          context
              .getClient()
              .scheduling()
              .v1()
              .priorityClasses()
              .withName(WarmPool.PRIORITY_CLASS)
              .get();
      ReconcileResult<PriorityClass> result =
          existing != null
              ? ReconcileResult.noOperation(existing)
              : ReconcileResult.resourceCreated(create(desired(), ie, context));
      presentUntil = now.plus(TRUSTED_FOR);
      return result;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) { // created meanwhile by someone else
        presentUntil = now.plus(TRUSTED_FOR);
        return ReconcileResult.noOperation(null);
      }
      throw new Unavailable(e);
    }
  }

  @Override
  public PriorityClass create(
      PriorityClass desired, InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    PriorityClass created =
        context.getClient().scheduling().v1().priorityClasses().resource(desired).create();
    log.info(
        "created PriorityClass {} (value {}) for warm-pool placeholders",
        WarmPool.PRIORITY_CLASS,
        VALUE);
    return created;
  }

  /** The name the workflow knows it by (JOSDK sets it only on dependents that can be told it). */
  @Override
  public String name() {
    return EndpointDependents.PRIORITY_CLASS;
  }

  @Override
  public Class<PriorityClass> resourceType() {
    return PriorityClass.class;
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
        .withDescription(
            "warmstart warm-pool placeholders: below every workload, so any pod that needs their GPU "
                + "preempts them; they never preempt anything.")
        .build();
  }
}
