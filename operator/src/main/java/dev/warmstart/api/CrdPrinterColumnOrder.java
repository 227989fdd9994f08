package dev.warmstart.api;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Build step after the fabric8 CRD generator, which sorts printer columns by JSON path: puts them
 * back in the order they are declared on the class, the order kubectl get shows them in.
 * Usage: CrdPrinterColumnOrder FILE...
 */
public final class CrdPrinterColumnOrder {
  private static final Map<String, Class<?>> KINDS =
      Map.of("ImageCache", ImageCache.class, "InferenceEndpoint", InferenceEndpoint.class);

  private CrdPrinterColumnOrder() {}

  public static void main(String[] args) throws IOException {
    for (String file : args) {
      Path path = Path.of(file);
      CustomResourceDefinition crd = Serialization.unmarshal(Files.readString(path), CustomResourceDefinition.class);
      Class<?> type = KINDS.get(crd.getSpec().getNames().getKind());
      if (type == null) {
        throw new IllegalArgumentException(file + ": unknown kind " + crd.getSpec().getNames().getKind());
      }
      List<String> declared = Arrays.stream(type.getAnnotationsByType(AdditionalPrinterColumn.class))
          .map(AdditionalPrinterColumn::name).toList();
      crd.getSpec().getVersions().forEach(v -> v.getAdditionalPrinterColumns()
          .sort(Comparator.comparingInt((CustomResourceColumnDefinition c) -> declared.indexOf(c.getName()))));
      Files.writeString(path, "# Generated from the Java API classes by the build (crd-generator); do not edit.\n"
          + Serialization.asYaml(crd));
    }
  }
}
