package dev.warmstart.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TargetPathsTest {
  private static final Path ROOT = Path.of("/models/qwen");

  @ParameterizedTest
  @ValueSource(
      strings = {
        "config.json",
        "a/b/c.safetensors",
        "with space/x.bin",
        ".gitattributes",
        "a/..b/c..d"
      })
  void keepsPathsUnderTheRoot(String relative) throws FetchException {
    assertEquals(ROOT.resolve(relative), TargetPaths.resolve(ROOT, relative));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "/etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "a/./b",
        ".",
        "a//b",
        "a/",
        "a\\..\\..\\x",
        "nul\0byte"
      })
  void rejectsPathsThatAreEmptyAbsoluteOrEscape(String relative) {
    FetchException e =
        assertThrows(FetchException.class, () -> TargetPaths.resolve(ROOT, relative));
    assertEquals(false, e.retryable());
  }

  @ParameterizedTest
  @ValueSource(strings = {"a\nb", "a\u001b[31mred"})
  void printableEscapesControlCharacters(String s) {
    assertEquals(-1, TargetPaths.printable(s).chars().filter(c -> c < 0x20).findAny().orElse(-1));
  }
}
