package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps an ImageCache's images on every node of its pool: applies the DaemonSet, then reports
 * where the images are from the DaemonSet's pods. Deleting the ImageCache garbage-collects the
 * DaemonSet (owner reference) and with it the pods.
 */
@ControllerConfiguration(name = ImageCacheReconciler.NAME)
public class ImageCacheReconciler implements Reconciler<ImageCache> {
  public static final String NAME = "imagecache";
  /** A missing pull secret is not announced by any watch we hold: look again after this long. */
  static final Duration RECHECK_MISSING_SECRET = Duration.ofSeconds(30);
  private static final Logger log = LoggerFactory.getLogger(ImageCacheReconciler.class);

  private final CacheDaemonSet daemonSet;
  private final EventRecorder events;
  private final CacheMetrics metrics;
  private final Clock clock;

  public ImageCacheReconciler(HelperSettings helpers, EventRecorder events, CacheMetrics metrics, Clock clock) {
    this.daemonSet = new CacheDaemonSet(helpers);
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
  }

  @Override
  public List<EventSource<?, ImageCache>> prepareEventSources(EventSourceContext<ImageCache> context) {
    var pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, ImageCache.class)
        .withName("imagecache-pods")
        .withLabelSelector(CacheDaemonSet.SELECTOR)
        .withNamespacesInheritedFromController()
        .withSecondaryToPrimaryMapper(ImageCacheReconciler::ownerOfPod)
        .build(), context);
    return List.of(daemonSet.initEventSource(context), pods);
  }

  /** Pods name their ImageCache in annotations: label values are too short for any name a user may choose. */
  static Set<ResourceID> ownerOfPod(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    if (annotations == null || annotations.get(Labels.IMAGE_CACHE_NAME) == null) {
      return Set.of();
    }
    return Set.of(new ResourceID(annotations.get(Labels.IMAGE_CACHE_NAME),
        annotations.getOrDefault(Labels.IMAGE_CACHE_NAMESPACE, pod.getMetadata().getNamespace())));
  }

  @Override
  public UpdateControl<ImageCache> reconcile(ImageCache cache, Context<ImageCache> context) {
    DaemonSet ds = daemonSet.reconcile(cache, context).getSingleResource().orElse(null);
    List<String> missingSecrets = missingPullSecrets(cache, context);
    ImageCacheStatus previous = cache.getStatus();
    ImageCacheStatus status = CacheStatus.compute(cache, ds, context.getSecondaryResources(Pod.class), missingSecrets);
    status.setConditions(Conditions.merge(previous == null ? null : previous.getConditions(), status.getConditions(),
        cache.getMetadata().getGeneration(), clock.instant()));
    announceTransitions(cache, previous, status);
    metrics.publish(context.getPrimaryCache().list().map(c -> sameObject(c, cache) ? withStatus(c, status) : c).toList());

    UpdateControl<ImageCache> control = status.equals(previous) ? UpdateControl.noUpdate()
        : UpdateControl.patchStatus(statusPatch(cache, status));
    return missingSecrets.isEmpty() ? control : control.rescheduleAfter(RECHECK_MISSING_SECRET);
  }

  /**
   * The API server refused the DaemonSet built from this spec (for example a toleration operator
   * that pod validation rejects): retrying cannot help, a spec change will trigger a new attempt.
   */
  @Override
  public ErrorStatusUpdateControl<ImageCache> updateErrorStatus(ImageCache cache, Context<ImageCache> context,
      Exception e) {
    KubernetesClientException rejected = rejection(e);
    if (rejected == null) {
      return ErrorStatusUpdateControl.noStatusUpdate(); // transient: JOSDK retries with backoff
    }
    String reason = rejected.getStatus() != null && rejected.getStatus().getMessage() != null
        ? rejected.getStatus().getMessage() : rejected.getMessage();
    String message = "the API server rejected the cache's DaemonSet: " + reason + ". Fix the ImageCache spec accordingly";
    ImageCacheStatus status = cache.getStatus() == null ? new ImageCacheStatus() : cache.getStatus();
    List<Condition> fresh = List.of(new Condition(CacheStatus.READY, Condition.FALSE, "InvalidSpec", message),
        new Condition(CacheStatus.DEGRADED, Condition.TRUE, "InvalidSpec", message));
    boolean announced = Conditions.find(status.getConditions(), CacheStatus.DEGRADED)
        .map(c -> "InvalidSpec".equals(c.getReason()) && message.equals(c.getMessage())).orElse(false);
    status.setConditions(Conditions.merge(status.getConditions(), fresh, cache.getMetadata().getGeneration(), clock.instant()));
    status.setObservedGeneration(cache.getMetadata().getGeneration());
    if (!announced) {
      log.warn("ImageCache {}/{}: {}", cache.getMetadata().getNamespace(), cache.getMetadata().getName(), message);
      events.warning(cache, "InvalidSpec", "Cache", message);
    }
    return ErrorStatusUpdateControl.patchStatus(statusPatch(cache, status)).withNoRetry();
  }

  private static KubernetesClientException rejection(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof KubernetesClientException k && (k.getCode() == 422 || k.getCode() == 400)) {
        return k;
      }
    }
    return null;
  }

  private List<String> missingPullSecrets(ImageCache cache, Context<ImageCache> context) {
    String namespace = cache.getMetadata().getNamespace();
    return cache.getSpec().getImagePullSecrets().stream()
        .map(LocalObjectReference::getName)
        .filter(Objects::nonNull)
        .filter(name -> context.getClient().resources(Secret.class).inNamespace(namespace).withName(name).get() == null)
        .toList();
  }

  private void announceTransitions(ImageCache cache, ImageCacheStatus previous, ImageCacheStatus now) {
    var prevConditions = previous == null ? null : previous.getConditions();
    Condition ready = Conditions.find(now.getConditions(), CacheStatus.READY).orElseThrow();
    Condition degraded = Conditions.find(now.getConditions(), CacheStatus.DEGRADED).orElseThrow();
    String id = cache.getMetadata().getNamespace() + "/" + cache.getMetadata().getName();
    if (ready.isTrue() && !Conditions.isTrue(prevConditions, CacheStatus.READY)) {
      log.info("ImageCache {}: {}", id, ready.getMessage());
      events.normal(cache, "Cached", "Cache", ready.getMessage());
    } else if ("NoMatchingNodes".equals(ready.getReason()) && !Conditions.find(prevConditions, CacheStatus.READY)
        .map(c -> "NoMatchingNodes".equals(c.getReason())).orElse(false)) {
      log.info("ImageCache {}: no node matches; the cache stays empty until one does", id);
      events.warning(cache, "NoMatchingNodes", "Cache", ready.getMessage());
    }
    String previousReason = Conditions.find(prevConditions, CacheStatus.DEGRADED).map(Condition::getReason).orElse(null);
    if (degraded.isTrue() && !degraded.getReason().equals(previousReason)) {
      log.warn("ImageCache {} degraded: {}", id, degraded.getMessage());
      events.warning(cache, degraded.getReason(), "Cache", degraded.getMessage());
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

  /** Only name, namespace and status, so the status patch never competes for spec or metadata fields. */
  private static ImageCache statusPatch(ImageCache cache, ImageCacheStatus status) {
    ImageCache patch = new ImageCache();
    patch.setMetadata(new ObjectMetaBuilder()
        .withName(cache.getMetadata().getName())
        .withNamespace(cache.getMetadata().getNamespace())
        .build());
    patch.setStatus(status);
    return patch;
  }
}
