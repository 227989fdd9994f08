package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.status.MissingSecrets;
import dev.warmstart.status.StatusPatch;
import dev.warmstart.status.Transitions;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Serves a model: applies the Deployment, the Service, (unless disabled) the serving image's
 * ImageCache and (with spec.warmPool) the placeholders' Deployment, places new serving pods on warm
 * nodes first, then reports replicas, the warm pool, conditions and where each replica's cold start
 * went. Deleting the endpoint garbage-collects them all (owner references).
 *
 * <p>The workflow is invoked from {@link #reconcile}, after the autoscaler; a dependent whose
 * precondition stops holding is deleted (the PriorityClass excepted: it is shared and create-only).
 * Preconditions rather than activation conditions: those keep the object, and register or drop the
 * informer of every endpoint by what one endpoint's spec says.
 */
@ControllerConfiguration(name = InferenceEndpointReconciler.NAME)
@Workflow(
    explicitInvocation = true,
    handleExceptionsInReconciler = true,
    dependents = {
      @Dependent(
          name = EndpointDependents.SERVING_DEPLOYMENT,
          type = EndpointDependents.ServingDeployment.class),
      @Dependent(name = EndpointDependents.SERVICE, type = EndpointDependents.ServingService.class),
      @Dependent(
          name = EndpointDependents.IMAGE_CACHE,
          type = EndpointDependents.ServingImageCache.class,
          reconcilePrecondition = EndpointDependents.ImageCacheEnabled.class),
      @Dependent(
          name = EndpointDependents.PRIORITY_CLASS,
          type = PlaceholderPriorityClass.class,
          reconcilePrecondition = EndpointDependents.WarmPoolWanted.class),
      @Dependent(
          name = EndpointDependents.WARM_POOL,
          type = EndpointDependents.WarmPoolDeployment.class,
          reconcilePrecondition = EndpointDependents.WarmPoolWanted.class,
          dependsOn = EndpointDependents.PRIORITY_CLASS)
    })
public class InferenceEndpointReconciler implements Reconciler<InferenceEndpoint> {
  public static final String NAME = "inferenceendpoint";

  private final EndpointDependents.Inputs inputs;
  private final Clock clock;
  private final Autoscaler autoscaler;
  private final HealthChecks healthChecks;
  private final WarmPlacer warmPlacer;
  private final ColdStartLedger coldStarts;
  private final Transitions transitions;

  /**
   * {@code autoscaler} may be null: endpoints with spec.autoscaling then keep the Deployment's
   * count; {@code healthChecks} may be null: servers slow to start are then not asked why.
   */
  public InferenceEndpointReconciler(
      HelperSettings helpers,
      EventRecorder events,
      ColdStartMetrics metrics,
      Clock clock,
      Autoscaler autoscaler,
      Duration warmPlacementTimeout,
      HealthChecks healthChecks) {
    this.inputs = new EndpointDependents.Inputs(helpers, clock);
    this.clock = clock;
    this.autoscaler = autoscaler;
    this.healthChecks = healthChecks;
    this.warmPlacer = new WarmPlacer(events, metrics, clock, warmPlacementTimeout);
    this.coldStarts = new ColdStartLedger(events, metrics);
    this.transitions = new Transitions(events);
  }

  /** The pods; the dependents' informers come from the workflow. */
  @Override
  public List<EventSource<?, InferenceEndpoint>> prepareEventSources(
      EventSourceContext<InferenceEndpoint> context) {
    return List.of(
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Pod.class, InferenceEndpoint.class)
                .withName("endpoint-pods")
                .withLabelSelector(
                    Labels.MANAGED_BY
                        + "="
                        + Labels.MANAGED_BY_VALUE
                        + ","
                        + Labels.COMPONENT
                        + " in ("
                        + Labels.COMPONENT_SERVER
                        + ","
                        + Labels.COMPONENT_WARM_POOL
                        + ")")
                .withNamespacesInheritedFromController()
                .withSecondaryToPrimaryMapper(InferenceEndpointReconciler::endpointOfPod)
                .build(),
            context));
  }

  static Set<ResourceID> endpointOfPod(Pod pod) {
    Map<String, String> annotations = pod.getMetadata().getAnnotations();
    String name = annotations == null ? null : annotations.get(Labels.ENDPOINT_NAME);
    return name == null ? Set.of() : Set.of(new ResourceID(name, pod.getMetadata().getNamespace()));
  }

  @Override
  public UpdateControl<InferenceEndpoint> reconcile(
      InferenceEndpoint ie, Context<InferenceEndpoint> context) throws Exception {
    forgetDeleted(context);
    Pods pods = Pods.of(context.getSecondaryResources(Pod.class));
    Autoscaler.Outcome scaling = autoscale(ie, pods.serving(), context);
    Applied applied = apply(ie, context);
    // Also without a warm pool (any more): pods created while it was on must not stay gated.
    Optional<Instant> stuckCheck =
        warmPlacer.place(ie, pods.serving(), pods.placeholders(), context.getClient());
    ColdStart coldStart = coldStarts.account(ie, pods.serving());
    EndpointObservation seen =
        new EndpointObservation(
            ie,
            applied.deployment(),
            pods.serving(),
            pods.placeholders(),
            applied.imageCache(),
            missingCredentials(ie, context),
            coldStart,
            askStartingServers(ie, pods.serving()),
            scaling,
            autoscaler != null,
            applied.priorityClassProblem());
    InferenceEndpointStatus status = EndpointStatus.compute(seen, clock.instant());
    transitions.announce(
        ie,
        ie.getStatus() == null ? null : ie.getStatus().getConditions(),
        status.getConditions(),
        "Serve",
        "Ready",
        ready -> ready.getMessage() + " at " + status.getUrl());
    return reschedule(StatusPatch.ifChanged(ie, status, InferenceEndpoint::new), seen, stuckCheck);
  }

  /** The endpoint's serving pods and warm-pool placeholders. */
  record Pods(List<Pod> serving, List<Pod> placeholders) {
    static Pods of(Set<Pod> all) {
      List<Pod> serving = new ArrayList<>();
      List<Pod> placeholders = new ArrayList<>();
      for (Pod pod : all) {
        boolean isPlaceholder =
            Labels.COMPONENT_WARM_POOL.equals(pod.getMetadata().getLabels().get(Labels.COMPONENT));
        (isPlaceholder ? placeholders : serving).add(pod);
      }
      return new Pods(serving, placeholders);
    }
  }

  /**
   * What the workflow left: the serving Deployment and ImageCache as applied, and a PriorityClass
   * problem.
   */
  record Applied(Deployment deployment, ImageCache imageCache, String priorityClassProblem) {}

  /**
   * Deleted endpoints leave no memory behind (no finalizer: the operator may not patch endpoints).
   */
  private void forgetDeleted(Context<InferenceEndpoint> context) {
    Predicate<ResourceID> exists = id -> context.getPrimaryCache().get(id).isPresent();
    warmPlacer.retainOnly(exists);
    coldStarts.retainOnly(exists);
    if (autoscaler != null) {
      autoscaler.retainOnly(exists);
    }
  }

  /**
   * Before the Deployment is applied: the first round claims spec.replicas for the autoscaler's
   * field manager, so the apply without replicas that follows cannot reset the count. Null without
   * a round.
   */
  private Autoscaler.Outcome autoscale(
      InferenceEndpoint ie, List<Pod> pods, Context<InferenceEndpoint> context) {
    if (autoscaler == null) {
      return null;
    }
    if (ie.getSpec().getAutoscaling() == null) {
      autoscaler.forget(ie);
      return null;
    }
    Deployment existing =
        context
            .getSecondaryResource(Deployment.class, EndpointDependents.SERVING_DEPLOYMENT)
            .orElse(null);
    return existing == null || existing.getSpec() == null
        ? null
        : autoscaler.run(ie, existing, pods, EndpointModel.port(ie));
  }

  /**
   * Runs the workflow. A PriorityClass the operator may not create is a condition (the warm pool
   * waits for it); any other failure is thrown as it came, for JOSDK to retry.
   */
  private Applied apply(InferenceEndpoint ie, Context<InferenceEndpoint> context) throws Exception {
    EndpointDependents.provide(context, inputs);
    var result = context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
    String priorityClassProblem = null;
    for (Exception e : result.getErroredDependents().values()) {
      if (!(e instanceof PlaceholderPriorityClass.Unavailable)) {
        throw e;
      }
      priorityClassProblem = e.getMessage();
    }
    Deployment deployment =
        context
            .getSecondaryResource(Deployment.class, EndpointDependents.SERVING_DEPLOYMENT)
            .orElse(null);
    ImageCache cache =
        ie.getSpec().imageCacheEnabled()
            ? context.getSecondaryResource(ImageCache.class).orElse(null)
            : null;
    return new Applied(deployment, cache, priorityClassProblem);
  }

  private static String missingCredentials(
      InferenceEndpoint ie, Context<InferenceEndpoint> context) {
    var model = ie.getSpec().getModel();
    if (model == null || model.getCredentialsSecret() == null) {
      return null;
    }
    List<String> missing =
        MissingSecrets.among(
            context.getClient(),
            ie.getMetadata().getNamespace(),
            List.of(model.getCredentialsSecret()));
    return missing.isEmpty() ? null : missing.get(0);
  }

  /**
   * A server starting for long is asked for its health path: whether it is still loading or will
   * never pass.
   */
  private Map<String, HealthChecks.Answer> askStartingServers(
      InferenceEndpoint ie, List<Pod> pods) {
    return healthChecks == null ? Map.of() : healthChecks.check(ie, pods, clock.instant());
  }

  /** The soonest of the reasons to look again before an event comes. */
  private UpdateControl<InferenceEndpoint> reschedule(
      UpdateControl<InferenceEndpoint> control,
      EndpointObservation seen,
      Optional<Instant> stuckCheck) {
    List<Duration> after = new ArrayList<>();
    if (seen.missingCredentials() != null) {
      after.add(MissingSecrets.RECHECK);
    }
    stuckCheck.ifPresent(
        stuck -> {
          // A pod on its way to a warm node: look again when it would count as stuck.
          Duration untilStuck = Duration.between(clock.instant(), stuck).plusSeconds(1);
          after.add(untilStuck.isNegative() ? Duration.ofSeconds(1) : untilStuck);
        });
    if (healthChecks != null && HealthChecks.anyStarting(seen.pods())) {
      // A server between its start and its first passed probe: the kubelet reports nothing until it
      // passes.
      after.add(HealthChecks.RECHECK);
    }
    var autoscaling = seen.endpoint().getSpec().getAutoscaling();
    if (autoscaling != null && autoscaler != null) {
      // The autoscaler's clock: another round after pollInterval, whatever else happens.
      after.add(
          seen.scaling() != null
              ? seen.scaling().pollInterval()
              : Autoscaler.pollInterval(autoscaling));
    }
    return after.stream()
        .min(Comparator.naturalOrder())
        .map(control::rescheduleAfter)
        .orElse(control);
  }
}
