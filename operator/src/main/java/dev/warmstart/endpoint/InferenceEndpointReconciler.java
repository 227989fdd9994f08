package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.Labels;
import dev.warmstart.operator.HelperSettings;
import dev.warmstart.status.MissingSecrets;
import dev.warmstart.status.StatusPatch;
import dev.warmstart.status.Transitions;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a model: applies the Deployment, the Service, (unless disabled) the serving image's
 * ImageCache and (with spec.warmPool) the placeholders' Deployment, places new serving pods on warm
 * nodes first, then reports replicas, the warm pool, conditions and where each replica's cold start
 * went. Deleting the endpoint garbage-collects them all (owner references).
 */
@ControllerConfiguration(name = InferenceEndpointReconciler.NAME)
public class InferenceEndpointReconciler implements Reconciler<InferenceEndpoint> {
  public static final String NAME = "inferenceendpoint";
  /** How long a warm node that a pod could not reach is left out of the placement. */
  static final Duration UNREACHABLE_FOR = Duration.ofMinutes(10);
  private static final Logger log = LoggerFactory.getLogger(InferenceEndpointReconciler.class);

  private final EndpointDependents.ServingDeployment deployment;
  private final EndpointDependents.ServingService service = new EndpointDependents.ServingService();
  private final EndpointDependents.ServingImageCache imageCache = new EndpointDependents.ServingImageCache();
  private final EndpointDependents.WarmPoolDeployment warmPool;
  private final PlaceholderPriority placeholderPriority = new PlaceholderPriority();
  /** Per endpoint, warm nodes a pod could not reach lately (see {@link #warmPlacementTimeout}), until when. */
  private final Map<String, Map<String, Instant>> unreachableWarmNodes = new ConcurrentHashMap<>();
  private final EventRecorder events;
  private final Transitions transitions;
  private final ColdStartMetrics metrics;
  private final Clock clock;
  private final Autoscaler autoscaler;
  private final HealthChecks healthChecks;
  /** How long a pod sent to a warm node may stay unschedulable there before it is recreated to go elsewhere. */
  private final Duration warmPlacementTimeout;
  /** Cold starts already announced (metrics, events), newest kept; bounded so it cannot grow without end. */
  private final Set<String> announced = Collections.newSetFromMap(Collections.synchronizedMap(
      new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > 10_000;
        }
      }));

  /**
   * {@code autoscaler} may be null: endpoints with spec.autoscaling then keep the Deployment's count;
   * {@code healthChecks} may be null: servers slow to start are then not asked why.
   */
  public InferenceEndpointReconciler(HelperSettings helpers, EventRecorder events, ColdStartMetrics metrics, Clock clock,
      Autoscaler autoscaler, Duration warmPlacementTimeout, HealthChecks healthChecks) {
    this.warmPlacementTimeout = warmPlacementTimeout;
    this.healthChecks = healthChecks;
    this.deployment = new EndpointDependents.ServingDeployment(helpers);
    this.warmPool = new EndpointDependents.WarmPoolDeployment(helpers);
    this.events = events;
    this.transitions = new Transitions(events);
    this.metrics = metrics;
    this.clock = clock;
    this.autoscaler = autoscaler;
  }

  public InferenceEndpointReconciler(HelperSettings helpers, EventRecorder events, ColdStartMetrics metrics, Clock clock) {
    this(helpers, events, metrics, clock, null, WarmPlacement.STUCK_AFTER, null);
  }

  @Override
  public List<EventSource<?, InferenceEndpoint>> prepareEventSources(EventSourceContext<InferenceEndpoint> context) {
    var pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, InferenceEndpoint.class)
        .withName("endpoint-pods")
        .withLabelSelector(Labels.MANAGED_BY + "=" + Labels.MANAGED_BY_VALUE + "," + Labels.COMPONENT + " in ("
            + Labels.COMPONENT_SERVER + "," + Labels.COMPONENT_WARM_POOL + ")")
        .withNamespacesInheritedFromController()
        .withSecondaryToPrimaryMapper(InferenceEndpointReconciler::endpointOfPod)
        .build(), context);
    return List.of(deployment.initEventSource(context), service.initEventSource(context),
        imageCache.initEventSource(context), warmPool.initEventSource(context), pods);
  }

  static Set<ResourceID> endpointOfPod(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    String name = annotations == null ? null : annotations.get(Labels.ENDPOINT_NAME);
    return name == null ? Set.of() : Set.of(new ResourceID(name, pod.getMetadata().getNamespace()));
  }

  @Override
  public UpdateControl<InferenceEndpoint> reconcile(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    List<Pod> pods = new ArrayList<>();
    List<Pod> placeholders = new ArrayList<>();
    for (Pod pod : context.getSecondaryResources(Pod.class)) {
      boolean isPlaceholder = Labels.COMPONENT_WARM_POOL.equals(pod.getMetadata().getLabels().get(Labels.COMPONENT));
      (isPlaceholder ? placeholders : pods).add(pod);
    }
    // Autoscale before applying the Deployment: the first round claims spec.replicas for the
    // autoscaler's field manager, so the apply without replicas that follows cannot reset the count.
    Autoscaler.Outcome scaling = null;
    if (ie.getSpec().getAutoscaling() != null && autoscaler != null) {
      Deployment existing = deployment.getSecondaryResource(ie, context).orElse(null);
      if (existing != null && existing.getSpec() != null) {
        scaling = autoscaler.run(ie, existing, pods, EndpointModel.port(ie));
      }
    } else if (autoscaler != null) {
      autoscaler.forget(ie);
    }
    Deployment servingDeployment = deployment.reconcile(ie, context).getSingleResource().orElse(null);
    service.reconcile(ie, context);
    ImageCache cache = null;
    if (ie.getSpec().imageCacheEnabled()) {
      cache = imageCache.reconcile(ie, context).getSingleResource().orElse(null);
    } else {
      imageCache.delete(ie, context);
    }
    String priorityClassProblem = null;
    if (ie.getSpec().warmPoolSize() > 0) {
      priorityClassProblem = placeholderPriority.ensure(context.getClient());
      if (priorityClassProblem == null) {
        warmPool.reconcile(ie, context);
      }
    } else {
      warmPool.delete(ie, context);
    }
    // Also without a warm pool (any more): pods created while it was on must not stay gated.
    Optional<Instant> stuckCheck = place(ie, pods, placeholders, context);
    String missingCredentials = missingCredentials(ie, context);

    InferenceEndpointStatus previous = ie.getStatus();
    ColdStart previousColdStart = previous == null ? null : previous.getColdStart();
    List<ColdStarts.Measured> fresh = ColdStarts.newSince(previousColdStart, pods);
    for (ColdStarts.Measured coldStart : fresh) {
      // A reconciliation can still see the status from before the last patch: announce each cold start once.
      if (!announced.add(ie.getMetadata().getNamespace() + "/" + coldStart.pod() + "@" + coldStart.readyAt())) {
        continue;
      }
      metrics.record(ie.getMetadata().getNamespace(), ie.getMetadata().getName(), coldStart);
      log.info("InferenceEndpoint {}/{}: cold start of {}", ie.getMetadata().getNamespace(), ie.getMetadata().getName(),
          coldStart.summary());
      events.normal(ie, "ColdStart", "Start", coldStart.summary());
    }
    // A server starting for long is asked for its health path: whether it is still loading or will never pass.
    Map<String, HealthChecks.Answer> health = healthChecks == null ? Map.of()
        : healthChecks.check(ie, pods, clock.instant());
    InferenceEndpointStatus status = EndpointStatus.compute(new EndpointObservation(ie, servingDeployment, pods,
        placeholders, cache, missingCredentials, ColdStarts.record(previousColdStart, fresh), health, scaling,
        autoscaler != null, priorityClassProblem), clock.instant());
    announceTransitions(ie, previous, status);

    UpdateControl<InferenceEndpoint> control = StatusPatch.ifChanged(ie, status, InferenceEndpoint::new);
    Duration next = missingCredentials == null ? null : MissingSecrets.RECHECK;
    if (stuckCheck.isPresent()) {
      // A pod on its way to a warm node: look again when it would count as stuck.
      Duration untilStuck = Duration.between(clock.instant(), stuckCheck.get()).plusSeconds(1);
      untilStuck = untilStuck.isNegative() ? Duration.ofSeconds(1) : untilStuck;
      next = next == null || untilStuck.compareTo(next) < 0 ? untilStuck : next;
    }
    if (healthChecks != null && HealthChecks.anyStarting(pods)) {
      // A server between its start and its first passed probe: the kubelet reports nothing until it passes.
      next = next == null || HealthChecks.RECHECK.compareTo(next) < 0 ? HealthChecks.RECHECK : next;
    }
    if (ie.getSpec().getAutoscaling() != null && autoscaler != null) {
      // The autoscaler's clock: another round after pollInterval, whatever else happens.
      Duration poll = scaling != null ? scaling.pollInterval() : Autoscaler.pollInterval(ie.getSpec().getAutoscaling());
      next = next == null || poll.compareTo(next) < 0 ? poll : next;
    }
    return next == null ? control : control.rescheduleAfter(next);
  }

  /**
   * Lifts the warm-placement gate of new serving pods, sending each to a free warm node first
   * ({@link WarmPlacement#plan}), and deletes pods that could not reach theirs, so that their
   * replacements go elsewhere. Returns when a pod on its way to a warm node would count as stuck.
   */
  private Optional<Instant> place(InferenceEndpoint ie, List<Pod> pods, List<Pod> placeholders,
      Context<InferenceEndpoint> context) {
    String key = ie.getMetadata().getNamespace() + "/" + ie.getMetadata().getName();
    Instant now = clock.instant();
    Map<String, Instant> unreachable = unreachableWarmNodes.computeIfAbsent(key, k -> new ConcurrentHashMap<>());
    unreachable.values().removeIf(until -> until.isBefore(now));
    var client = context.getClient();
    for (Pod pod : WarmPlacement.stuck(pods, now, warmPlacementTimeout)) {
      String node = WarmPlacement.warmNode(pod);
      unreachable.put(node, now.plus(UNREACHABLE_FOR));
      log.warn("InferenceEndpoint {}: pod {} could not be scheduled onto warm node {}; recreating it to go elsewhere",
          key, pod.getMetadata().getName(), node);
      events.warning(ie, "WarmNodeUnreachable", "Place", "pod " + pod.getMetadata().getName()
          + " could not be scheduled onto warm node " + node + " for " + warmPlacementTimeout.toSeconds()
          + " s; deleted so that its replacement goes to another node");
      client.pods().resource(pod).delete();
    }
    for (WarmPlacement.Release release : WarmPlacement.plan(ie, pods, placeholders, unreachable.keySet())) {
      Pod pod = release.pod();
      try {
        // On the pod object, not its name: fabric8 would read the pod first, and the operator may not get pods.
        client.pods().resource(pod).patch(PatchContext.of(PatchType.JSON), WarmPlacement.patch(release));
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404 || e.getCode() == 409 || e.getCode() == 422) {
          // Gone, or changed since this view of it (another round placed it): the next event brings it back.
          log.debug("InferenceEndpoint {}: pod {} not placed now: {}", key, pod.getMetadata().getName(), e.getMessage());
          continue;
        }
        throw e;
      }
      metrics.placed(ie.getMetadata().getNamespace(), ie.getMetadata().getName(), release.node() != null);
      if (release.node() != null) {
        log.info("InferenceEndpoint {}: pod {} sent to warm node {}", key, pod.getMetadata().getName(), release.node());
        events.normal(ie, "WarmPlacement", "Place", "pod " + pod.getMetadata().getName() + " sent to warm node "
            + release.node() + ", whose placeholder gives way");
      } else {
        log.info("InferenceEndpoint {}: pod {} released with no warm node free", key, pod.getMetadata().getName());
      }
    }
    if (unreachable.isEmpty()) {
      unreachableWarmNodes.remove(key);
    }
    return WarmPlacement.nextStuckCheck(pods, warmPlacementTimeout);
  }

  private static String missingCredentials(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    var model = ie.getSpec().getModel();
    if (model == null || model.getCredentialsSecret() == null) {
      return null;
    }
    List<String> missing = MissingSecrets.among(context.getClient(), ie.getMetadata().getNamespace(),
        List.of(model.getCredentialsSecret()));
    return missing.isEmpty() ? null : missing.get(0);
  }

  private void announceTransitions(InferenceEndpoint ie, InferenceEndpointStatus previous, InferenceEndpointStatus now) {
    transitions.announce(ie, previous == null ? null : previous.getConditions(), now.getConditions(), "Serve",
        "Ready", ready -> ready.getMessage() + " at " + now.getUrl());
  }
}
