package dev.warmstart.fetch.cache;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Cache keys: SHA-256 of a format version, the source's identity (normalized URI and endpoint) and,
 * for sources whose content can change under the same URI, a fingerprint of the current listing
 * (each file's path, size, SHA-256 and version; for the Hub the version holds the commit). So
 * different revisions, and a branch that moved, are different entries, and a key never names two
 * different models.
 */
public final class CacheKey {
  /** Bump when the entry layout changes: old entries then simply age out. */
  static final String FORMAT = "warmstart-model-cache/1";

  private static final Pattern KEY = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
  private static final String DEFAULT_HUB = "https://huggingface.co";

  private CacheKey() {}

  /**
   * The identity of {@code uri} read through {@code endpoint} (the S3 endpoint for s3://, the Hub
   * endpoint for hf://; null for the default). Normalized so that equivalent spellings share an
   * entry: scheme and host in lower case, default ports and fragments dropped, hf:// without a
   * revision is {@code @main}, and the signature parameters of presigned URLs (X-Amz-*, X-Goog-*,
   * Signature, Expires, AWSAccessKeyId, Policy, Key-Pair-Id) are left out.
   */
  public static String identity(String uri, String endpoint) {
    String u = uri.strip();
    String lower = u.toLowerCase(Locale.ROOT);
    if (lower.startsWith("s3://")) {
      return "s3://"
          + u.substring(5)
          + "\nendpoint="
          + (blank(endpoint) ? "aws" : normalizeUrl(endpoint));
    }
    if (lower.startsWith("hf://")) {
      String rest = u.substring(5);
      int at = rest.indexOf('@');
      String repo = (at >= 0 ? rest.substring(0, at) : rest).replaceAll("/+$", "");
      String revision = at >= 0 ? rest.substring(at + 1) : "main";
      return "hf://"
          + repo
          + "@"
          + revision
          + "\nendpoint="
          + normalizeUrl(blank(endpoint) ? DEFAULT_HUB : endpoint);
    }
    if (lower.startsWith("https://") || lower.startsWith("http://")) {
      return normalizeUrl(u);
    }
    return u;
  }

  /** Whether {@code uri} pins its content: a Hub repository at a full commit hash. */
  public static boolean immutable(String uri) {
    String u = uri.strip();
    if (!u.toLowerCase(Locale.ROOT).startsWith("hf://")) {
      return false;
    }
    int at = u.indexOf('@');
    return at >= 0 && COMMIT.matcher(u.substring(at + 1)).matches();
  }

  /** The key of {@code identity} with {@code listing} (null for an immutable source). */
  static String key(String identity, List<Origin.Listed> listing) {
    return sha256(FORMAT + "\n" + identity + "\n" + (listing == null ? "-" : fingerprint(listing)));
  }

  static boolean isKey(String name) {
    return KEY.matcher(name).matches();
  }

  static String fingerprint(List<Origin.Listed> listing) {
    List<Origin.Listed> sorted = new ArrayList<>(listing);
    sorted.sort(Comparator.comparing(Origin.Listed::path));
    StringBuilder b = new StringBuilder();
    for (Origin.Listed f : sorted) {
      b.append(f.path())
          .append('\0')
          .append(f.size())
          .append('\0')
          .append(f.sha256() == null ? "" : f.sha256().toLowerCase(Locale.ROOT))
          .append('\0')
          .append(withoutQuery(f.version()))
          .append('\n');
    }
    return sha256(b.toString());
  }

  /**
   * A URL without its query (signatures change on every presign); anything else (an S3 key) as is.
   */
  private static String withoutQuery(String version) {
    if (version == null) {
      return "";
    }
    int q = version.indexOf('?');
    return version.contains("://") && q >= 0 ? version.substring(0, q) : version;
  }

  static String normalizeUrl(String url) {
    String s = url.strip();
    URI u;
    try {
      u = new URI(s);
    } catch (URISyntaxException e) {
      return s;
    }
    if (u.getScheme() == null || u.getRawAuthority() == null) {
      return s;
    }
    String scheme = u.getScheme().toLowerCase(Locale.ROOT);
    String host =
        u.getHost() == null
            ? u.getRawAuthority().toLowerCase(Locale.ROOT)
            : u.getHost().toLowerCase(Locale.ROOT);
    int port = u.getPort();
    boolean defaultPort =
        port == -1
            || (scheme.equals("http") && port == 80)
            || (scheme.equals("https") && port == 443);
    String path = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
    StringBuilder b = new StringBuilder(scheme).append("://");
    if (u.getRawUserInfo() != null) {
      b.append(u.getRawUserInfo()).append('@');
    }
    b.append(host);
    if (!defaultPort) {
      b.append(':').append(port);
    }
    b.append(path);
    String query = u.getRawQuery();
    if (query != null) {
      List<String> kept = new ArrayList<>();
      for (String param : query.split("&")) {
        String name = param.split("=", 2)[0].toLowerCase(Locale.ROOT);
        if (!param.isEmpty() && !isSignature(name)) {
          kept.add(param);
        }
      }
      if (!kept.isEmpty()) {
        b.append('?').append(String.join("&", kept));
      }
    }
    return b.toString();
  }

  private static boolean isSignature(String name) {
    return name.startsWith("x-amz-")
        || name.startsWith("x-goog-")
        || name.equals("signature")
        || name.equals("expires")
        || name.equals("awsaccesskeyid")
        || name.equals("policy")
        || name.equals("key-pair-id");
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }

  static String sha256(String s) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
