package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.ResourceMemory;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries out {@link WarmPlacement}'s plan: lifts the warm-placement gate of new serving pods,
 * sending each to a free warm node first, and deletes pods that could not reach theirs so that
 * their replacements go elsewhere; such a node is left out of the placement for {@link
 * #UNREACHABLE_FOR}.
 */
final class WarmPlacer {
  /** How long a warm node that a pod could not reach is left out of the placement. */
  static final Duration UNREACHABLE_FOR = Duration.ofMinutes(10);

  private static final Logger log = LoggerFactory.getLogger(WarmPlacer.class);

  private final EventRecorder events;
  private final ColdStartMetrics metrics;
  private final Clock clock;

  /**
   * How long a pod sent to a warm node may stay unschedulable there before it is recreated to go
   * elsewhere.
   */
  private final Duration timeout;

  /** Per endpoint, the warm nodes a pod could not reach lately, until when. */
  private final ResourceMemory<Map<String, Instant>> unreachable =
      new ResourceMemory<>(ConcurrentHashMap::new);

  WarmPlacer(EventRecorder events, ColdStartMetrics metrics, Clock clock, Duration timeout) {
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
    this.timeout = timeout;
  }

  /**
   * Places {@code ie}'s gated pods; returns when a pod on its way to a warm node would count as
   * stuck.
   */
  Optional<Instant> place(
      InferenceEndpoint ie, List<Pod> pods, List<Pod> placeholders, KubernetesClient client) {
    String id = ie.getMetadata().getNamespace() + "/" + ie.getMetadata().getName();
    Instant now = clock.instant();
    Map<String, Instant> avoid = unreachable.of(ie);
    avoid.values().removeIf(until -> until.isBefore(now));
    for (Pod pod : WarmPlacement.stuck(pods, now, timeout)) {
      String node = WarmPlacement.warmNode(pod);
      avoid.put(node, now.plus(UNREACHABLE_FOR));
      log.warn(
          "InferenceEndpoint {}: pod {} could not be scheduled onto warm node {}; recreating it to go elsewhere",
          id,
          pod.getMetadata().getName(),
          node);
      events.warning(
          ie,
          "WarmNodeUnreachable",
          "Place",
          "pod "
              + pod.getMetadata().getName()
              + " could not be scheduled onto warm node "
              + node
              + " for "
              + timeout.toSeconds()
              + " s; deleted so that its replacement goes to another node");
      client.pods().resource(pod).delete();
    }
    for (WarmPlacement.Release release :
        WarmPlacement.plan(ie, pods, placeholders, avoid.keySet())) {
      Pod pod = release.pod();
      try {
        // On the pod object, not its name: fabric8 would read the pod first, and the operator may
        // not get pods.
        client
            .pods()
            .resource(pod)
            .patch(PatchContext.of(PatchType.JSON), WarmPlacement.patch(release));
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404 || e.getCode() == 409 || e.getCode() == 422) {
          // Gone, or changed since this view of it (another round placed it): the next event brings
          // it back.
          log.debug(
              "InferenceEndpoint {}: pod {} not placed now: {}",
              id,
              pod.getMetadata().getName(),
              e.getMessage());
          continue;
        }
        throw e;
      }
      metrics.placed(
          ie.getMetadata().getNamespace(), ie.getMetadata().getName(), release.node() != null);
      if (release.node() != null) {
        log.info(
            "InferenceEndpoint {}: pod {} sent to warm node {}",
            id,
            pod.getMetadata().getName(),
            release.node());
        events.normal(
            ie,
            "WarmPlacement",
            "Place",
            "pod "
                + pod.getMetadata().getName()
                + " sent to warm node "
                + release.node()
                + ", whose placeholder gives way");
      } else {
        log.info(
            "InferenceEndpoint {}: pod {} released with no warm node free",
            id,
            pod.getMetadata().getName());
      }
    }
    return WarmPlacement.nextStuckCheck(pods, timeout);
  }

  /** Forgets the endpoints {@code exists} does not know any more. */
  void retainOnly(Predicate<ResourceID> exists) {
    unreachable.retainOnly(exists);
  }
}
