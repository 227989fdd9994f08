package dev.warmstart.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** Container images that every node of a node pool keeps cached. */
@Group(ImageCache.GROUP)
@Version(ImageCache.VERSION)
@ShortNames("ic")
@Categories("warmstart")
@AdditionalPrinterColumn(
    name = "Desired",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.nodes.desired")
@AdditionalPrinterColumn(
    name = "Cached",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.nodes.cached")
@AdditionalPrinterColumn(
    name = "Pulling",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.nodes.pulling")
@AdditionalPrinterColumn(
    name = "Failed",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.nodes.failed")
@AdditionalPrinterColumn(
    name = "Ready",
    type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(
    name = "Reason",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(
    name = "Age",
    type = AdditionalPrinterColumn.Type.DATE,
    jsonPath = ".metadata.creationTimestamp")
public class ImageCache extends CustomResource<ImageCacheSpec, ImageCacheStatus>
    implements Namespaced {
  public static final String GROUP = "warmstart.dev";
  public static final String VERSION = "v1alpha1";
}
