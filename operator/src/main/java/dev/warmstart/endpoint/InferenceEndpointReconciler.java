package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.Labels;
import dev.warmstart.operator.HelperSettings;
import dev.warmstart.status.Conditions;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
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
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a model: applies the Deployment, the Service and (unless disabled) the serving image's
 * ImageCache, then reports replicas, conditions and where each replica's cold start went.
 * Deleting the endpoint garbage-collects all three (owner references).
 */
@ControllerConfiguration(name = InferenceEndpointReconciler.NAME)
public class InferenceEndpointReconciler implements Reconciler<InferenceEndpoint> {
  public static final String NAME = "inferenceendpoint";
  static final Duration RECHECK_MISSING_SECRET = Duration.ofSeconds(30);
  private static final Logger log = LoggerFactory.getLogger(InferenceEndpointReconciler.class);

  private final EndpointDependents.ServingDeployment deployment;
  private final EndpointDependents.ServingService service = new EndpointDependents.ServingService();
  private final EndpointDependents.ServingImageCache imageCache = new EndpointDependents.ServingImageCache();
  private final EventRecorder events;
  private final ColdStartMetrics metrics;
  private final Clock clock;
  private final Autoscaler autoscaler;
  /** Cold starts already announced (metrics, events), newest kept; bounded so it cannot grow without end. */
  private final Set<String> announced = Collections.newSetFromMap(Collections.synchronizedMap(
      new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > 10_000;
        }
      }));

  /** {@code autoscaler} may be null: endpoints with spec.autoscaling then keep the Deployment's count. */
  public InferenceEndpointReconciler(HelperSettings helpers, EventRecorder events, ColdStartMetrics metrics, Clock clock,
      Autoscaler autoscaler) {
    this.deployment = new EndpointDependents.ServingDeployment(helpers);
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
    this.autoscaler = autoscaler;
  }

  public InferenceEndpointReconciler(HelperSettings helpers, EventRecorder events, ColdStartMetrics metrics, Clock clock) {
    this(helpers, events, metrics, clock, null);
  }

  @Override
  public List<EventSource<?, InferenceEndpoint>> prepareEventSources(EventSourceContext<InferenceEndpoint> context) {
    var pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, InferenceEndpoint.class)
        .withName("endpoint-pods")
        .withLabelSelector(Labels.MANAGED_BY + "=" + Labels.MANAGED_BY_VALUE + "," + Labels.COMPONENT + "="
            + Labels.COMPONENT_SERVER)
        .withNamespacesInheritedFromController()
        .withSecondaryToPrimaryMapper(InferenceEndpointReconciler::endpointOfPod)
        .build(), context);
    return List.of(deployment.initEventSource(context), service.initEventSource(context),
        imageCache.initEventSource(context), pods);
  }

  static Set<ResourceID> endpointOfPod(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    String name = annotations == null ? null : annotations.get(Labels.ENDPOINT_NAME);
    return name == null ? Set.of() : Set.of(new ResourceID(name, pod.getMetadata().getNamespace()));
  }

  @Override
  public UpdateControl<InferenceEndpoint> reconcile(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    var pods = context.getSecondaryResources(Pod.class);
    // Autoscale before applying the Deployment: the first round claims spec.replicas for the
    // autoscaler's field manager, so the apply without replicas that follows cannot reset the count.
    Autoscaler.Outcome scaling = null;
    if (ie.getSpec().getAutoscaling() != null && autoscaler != null) {
      Deployment existing = context.getSecondaryResource(Deployment.class).orElse(null);
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
    InferenceEndpointStatus status = EndpointStatus.compute(ie, servingDeployment, pods, cache, missingCredentials,
        ColdStarts.record(previousColdStart, fresh));
    if (ie.getSpec().getAutoscaling() != null) {
      autoscalingStatus(status, previous, scaling);
    }
    status.setConditions(Conditions.merge(previous == null ? null : previous.getConditions(), status.getConditions(),
        ie.getMetadata().getGeneration(), clock.instant()));
    announceTransitions(ie, previous, status);

    UpdateControl<InferenceEndpoint> control = status.equals(previous) ? UpdateControl.noUpdate()
        : UpdateControl.patchStatus(statusPatch(ie, status));
    Duration next = missingCredentials == null ? null : RECHECK_MISSING_SECRET;
    if (ie.getSpec().getAutoscaling() != null && autoscaler != null) {
      // The autoscaler's clock: another round after pollInterval, whatever else happens.
      Duration poll = scaling != null ? scaling.pollInterval() : Autoscaler.pollInterval(ie.getSpec().getAutoscaling());
      next = next == null || poll.compareTo(next) < 0 ? poll : next;
    }
    return next == null ? control : control.rescheduleAfter(next);
  }

  /** desiredReplicas, lastScaleTime, currentMetrics and the three autoscaling conditions. */
  private void autoscalingStatus(InferenceEndpointStatus status, InferenceEndpointStatus previous,
      Autoscaler.Outcome scaling) {
    String lastScale = previous == null ? null : previous.getLastScaleTime();
    List<Condition> conditions = new java.util.ArrayList<>(status.getConditions());
    status.setConditions(conditions);
    if (scaling == null) {
      // No Deployment yet (or no autoscaler in this process): say so rather than leave the conditions out.
      status.setDesiredReplicas(previous == null ? null : previous.getDesiredReplicas());
      status.setLastScaleTime(lastScale);
      conditions.add(new Condition(Autoscaler.ABLE_TO_SCALE, Condition.FALSE,
          autoscaler == null ? "AutoscalerOff" : "NoScaleTarget",
          autoscaler == null ? "this operator runs without the autoscaler" : "the Deployment does not exist yet"));
      return;
    }
    status.setDesiredReplicas(scaling.desiredReplicas());
    status.setLastScaleTime(scaling.lastScale() != null
        ? scaling.lastScale().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString() : lastScale);
    status.setCurrentMetrics(scaling.currentMetrics());
    conditions.addAll(scaling.conditions());
  }

  private static String missingCredentials(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    var model = ie.getSpec().getModel();
    if (model == null || model.getCredentialsSecret() == null || model.getCredentialsSecret().isBlank()) {
      return null;
    }
    Secret secret = context.getClient().resources(Secret.class).inNamespace(ie.getMetadata().getNamespace())
        .withName(model.getCredentialsSecret()).get();
    return secret == null ? model.getCredentialsSecret() : null;
  }

  private void announceTransitions(InferenceEndpoint ie, InferenceEndpointStatus previous, InferenceEndpointStatus now) {
    var before = previous == null ? null : previous.getConditions();
    Condition ready = Conditions.find(now.getConditions(), EndpointStatus.READY).orElseThrow();
    Condition degraded = Conditions.find(now.getConditions(), EndpointStatus.DEGRADED).orElseThrow();
    String id = ie.getMetadata().getNamespace() + "/" + ie.getMetadata().getName();
    if (ready.isTrue() && !Conditions.isTrue(before, EndpointStatus.READY)) {
      log.info("InferenceEndpoint {} ready: {}", id, ready.getMessage());
      events.normal(ie, "Ready", "Serve", ready.getMessage() + " at " + now.getUrl());
    }
    String previousReason = Conditions.find(before, EndpointStatus.DEGRADED).map(Condition::getReason).orElse(null);
    if (degraded.isTrue() && !degraded.getReason().equals(previousReason)) {
      log.warn("InferenceEndpoint {} degraded: {}", id, degraded.getMessage());
      events.warning(ie, degraded.getReason(), "Serve", degraded.getMessage());
    }
  }

  /** Only name, namespace and status, so the patch never competes for spec or metadata fields. */
  private static InferenceEndpoint statusPatch(InferenceEndpoint ie, InferenceEndpointStatus status) {
    InferenceEndpoint patch = new InferenceEndpoint();
    patch.setMetadata(new ObjectMetaBuilder()
        .withName(ie.getMetadata().getName())
        .withNamespace(ie.getMetadata().getNamespace())
        .build());
    patch.setStatus(status);
    return patch;
  }
}
