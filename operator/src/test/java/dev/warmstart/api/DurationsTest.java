package dev.warmstart.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Durations;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {

  static Stream<Arguments> valid() {
    return Stream.of(
        Arguments.of("10m", Duration.ofMinutes(10)),
        Arguments.of("1h30m", Duration.ofMinutes(90)),
        Arguments.of("500ms", Duration.ofMillis(500)),
        Arguments.of("2s", Duration.ofSeconds(2)),
        Arguments.of("1m30s", Duration.ofSeconds(90)),
        Arguments.of("1s500ms", Duration.ofMillis(1500)),
        Arguments.of("0s", Duration.ZERO));
  }

  @ParameterizedTest
  @MethodSource("valid")
  void parsesGoDurations(String text, Duration expected) {
    assertEquals(expected, Durations.parse(text));
    assertTrue(
        text.matches(Durations.PATTERN), "the CRD pattern must accept what parse accepts: " + text);
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(strings = {"10", "1d", "", "1.5h", "-1s", " 10m", "10m ", "10M", "m", "1h 30m"})
  void rejectsWithClearMessage(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Durations.parse(text));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("10m"), "message should show an example: " + e.getMessage());
    if (text != null) {
      assertTrue(!text.matches(Durations.PATTERN), "the CRD pattern must reject it too: " + text);
    }
  }

  static Stream<Arguments> formatted() {
    return Stream.of(
        Arguments.of(Duration.ofSeconds(45), "45s"),
        Arguments.of(Duration.ofSeconds(77), "1m17s"),
        Arguments.of(Duration.ofSeconds(257), "4m17s"),
        Arguments.of(Duration.ofMinutes(2), "2m"),
        Arguments.of(Duration.ofSeconds(3720), "1h2m"),
        Arguments.of(Duration.ofSeconds(3725), "1h2m"),
        Arguments.of(Duration.ofHours(1), "1h"),
        Arguments.of(Duration.ofMillis(59_600), "1m"),
        Arguments.of(Duration.ofMillis(3_599_600), "1h"),
        Arguments.of(Duration.ZERO, "0s"));
  }

  @ParameterizedTest
  @MethodSource("formatted")
  void formatsCompactly(Duration d, String expected) {
    assertEquals(expected, Durations.format(d));
  }

  @Test
  void formatIsParseableAndExactBelowAnHour() {
    for (long s = 0; s < 3600; s += 7) {
      Duration d = Duration.ofSeconds(s);
      assertEquals(d, Durations.parse(Durations.format(d)), "round trip of " + s + "s");
    }
  }
}
