package dev.warmstart.kube;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NamesTest {
  /**
   * DNS-1123 label: what Kubernetes accepts as a container name, a label value's strictest form, a
   * DaemonSet's pods' prefix.
   */
  private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

  /** A 253-character DNS-1123 subdomain, the longest name a namespaced object can have. */
  static String longName(char last) {
    StringBuilder sb = new StringBuilder();
    while (sb.length() < 252) {
      sb.append("serving-images.");
    }
    sb.setLength(252);
    if (!Character.isLetterOrDigit(sb.charAt(251))) {
      sb.setCharAt(251, 'x');
    }
    return sb.append(last).toString();
  }

  static void assertLabel(String s, int maxLength) {
    assertTrue(
        s.length() <= maxLength, () -> "longer than " + maxLength + " (" + s.length() + "): " + s);
    assertTrue(DNS1123_LABEL.matcher(s).matches(), () -> "not a DNS-1123 label: " + s);
  }

  @Test
  void shortValidNamesAreKeptReadable() {
    assertEquals("imagecache-serving-images", Names.derived("imagecache-", "serving-images"));
    assertEquals("imagecache-a", Names.derived("imagecache-", "a"));
  }

  @Test
  void longestObjectNameGivesValidLabel() {
    String name = longName('a');
    assertEquals(253, name.length());
    String derived = Names.derived("imagecache-", name);
    assertLabel(derived, Names.MAX_LABEL);
    assertTrue(derived.startsWith("imagecache-serving-images-"), derived);
  }

  @Test
  void namesDifferingOnlyAtTheEndStayDistinct() {
    String a = Names.derived("imagecache-", longName('a'));
    String b = Names.derived("imagecache-", longName('b'));
    assertNotEquals(a, b);
    assertLabel(a, Names.MAX_LABEL);
    assertLabel(b, Names.MAX_LABEL);
  }

  @Test
  void namesThatSanitizeAlikeStayDistinct() {
    // my.cache is a valid object name; sanitized it reads like my-cache, which is also a valid
    // name.
    String dotted = Names.derived("imagecache-", "my.cache");
    String dashed = Names.derived("imagecache-", "my-cache");
    assertNotEquals(dotted, dashed);
    assertLabel(dotted, Names.MAX_LABEL);
    assertEquals("imagecache-my-cache", dashed);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "My.Cache",
        "a_b",
        "___",
        "-leading",
        "trailing-",
        "x..y",
        "UPPER",
        "über",
        "a b c"
      })
  void anyInputGivesValidLabel(String name) {
    assertLabel(Names.derived("imagecache-", name), Names.MAX_LABEL);
    assertLabel(Names.derived("", name, 40), 40);
  }

  @Test
  void everyLengthRespectsTheLimit() {
    Set<String> seen = new HashSet<>();
    for (int len = 1; len <= 300; len++) {
      // Put a dash right at every possible cut position.
      String name = ("ab-".repeat(100) + "z").substring(0, len);
      for (int max : List.of(20, 40, Names.MAX_LABEL)) {
        assertLabel(Names.derived("p-", name, max), max);
      }
      assertTrue(seen.add(Names.derived("p-", name)), "collision at length " + len);
    }
  }

  @Test
  void derivedNamesAreStable() {
    String name = longName('q');
    assertEquals(Names.derived("imagecache-", name), Names.derived("imagecache-", name));
    assertEquals(Names.hash("vllm/vllm-openai:v0.11.0"), Names.hash("vllm/vllm-openai:v0.11.0"));
  }

  @Test
  void hashIsEightLowercaseHexCharacters() {
    String h = Names.hash("anything");
    assertTrue(h.matches("[0-9a-f]{8}"), h);
    assertNotEquals(h, Names.hash("anything else"));
  }
}
