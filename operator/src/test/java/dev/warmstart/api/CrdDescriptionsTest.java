package dev.warmstart.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * kubectl explain shows each field's description: every property of the committed CRDs, in spec and
 * status and at every depth, must have one (ours come from @JsonPropertyDescription, those of
 * embedded Kubernetes types from core-type-descriptions.properties, filled in by {@link
 * CrdPostProcessor}).
 */
class CrdDescriptionsTest {

  @Test
  void everyPropertyOfEveryCrdHasADescription() throws IOException {
    List<Path> files;
    try (Stream<Path> list = Files.list(repoRoot().resolve("crds"))) {
      files = list.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
    assertFalse(files.isEmpty(), "no CRDs in crds/");
    List<String> missing = new ArrayList<>();
    for (Path file : files) {
      undescribed(file).forEach(p -> missing.add(file.getFileName() + ": " + p));
    }
    if (!missing.isEmpty()) {
      fail(
          missing.size()
              + " CRD properties have no description (add them to "
              + CrdPostProcessor.DESCRIPTIONS
              + " or @JsonPropertyDescription, then run "
              + "mvn -pl operator process-classes -Dupdate-crds):\n  "
              + String.join("\n  ", missing));
    }
  }

  @Test
  void theLongestKeyThatIsASuffixAtADotBoundaryWins() {
    Map<String, String> descriptions =
        Map.of(
            "key", "any key",
            "tolerations[].key", "toleration key",
            "s[].key", "not at a boundary",
            "valueFrom.secretKeyRef.name", "secret name");
    assertEquals("toleration key", CrdPostProcessor.lookup("spec.tolerations[].key", descriptions));
    assertEquals(
        "any key", CrdPostProcessor.lookup("spec.env[].valueFrom.secretKeyRef.key", descriptions));
    assertEquals("any key", CrdPostProcessor.lookup("key", descriptions));
    assertEquals(
        "secret name",
        CrdPostProcessor.lookup("spec.env[].valueFrom.secretKeyRef.name", descriptions));
    assertNull(CrdPostProcessor.lookup("spec.env[].valueFrom.configMapKeyRef.name", descriptions));
  }

  @Test
  void everyKeyOfTheDescriptionsIsUsable() throws IOException {
    Map<String, String> descriptions = CrdPostProcessor.loadDescriptions();
    assertFalse(descriptions.isEmpty());
    descriptions.forEach(
        (key, text) -> {
          assertFalse(text.isBlank(), key + " has an empty description");
          assertTrue(
              key.equals(key.strip()) && !key.startsWith(".") && !key.endsWith("."),
              "malformed key: " + key);
        });
  }

  /**
   * Property paths in {@code file} with no description: "." between names, "[]" for items, "{}" for
   * map values.
   */
  static List<String> undescribed(Path file) throws IOException {
    CustomResourceDefinition crd =
        Serialization.unmarshal(Files.readString(file), CustomResourceDefinition.class);
    List<String> missing = new ArrayList<>();
    for (CustomResourceDefinitionVersion version : crd.getSpec().getVersions()) {
      JSONSchemaProps root = version.getSchema().getOpenAPIV3Schema();
      assertTrue(
          root.getProperties() != null && root.getProperties().containsKey("spec"),
          file + " " + version.getName() + ": no spec in the schema");
      walk(root, "", version.getName() + ": ", missing);
    }
    return missing;
  }

  private static void walk(
      JSONSchemaProps schema, String path, String prefix, List<String> missing) {
    if (schema == null) {
      return;
    }
    if (schema.getProperties() != null) {
      schema
          .getProperties()
          .forEach(
              (name, property) -> {
                String propertyPath = path.isEmpty() ? name : path + "." + name;
                if (property.getDescription() == null || property.getDescription().isBlank()) {
                  missing.add(prefix + propertyPath);
                }
                walk(property, propertyPath, prefix, missing);
              });
    }
    if (schema.getItems() != null) {
      walk(schema.getItems().getSchema(), path + "[]", prefix, missing);
      if (schema.getItems().getJSONSchemas() != null) {
        schema.getItems().getJSONSchemas().forEach(s -> walk(s, path + "[]", prefix, missing));
      }
    }
    if (schema.getAdditionalProperties() != null) {
      walk(schema.getAdditionalProperties().getSchema(), path + "{}", prefix, missing);
    }
    for (List<JSONSchemaProps> alternatives :
        List.of(
            listOrEmpty(schema.getAllOf()),
            listOrEmpty(schema.getAnyOf()),
            listOrEmpty(schema.getOneOf()))) {
      alternatives.forEach(s -> walk(s, path, prefix, missing));
    }
  }

  private static List<JSONSchemaProps> listOrEmpty(List<JSONSchemaProps> list) {
    return list == null ? List.of() : list;
  }

  /** The nearest directory, from the working directory up, that contains crds/. */
  static Path repoRoot() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isDirectory(dir.resolve("crds"))) {
        return dir;
      }
    }
    throw new IllegalStateException("no crds/ directory above " + Path.of("").toAbsolutePath());
  }
}
