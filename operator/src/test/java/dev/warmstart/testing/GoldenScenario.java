package dev.warmstart.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.warmstart.kube.HelperSettings;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * One directory of golden files: the inputs of a desired-state builder and the objects it must
 * build, as YAML. A test reads the inputs, hands each built object to {@link #expect}, then calls
 * {@link #assertAllFilesUsed()}: a file that the test did not read is a stale expectation and fails
 * it, and so does a missing expected output.
 *
 * <p>With {@code -Dgolden.update=true} (off by default) {@link #expect} writes what was built
 * instead of comparing, and files that are no longer used are deleted: review the diff before
 * committing it.
 *
 * <p>The files are read from {@code src/test/resources} rather than the class path, so that a file
 * deleted there cannot linger in {@code target/} and be read.
 */
public final class GoldenScenario {
  /** Set to true to write the expected files from what the builders produce now. */
  public static final boolean UPDATE = Boolean.getBoolean("golden.update");

  private static final Path RESOURCES = Path.of("src", "test", "resources");
  private static final String README = "README.md";

  private final String name;
  private final Path dir;
  private final Set<String> used = new TreeSet<>();

  private GoldenScenario(Path dir) {
    this.name = dir.getFileName().toString();
    this.dir = dir;
  }

  /**
   * The scenarios under {@code src/test/resources/<root>}, one per directory; a README there is
   * allowed.
   */
  public static Stream<GoldenScenario> under(String root) {
    Path base = RESOURCES.resolve(root);
    assertTrue(
        Files.isDirectory(base),
        () -> base.toAbsolutePath() + " is missing (are the tests run from the module?)");
    try (Stream<Path> entries = Files.list(base)) {
      List<Path> all = entries.sorted().toList();
      List<Path> strays =
          all.stream()
              .filter(p -> !Files.isDirectory(p) && !p.getFileName().toString().equals(README))
              .toList();
      assertEquals(List.of(), strays, "files outside any scenario directory under " + base);
      return all.stream().filter(Files::isDirectory).map(GoldenScenario::new).toList().stream();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String name() {
    return name;
  }

  /** The input {@code file}, which must be there. */
  public <T> T input(String file, Class<T> type) {
    return optionalInput(file, type)
        .orElseThrow(() -> new AssertionError(name + ": missing input " + file));
  }

  /** The input {@code file}, if the scenario has one. */
  public <T> Optional<T> optionalInput(String file, Class<T> type) {
    Path path = dir.resolve(file);
    if (!Files.exists(path)) {
      return Optional.empty();
    }
    used.add(file);
    T value = Serialization.unmarshal(read(path), type);
    assertNotNull(value, () -> path + " is empty");
    return Optional.of(value);
  }

  /**
   * The operator's helper settings from {@code operator.yaml} ({@code image}, {@code gateUrl}), or
   * {@code otherwise} when the scenario has none.
   */
  public HelperSettings helperSettings(HelperSettings otherwise) {
    return optionalInput("operator.yaml", Map.class)
        .map(m -> new HelperSettings((String) m.get("image"), (String) m.get("gateUrl")))
        .orElse(otherwise);
  }

  /**
   * Compares {@code actual} with the expected {@code file} after parsing both as {@code type}, so
   * that key order, quoting, number formats and comments do not matter; or, when updating, writes
   * it.
   *
   * @param what how the object is built, for the header of a written file
   */
  public <T> void expect(String file, T actual, Class<T> type, String what) {
    used.add(file);
    Path path = dir.resolve(file);
    String actualYaml = Serialization.asYaml(actual);
    if (UPDATE) {
      write(
          path,
          "# "
              + what
              + ", for the scenario "
              + name
              + ".\n"
              + "# Written by -Dgolden.update=true; compared after parsing, so formatting and key order do not matter.\n"
              + actualYaml);
      return;
    }
    if (!Files.exists(path)) {
      fail(
          name
              + ": missing expected output "
              + file
              + " ("
              + what
              + "); if the scenario should build it, "
              + "run the test with -Dgolden.update=true and review the new file, or add it as:\n"
              + actualYaml);
    }
    T expected = Serialization.unmarshal(read(path), type);
    assertNotNull(expected, () -> path + " is empty");
    assertEquals(
        tree(expected),
        tree(actual),
        () ->
            name
                + ": "
                + what
                + " differs from "
                + path
                + "; if the change is intended, run the test with -Dgolden.update=true and review the diff, or replace the "
                + "file with:\n"
                + actualYaml);
  }

  /**
   * Fails on any file in the scenario that the test did not read or compare; when updating, deletes
   * them.
   */
  public void assertAllFilesUsed() {
    try (Stream<Path> entries = Files.list(dir)) {
      List<Path> unused =
          entries.filter(p -> !used.contains(p.getFileName().toString())).sorted().toList();
      if (UPDATE) {
        for (Path p : unused) {
          Files.delete(p);
        }
        return;
      }
      assertEquals(
          List.of(),
          unused.stream().map(p -> p.getFileName().toString()).toList(),
          () ->
              name
                  + ": files no expectation of this scenario uses (stale, or misnamed); delete them or run with "
                  + "-Dgolden.update=true");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * As a tree of maps and lists: what a golden file says, whatever its key order (not every spec
   * class has equals).
   */
  private static Object tree(Object resource) {
    return Serialization.unmarshal(Serialization.asYaml(resource), Map.class);
  }

  private static String read(Path path) {
    try {
      return Files.readString(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void write(Path path, String text) {
    try {
      Files.writeString(path, text, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public String toString() {
    return name;
  }
}
