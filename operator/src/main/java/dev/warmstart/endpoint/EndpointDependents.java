package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;

/** The objects an InferenceEndpoint owns, applied with server-side apply; owner references make GC remove them. */
final class EndpointDependents {
  private EndpointDependents() {}

  /** Watch only what we create, selected by labels, not every Deployment or Service of the cluster. */
  abstract static class Owned<R extends HasMetadata> extends CRUDKubernetesDependentResource<R, InferenceEndpoint> {
    private final String selector;
    private final String name;

    Owned(Class<R> type, String component) {
      super(type);
      this.name = type.getSimpleName().toLowerCase(java.util.Locale.ROOT) + "-" + component;
      this.selector = Labels.MANAGED_BY + "=" + Labels.MANAGED_BY_VALUE + "," + Labels.COMPONENT + "=" + component
          + "," + Labels.ENDPOINT;
    }

    @Override
    protected InformerEventSourceConfiguration.Builder<R> informerConfigurationBuilder(
        EventSourceContext<InferenceEndpoint> context) {
      // Named: two dependents watch Deployments (the servers and the warm pool).
      return super.informerConfigurationBuilder(context).withLabelSelector(selector).withName(name);
    }
  }

  static final class ServingDeployment extends Owned<Deployment> {
    private final HelperSettings helpers;

    ServingDeployment(HelperSettings helpers) {
      super(Deployment.class, Labels.COMPONENT_SERVER);
      this.helpers = helpers;
    }

    @Override
    protected Deployment desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.deployment(ie, helpers);
    }
  }

  static final class WarmPoolDeployment extends Owned<Deployment> {
    private final HelperSettings helpers;

    WarmPoolDeployment(HelperSettings helpers) {
      super(Deployment.class, Labels.COMPONENT_WARM_POOL);
      this.helpers = helpers;
    }

    @Override
    protected Deployment desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.warmPool(ie, helpers);
    }
  }

  static final class ServingService extends Owned<Service> {
    ServingService() {
      super(Service.class, Labels.COMPONENT_SERVER);
    }

    @Override
    protected Service desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.service(ie);
    }
  }

  static final class ServingImageCache extends Owned<ImageCache> {
    ServingImageCache() {
      super(ImageCache.class, Labels.COMPONENT_IMAGE_CACHE);
    }

    @Override
    protected ImageCache desired(InferenceEndpoint ie, Context<InferenceEndpoint> context) {
      return EndpointModel.imageCache(ie);
    }
  }
}
