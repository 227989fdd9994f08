package dev.warmstart.api.v1alpha1;

import java.time.Duration;
import java.util.regex.Matcher;

/** Go-style durations (10m, 2s, 1h30m, 500ms) as used in the API. */
public final class Durations {
  public static final String PATTERN = "^([0-9]+(ms|s|m|h))+$";
  private static final java.util.regex.Pattern PART =
      java.util.regex.Pattern.compile("([0-9]+)(ms|s|m|h)");

  private Durations() {}

  public static Duration parse(String text) {
    if (text == null || !text.matches(PATTERN)) {
      throw new IllegalArgumentException(
          "not a duration: '" + text + "' (expected for example 10m, 2s, 1h30m)");
    }
    try {
      Duration total = Duration.ZERO;
      Matcher m = PART.matcher(text);
      while (m.find()) {
        long n = Long.parseLong(m.group(1));
        total =
            total.plus(
                switch (m.group(2)) {
                  case "ms" -> Duration.ofMillis(n);
                  case "s" -> Duration.ofSeconds(n);
                  case "m" -> Duration.ofMinutes(n);
                  default -> Duration.ofHours(n);
                });
      }
      return total;
    } catch (ArithmeticException | NumberFormatException e) {
      throw new IllegalArgumentException("duration out of range: '" + text + "'", e);
    }
  }

  /** Compact form for status fields: 45s, 4m17s, 1h2m. */
  public static String format(Duration d) {
    long s = Math.round(d.toMillis() / 1000.0);
    if (s < 60) {
      return s + "s";
    }
    if (s < 3600) {
      return (s / 60) + "m" + (s % 60 == 0 ? "" : (s % 60) + "s");
    }
    return (s / 3600) + "h" + ((s % 3600) / 60 == 0 ? "" : ((s % 3600) / 60) + "m");
  }
}
