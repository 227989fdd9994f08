package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;

/** The ImageCache's DaemonSet, applied with server-side apply and owned by the ImageCache (GC deletes it). */
public class CacheDaemonSet extends CRUDKubernetesDependentResource<DaemonSet, ImageCache> {
  static final String SELECTOR = Labels.MANAGED_BY + "=" + Labels.MANAGED_BY_VALUE + ","
      + Labels.COMPONENT + "=" + CacheDaemonSetModel.COMPONENT;

  private final HelperSettings helpers;

  public CacheDaemonSet(HelperSettings helpers) {
    super(DaemonSet.class);
    this.helpers = helpers;
  }

  @Override
  protected DaemonSet desired(ImageCache cache, Context<ImageCache> context) {
    return CacheDaemonSetModel.desired(cache, helpers);
  }

  /** Watch only our own DaemonSets, not every DaemonSet of the cluster. */
  @Override
  protected InformerEventSourceConfiguration.Builder<DaemonSet> informerConfigurationBuilder(
      EventSourceContext<ImageCache> context) {
    return super.informerConfigurationBuilder(context).withLabelSelector(SELECTOR);
  }
}
