package dev.warmstart.fetch.cache;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte sizes as fetch-model's options take them: plain bytes, or a Kubernetes quantity like 500Gi
 * or 1.5T.
 */
public final class Sizes {
  private static final Pattern QUANTITY =
      Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?");

  private Sizes() {}

  /** The bytes {@code s} stands for. */
  public static long parse(String s) {
    Matcher m = QUANTITY.matcher(s == null ? "" : s.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "'"
              + SafePaths.printable(String.valueOf(s))
              + "' is not a size: write bytes or a quantity like 500Gi");
    }
    String unit = m.group(2) == null ? "" : m.group(2);
    long factor =
        switch (unit) {
          case "" -> 1L;
          case "k", "K" -> 1000L;
          case "M" -> 1000L * 1000;
          case "G" -> 1000L * 1000 * 1000;
          case "T" -> 1000L * 1000 * 1000 * 1000;
          case "P" -> 1000L * 1000 * 1000 * 1000 * 1000;
          case "E" -> 1000L * 1000 * 1000 * 1000 * 1000 * 1000;
          case "Ki" -> 1L << 10;
          case "Mi" -> 1L << 20;
          case "Gi" -> 1L << 30;
          case "Ti" -> 1L << 40;
          case "Pi" -> 1L << 50;
          case "Ei" -> 1L << 60;
          default -> throw new IllegalStateException(unit);
        };
    BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(factor));
    return bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0
        ? Long.MAX_VALUE
        : bytes.longValue();
  }

  /** {@code bytes} for a log line: 1.5 GiB. */
  public static String format(long bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = bytes;
    int i = -1;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[i]);
  }
}
