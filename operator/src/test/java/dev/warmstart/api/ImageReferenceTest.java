package dev.warmstart.api;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageReference;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ImageReferenceTest {
  private static final Pattern REFERENCE = Pattern.compile(ImageReference.PATTERN);
  private static final String HEX64 =
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  @ParameterizedTest
  @ValueSource(
      strings = {
        "vllm/vllm-openai:v0.11.0",
        "ubuntu",
        "localhost:5000/a/b:tag",
        "1234.dkr.ecr.us-west-2.amazonaws.com/lmi@sha256:" + HEX64,
        "repo:tag@sha256:" + HEX64,
        "nvcr.io/nvidia/tritonserver:25.01-py3",
        "ghcr.io/org/repo_name__x:1.0",
        "lmsysorg/sglang:v0.5.4",
        "registry.example.com/team/server@sha256:" + HEX64,
        "my-registry:5000/lmi:latest"
      })
  void accepts(String image) {
    assertTrue(REFERENCE.matcher(image).matches(), image);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "vLLM/Server:latest",
        "repo:",
        "repo@sha256:abc",
        ":tag",
        "a//b",
        "repo:tag with space",
        "",
        "Ubuntu",
        "repo/",
        "-repo",
        "repo:-tag",
        "repo@sha256",
        "repo:tag@",
        "https://registry.example.com/repo"
      })
  void rejects(String image) {
    assertFalse(REFERENCE.matcher(image).matches(), "should reject '" + image + "'");
  }

  @Test
  void tagAtMost128Characters() {
    assertTrue(REFERENCE.matcher("repo:" + "t".repeat(128)).matches());
    assertFalse(REFERENCE.matcher("repo:" + "t".repeat(129)).matches());
  }

  @Test
  void survivesCelAndYamlQuoting() {
    // Embedded in a single-quoted CEL string literal inside the CRD's YAML: no quote, no backslash.
    assertFalse(ImageReference.PATTERN.contains("'"), ImageReference.PATTERN);
    assertFalse(ImageReference.PATTERN.contains("\\"), ImageReference.PATTERN);
    // RE2 (CEL's matches) has no lookaround and no backreferences.
    for (String unsupported : new String[] {"(?=", "(?!", "(?<=", "(?<!", "(?>"}) {
      assertFalse(ImageReference.PATTERN.contains(unsupported), unsupported);
    }
    assertTrue(
        ImageReference.PATTERN.startsWith("^") && ImageReference.PATTERN.endsWith("$"), "anchored");
  }
}
