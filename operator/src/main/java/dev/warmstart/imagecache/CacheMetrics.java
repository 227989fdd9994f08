package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheStatus.NodeCounts;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * warmstart_imagecache_nodes{namespace,name,state}: cache coverage per ImageCache. Rebuilt from all
 * cached ImageCaches on every reconciliation, so deleted caches drop out without a finalizer.
 */
public class CacheMetrics {
  private final MultiGauge nodes;

  public CacheMetrics(MeterRegistry registry) {
    this.nodes =
        MultiGauge.builder("warmstart.imagecache.nodes")
            .description("Nodes of an ImageCache's pool by state: desired, cached, pulling, failed")
            .register(registry);
  }

  public synchronized void publish(Collection<ImageCache> caches) {
    List<MultiGauge.Row<?>> rows = new ArrayList<>();
    for (ImageCache cache : caches) {
      if (cache.getStatus() == null || cache.getStatus().getNodes() == null) {
        continue;
      }
      NodeCounts n = cache.getStatus().getNodes();
      Tags tags =
          Tags.of(
              "namespace",
              cache.getMetadata().getNamespace(),
              "name",
              cache.getMetadata().getName());
      rows.add(MultiGauge.Row.of(tags.and("state", "desired"), n.getDesired()));
      rows.add(MultiGauge.Row.of(tags.and("state", "cached"), n.getCached()));
      rows.add(MultiGauge.Row.of(tags.and("state", "pulling"), n.getPulling()));
      rows.add(MultiGauge.Row.of(tags.and("state", "failed"), n.getFailed()));
    }
    nodes.register(rows, true);
  }
}
