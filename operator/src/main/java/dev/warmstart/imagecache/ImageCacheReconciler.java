package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import dev.warmstart.status.MissingSecrets;
import dev.warmstart.status.StatusPatch;
import dev.warmstart.status.Transitions;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps an ImageCache's images on every node of its pool: applies the DaemonSet, then reports where
 * the images are from the DaemonSet's pods. Deleting the ImageCache garbage-collects the DaemonSet
 * (owner reference) and with it the pods.
 *
 * <p>The DaemonSet is the workflow's one dependent, invoked from {@link #reconcile} as the endpoint
 * controller does, so that a failure reaches {@link #updateErrorStatus} as the API server gave it.
 */
@ControllerConfiguration(name = ImageCacheReconciler.NAME)
@Workflow(
    explicitInvocation = true,
    handleExceptionsInReconciler = true,
    dependents = @Dependent(name = CacheDaemonSet.NAME, type = CacheDaemonSet.class))
public class ImageCacheReconciler implements Reconciler<ImageCache> {
  public static final String NAME = "imagecache";
  private static final Logger log = LoggerFactory.getLogger(ImageCacheReconciler.class);

  private final HelperSettings helpers;
  private final EventRecorder events;
  private final Transitions transitions;
  private final CacheMetrics metrics;
  private final Clock clock;

  public ImageCacheReconciler(
      HelperSettings helpers, EventRecorder events, CacheMetrics metrics, Clock clock) {
    this.helpers = helpers;
    this.events = events;
    this.transitions = new Transitions(events);
    this.metrics = metrics;
    this.clock = clock;
  }

  /** The pods; the DaemonSet's informer comes from the workflow. */
  @Override
  public List<EventSource<?, ImageCache>> prepareEventSources(
      EventSourceContext<ImageCache> context) {
    return List.of(
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Pod.class, ImageCache.class)
                .withName("imagecache-pods")
                .withLabelSelector(CacheDaemonSet.SELECTOR)
                .withNamespacesInheritedFromController()
                .withSecondaryToPrimaryMapper(ImageCacheReconciler::ownerOfPod)
                .build(),
            context));
  }

  /**
   * Pods name their ImageCache in annotations: label values are too short for any name a user may
   * choose.
   */
  static Set<ResourceID> ownerOfPod(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    if (annotations == null || annotations.get(Labels.IMAGE_CACHE_NAME) == null) {
      return Set.of();
    }
    return Set.of(
        new ResourceID(
            annotations.get(Labels.IMAGE_CACHE_NAME),
            annotations.getOrDefault(
                Labels.IMAGE_CACHE_NAMESPACE, pod.getMetadata().getNamespace())));
  }

  @Override
  public UpdateControl<ImageCache> reconcile(ImageCache cache, Context<ImageCache> context)
      throws Exception {
    DaemonSet ds = apply(context);
    List<String> missingSecrets =
        MissingSecrets.among(
            context.getClient(),
            cache.getMetadata().getNamespace(),
            cache.getSpec().getImagePullSecrets().stream()
                .map(LocalObjectReference::getName)
                .toList());
    ImageCacheStatus previous = cache.getStatus();
    ImageCacheStatus status =
        CacheStatus.compute(
            cache, ds, context.getSecondaryResources(Pod.class), missingSecrets, clock.instant());
    announceTransitions(cache, previous, status);
    metrics.publish(
        context
            .getPrimaryCache()
            .list()
            .map(c -> sameObject(c, cache) ? withStatus(c, status) : c)
            .toList());

    UpdateControl<ImageCache> control = StatusPatch.ifChanged(cache, status, ImageCache::new);
    return missingSecrets.isEmpty() ? control : control.rescheduleAfter(MissingSecrets.RECHECK);
  }

  /** Runs the workflow; a failure is thrown as it came. The DaemonSet as applied, or null. */
  private DaemonSet apply(Context<ImageCache> context) throws Exception {
    CacheDaemonSet.provide(context, helpers);
    var result = context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
    Optional<Exception> failure = result.getErroredDependents().values().stream().findFirst();
    if (failure.isPresent()) {
      throw failure.get();
    }
    return context.getSecondaryResource(DaemonSet.class).orElse(null);
  }

  /**
   * The API server refused the DaemonSet built from this spec (for example a toleration operator
   * that pod validation rejects): retrying cannot help, a spec change will trigger a new attempt.
   */
  @Override
  public ErrorStatusUpdateControl<ImageCache> updateErrorStatus(
      ImageCache cache, Context<ImageCache> context, Exception e) {
    KubernetesClientException rejected = rejection(e);
    if (rejected == null) {
      return ErrorStatusUpdateControl.noStatusUpdate(); // transient: JOSDK retries with backoff
    }
    String reason =
        rejected.getStatus() != null && rejected.getStatus().getMessage() != null
            ? rejected.getStatus().getMessage()
            : rejected.getMessage();
    String message =
        "the API server rejected the cache's DaemonSet: "
            + reason
            + ". Fix the ImageCache spec accordingly";
    ImageCacheStatus status =
        cache.getStatus() == null ? new ImageCacheStatus() : cache.getStatus();
    List<Condition> fresh =
        List.of(
            new Condition(CacheStatus.READY, Condition.FALSE, "InvalidSpec", message),
            new Condition(CacheStatus.DEGRADED, Condition.TRUE, "InvalidSpec", message));
    boolean announced =
        Conditions.find(status.getConditions(), CacheStatus.DEGRADED)
            .map(c -> "InvalidSpec".equals(c.getReason()) && message.equals(c.getMessage()))
            .orElse(false);
    status.setConditions(
        Conditions.merge(
            status.getConditions(), fresh, cache.getMetadata().getGeneration(), clock.instant()));
    status.setObservedGeneration(cache.getMetadata().getGeneration());
    if (!announced) {
      log.warn(
          "ImageCache {}/{}: {}",
          cache.getMetadata().getNamespace(),
          cache.getMetadata().getName(),
          message);
      events.warning(cache, "InvalidSpec", "Cache", message);
    }
    return ErrorStatusUpdateControl.patchStatus(StatusPatch.of(cache, status, ImageCache::new))
        .withNoRetry();
  }

  private static KubernetesClientException rejection(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof KubernetesClientException k && (k.getCode() == 422 || k.getCode() == 400)) {
        return k;
      }
    }
    return null;
  }

  private void announceTransitions(
      ImageCache cache, ImageCacheStatus previous, ImageCacheStatus now) {
    var before = previous == null ? null : previous.getConditions();
    transitions.announce(
        cache, before, now.getConditions(), "Cache", "Cached", Condition::getMessage);
    if (Transitions.readyBecame(before, now.getConditions(), "NoMatchingNodes")) {
      log.info(
          "ImageCache {}/{}: no node matches; the cache stays empty until one does",
          cache.getMetadata().getNamespace(),
          cache.getMetadata().getName());
      events.warning(
          cache,
          "NoMatchingNodes",
          "Cache",
          Conditions.find(now.getConditions(), CacheStatus.READY).orElseThrow().getMessage());
    }
  }

  private static boolean sameObject(ImageCache a, ImageCache b) {
    return Objects.equals(a.getMetadata().getUid(), b.getMetadata().getUid());
  }

  private static ImageCache withStatus(ImageCache cache, ImageCacheStatus status) {
    ImageCache copy = new ImageCache();
    copy.setMetadata(cache.getMetadata());
    copy.setStatus(status);
    return copy;
  }
}
