package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/**
 * The ImageCache's DaemonSet, applied with server-side apply and owned by the ImageCache (GC
 * deletes it). JOSDK builds it for {@link ImageCacheReconciler}'s workflow; the helper settings
 * reach it through the reconciliation's context ({@link #provide}).
 */
@KubernetesDependent(
    informer = @Informer(labelSelector = CacheDaemonSet.SELECTOR)) // only our own DaemonSets
public class CacheDaemonSet extends CRUDKubernetesDependentResource<DaemonSet, ImageCache> {
  /** The dependent's name, also its informer's. */
  static final String NAME = "daemonset-" + CacheDaemonSetModel.COMPONENT;

  static final String SELECTOR =
      Labels.MANAGED_BY
          + "="
          + Labels.MANAGED_BY_VALUE
          + ","
          + Labels.COMPONENT
          + "="
          + CacheDaemonSetModel.COMPONENT;

  public CacheDaemonSet() {
    super(DaemonSet.class);
  }

  /** Hands the dependent the helper settings; called before the workflow runs. */
  static void provide(Context<ImageCache> context, HelperSettings helpers) {
    context.managedWorkflowAndDependentResourceContext().put(HelperSettings.class, helpers);
  }

  @Override
  protected DaemonSet desired(ImageCache cache, Context<ImageCache> context) {
    return CacheDaemonSetModel.desired(
        cache,
        context
            .managedWorkflowAndDependentResourceContext()
            .getMandatory(HelperSettings.class, HelperSettings.class));
  }
}
