package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import java.time.Clock;

/**
 * The objects an InferenceEndpoint owns, applied with server-side apply; owner references make GC
 * remove them. Declared in {@link InferenceEndpointReconciler}'s workflow, which JOSDK builds from
 * the classes, so what they need from the operator's settings reaches them through the
 * reconciliation's context ({@link #provide}).
 */
final class EndpointDependents {
  /** Dependent names, also their informers' names: two of them watch Deployments. */
  static final String SERVING_DEPLOYMENT = "deployment-" + Labels.COMPONENT_SERVER;

  static final String SERVICE = "service-" + Labels.COMPONENT_SERVER;
  static final String IMAGE_CACHE = "imagecache-" + Labels.COMPONENT_IMAGE_CACHE;
  static final String PRIORITY_CLASS = "priorityclass-" + Labels.COMPONENT_WARM_POOL;
  static final String WARM_POOL = "deployment-" + Labels.COMPONENT_WARM_POOL;

  /**
   * Informers watch only what the operator creates, selected by labels, not every object of a kind.
   */
  private static final String OWNED =
      Labels.MANAGED_BY + "=" + Labels.MANAGED_BY_VALUE + "," + Labels.COMPONENT + "=";

  static final String SERVER_SELECTOR = OWNED + Labels.COMPONENT_SERVER + "," + Labels.ENDPOINT;
  static final String IMAGE_CACHE_SELECTOR =
      OWNED + Labels.COMPONENT_IMAGE_CACHE + "," + Labels.ENDPOINT;
  static final String WARM_POOL_SELECTOR =
      OWNED + Labels.COMPONENT_WARM_POOL + "," + Labels.ENDPOINT;

  /** What the dependents need from the operator's settings, for one reconciliation. */
  record Inputs(HelperSettings helpers, Clock clock) {}

  private EndpointDependents() {}

  /** Hands the dependents their inputs; called before the workflow runs. */
  static void provide(Context<InferenceEndpoint> context, Inputs inputs) {
    context.managedWorkflowAndDependentResourceContext().put(Inputs.class, inputs);
  }

  static HelperSettings helpers(Context<InferenceEndpoint> context) {
    return context
        .managedWorkflowAndDependentResourceContext()
        .getMandatory(Inputs.class, Inputs.class)
        .helpers();
  }

  static Clock clock(Context<InferenceEndpoint> context) {
    return context
        .managedWorkflowAndDependentResourceContext()
        .getMandatory(Inputs.class, Inputs.class)
        .clock();
  }

  /** spec.imageCache.enabled (the default): the serving image's ImageCache exists only then. */
  static final class ImageCacheEnabled implements Condition<ImageCache, InferenceEndpoint> {
    @Override
    public boolean isMet(
        DependentResource<ImageCache, InferenceEndpoint> dependent,
        InferenceEndpoint ie,
        Context<InferenceEndpoint> context) {
      return ie.getSpec().imageCacheEnabled();
    }
  }

  /** spec.warmPool with replicas: the placeholders and their PriorityClass exist only then. */
  static final class WarmPoolWanted implements Condition<Object, InferenceEndpoint> {
    @Override
    public boolean isMet(
        DependentResource<Object, InferenceEndpoint> dependent,
        InferenceEndpoint ie,
        Context<InferenceEndpoint> context) {
      return ie.getSpec().warmPoolSize() > 0;
    }
  }

  @KubernetesDependent(informer = @Informer(labelSelector = SERVER_SELECTOR))
  static final class ServingDeployment
      extends CRUDKubernetesDependentResource<Deployment, InferenceEndpoint> {
    ServingDeployment() {
      super(Deployment.class);
    }

    @Override
    protected Deployment desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.deployment(ie, helpers(context));
    }
  }

  @KubernetesDependent(informer = @Informer(labelSelector = WARM_POOL_SELECTOR))
  static final class WarmPoolDeployment
      extends CRUDKubernetesDependentResource<Deployment, InferenceEndpoint> {
    WarmPoolDeployment() {
      super(Deployment.class);
    }

    @Override
    protected Deployment desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.warmPool(ie, helpers(context));
    }
  }

  @KubernetesDependent(informer = @Informer(labelSelector = SERVER_SELECTOR))
  static final class ServingService
      extends CRUDKubernetesDependentResource<Service, InferenceEndpoint> {
    ServingService() {
      super(Service.class);
    }

    @Override
    protected Service desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.service(ie);
    }
  }

  @KubernetesDependent(informer = @Informer(labelSelector = IMAGE_CACHE_SELECTOR))
  static final class ServingImageCache
      extends CRUDKubernetesDependentResource<ImageCache, InferenceEndpoint> {
    ServingImageCache() {
      super(ImageCache.class);
    }

    @Override
    protected ImageCache desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.imageCache(ie);
    }
  }
}
