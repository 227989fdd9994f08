package dev.warmstart.api;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Build step after the fabric8 CRD generator, run on the generated CRD files:
 *
 * <ul>
 *   <li>The generator sorts printer columns by JSON path: puts them back in the order they are
 *       declared on the class, the order kubectl get shows them in.
 *   <li>Fields of embedded Kubernetes types (Toleration, EnvVar, ResourceRequirements, ...) come
 *       without descriptions: fills each missing one from {@value #DESCRIPTIONS}, so kubectl
 *       explain documents every field. Descriptions written on our own classes are left as they
 *       are.
 * </ul>
 *
 * Usage: CrdPostProcessor FILE...
 */
public final class CrdPostProcessor {
  /** Resource with the descriptions: keys are property path suffixes, see {@link #describe}. */
  static final String DESCRIPTIONS = "core-type-descriptions.properties";

  private static final Map<String, Class<?>> KINDS =
      Map.of("ImageCache", ImageCache.class, "InferenceEndpoint", InferenceEndpoint.class);

  private CrdPostProcessor() {}

  public static void main(String[] args) throws IOException {
    Map<String, String> descriptions = loadDescriptions();
    for (String file : args) {
      Path path = Path.of(file);
      CustomResourceDefinition crd =
          Serialization.unmarshal(Files.readString(path), CustomResourceDefinition.class);
      Class<?> type = KINDS.get(crd.getSpec().getNames().getKind());
      if (type == null) {
        throw new IllegalArgumentException(
            file + ": unknown kind " + crd.getSpec().getNames().getKind());
      }
      List<String> declared =
          Arrays.stream(type.getAnnotationsByType(AdditionalPrinterColumn.class))
              .map(AdditionalPrinterColumn::name)
              .toList();
      crd.getSpec()
          .getVersions()
          .forEach(
              v ->
                  v.getAdditionalPrinterColumns()
                      .sort(
                          Comparator.comparingInt(
                              (CustomResourceColumnDefinition c) ->
                                  declared.indexOf(c.getName()))));
      List<String> undescribed = new ArrayList<>();
      crd.getSpec()
          .getVersions()
          .forEach(
              v -> describe(v.getSchema().getOpenAPIV3Schema(), "", descriptions, undescribed));
      undescribed.forEach(
          p ->
              System.err.println(
                  "warning: "
                      + path.getFileName()
                      + ": "
                      + p
                      + " has no description; add one to "
                      + DESCRIPTIONS));
      Files.writeString(
          path,
          "# Generated from the Java API classes by the build (crd-generator); do not edit.\n"
              + Serialization.asYaml(crd));
    }
  }

  static Map<String, String> loadDescriptions() throws IOException {
    Properties properties = new Properties();
    try (InputStream in = CrdPostProcessor.class.getResourceAsStream(DESCRIPTIONS)) {
      if (in == null) {
        throw new IOException(
            "resource " + DESCRIPTIONS + " not found next to " + CrdPostProcessor.class.getName());
      }
      try (Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
        properties.load(reader);
      }
    }
    Map<String, String> descriptions = new HashMap<>();
    properties
        .stringPropertyNames()
        .forEach(k -> descriptions.put(k, properties.getProperty(k).strip()));
    return descriptions;
  }

  /**
   * Fills missing descriptions below {@code schema}, whose property path is {@code path} ("" for
   * the root): properties are joined with ".", array items add "[]" and map values "{}", for
   * example {@code spec.tolerations[].key}. Each property without a description gets the one whose
   * key is the longest suffix of its path at a "." boundary ({@code tolerations[].key} and {@code
   * key} match {@code spec.tolerations[].key}, {@code s[].key} does not); paths no key matches go
   * to {@code undescribed}.
   */
  static void describe(
      JSONSchemaProps schema,
      String path,
      Map<String, String> descriptions,
      List<String> undescribed) {
    if (schema == null) {
      return;
    }
    if (schema.getProperties() != null) {
      schema
          .getProperties()
          .forEach(
              (name, property) -> {
                String propertyPath = path.isEmpty() ? name : path + "." + name;
                if (isBlank(property.getDescription())) {
                  String description = lookup(propertyPath, descriptions);
                  if (description == null) {
                    undescribed.add(propertyPath);
                  } else {
                    property.setDescription(description);
                  }
                }
                describe(property, propertyPath, descriptions, undescribed);
              });
    }
    if (schema.getItems() != null) {
      describe(schema.getItems().getSchema(), path + "[]", descriptions, undescribed);
      if (schema.getItems().getJSONSchemas() != null) {
        schema
            .getItems()
            .getJSONSchemas()
            .forEach(s -> describe(s, path + "[]", descriptions, undescribed));
      }
    }
    if (schema.getAdditionalProperties() != null) {
      describe(
          schema.getAdditionalProperties().getSchema(), path + "{}", descriptions, undescribed);
    }
  }

  /** The description whose key is the longest suffix of {@code path} at a "." boundary, or null. */
  static String lookup(String path, Map<String, String> descriptions) {
    for (String suffix = path; ; ) {
      String description = descriptions.get(suffix);
      if (description != null && !description.isEmpty()) {
        return description;
      }
      int dot = suffix.indexOf('.');
      if (dot < 0) {
        return null;
      }
      suffix = suffix.substring(dot + 1);
    }
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }
}
