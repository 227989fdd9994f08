package dev.warmstart.kube;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Names of objects derived from user-chosen names. A namespaced object's name may be 253
 * characters, but label values and container names stop at 63: derived names keep a readable prefix
 * and end in a hash of the whole input, so they stay valid and distinct at any length.
 */
public final class Names {
  /** DNS-1123 label length; also the limit of a label value. */
  public static final int MAX_LABEL = 63;

  private static final int HASH_CHARS = 8;

  private Names() {}

  /**
   * A DNS-1123 label of at most {@code maxLength} characters: {@code prefix + name}, shortened with
   * a hash if needed.
   */
  public static String derived(String prefix, String name, int maxLength) {
    String full = sanitize(prefix + name);
    if (full.length() <= maxLength && full.equals(prefix + name)) {
      return full;
    }
    String head = full.substring(0, Math.min(full.length(), maxLength - HASH_CHARS - 1));
    head = head.replaceAll("-+$", "");
    return (head.isEmpty() ? "x" : head) + "-" + hash(prefix + name);
  }

  public static String derived(String prefix, String name) {
    return derived(prefix, name, MAX_LABEL);
  }

  /** Lowercase alphanumerics and dashes, starting and ending alphanumeric. */
  static String sanitize(String s) {
    String out =
        s.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]+", "-").replaceAll("^-+|-+$", "");
    return out.isEmpty() ? "x" : out;
  }

  public static String hash(String input) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(input.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest).substring(0, HASH_CHARS);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JRE", e);
    }
  }
}
