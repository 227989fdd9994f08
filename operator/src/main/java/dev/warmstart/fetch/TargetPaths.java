package dev.warmstart.fetch;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Maps the relative paths of a listing into the target directory, refusing any that would leave it.
 */
public final class TargetPaths {
  private TargetPaths() {}

  /**
   * Resolves {@code relative} ('/'-separated) under {@code root}.
   *
   * @throws FetchException if the path is empty, absolute, has an empty, "." or ".." segment, a NUL
   *     or a backslash, or otherwise does not stay under {@code root}
   */
  public static Path resolve(Path root, String relative) throws FetchException {
    if (relative.isEmpty()
        || relative.startsWith("/")
        || relative.indexOf('\0') >= 0
        || relative.indexOf('\\') >= 0) {
      throw unsafe(relative);
    }
    for (String segment : relative.split("/", -1)) {
      if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        throw unsafe(relative);
      }
    }
    Path base = root.toAbsolutePath().normalize();
    Path resolved;
    try {
      resolved = base.resolve(relative).normalize();
    } catch (InvalidPathException e) {
      throw unsafe(relative);
    }
    if (!resolved.startsWith(base) || resolved.equals(base)) {
      throw unsafe(relative);
    }
    return resolved;
  }

  private static FetchException unsafe(String relative) {
    return FetchException.fatal(
        "refusing file '"
            + printable(relative)
            + "' from the listing: its path is empty, absolute or would escape the target directory");
  }

  /** {@code s} with control characters escaped and cut to a length that fits a log line. */
  public static String printable(String s) {
    StringBuilder b = new StringBuilder();
    int i = 0;
    for (; i < s.length() && b.length() < 300; i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\x%02x", (int) c));
      } else {
        b.append(c);
      }
    }
    return i < s.length() ? b + "..." : b.toString();
  }
}
