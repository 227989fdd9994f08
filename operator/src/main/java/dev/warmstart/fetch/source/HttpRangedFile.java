package dev.warmstart.fetch.source;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One file over HTTP in byte ranges, for {@link HttpSource} and {@link HubSource}. The first
 * request is already a ranged GET for the first part wanted: its 206 tells the size (Content-Range)
 * and the validator, and its body is that part; a 200 means the server ignores Range, and its body
 * is the whole file. Where the URL redirected (the Hub to its CDN, a link to presigned storage),
 * the parts go straight to the final URL; the bearer token goes only to the original URL's origin.
 * Each part carries If-Range, so a file that changes mid-download comes back whole (200) instead of
 * as a mix of two versions.
 */
final class HttpRangedFile implements ModelSource.Ranged {
  private static final Pattern CONTENT_RANGE =
      Pattern.compile("bytes\\s+(?:(\\d+)-(\\d+)|\\*)/(\\d+|\\*)", Pattern.CASE_INSENSITIVE);

  /** Turns an error response into the source's message (the response is the caller's to close). */
  @FunctionalInterface
  interface Failures {
    FetchException of(HttpResponse<InputStream> response);
  }

  private final Http http;
  private final URI origin;
  private final String token;
  private final String name;
  private final Failures failures;
  private final long size;
  private final String validator;

  /** Where the origin redirected to, or null to go through the origin (again). */
  private volatile URI direct;

  private Prefetched prefetched;

  private record Prefetched(long offset, long length, ModelSource.Body body) {}

  private HttpRangedFile(
      Http http,
      URI origin,
      String token,
      String name,
      Failures failures,
      long size,
      String validator,
      URI direct,
      Prefetched prefetched) {
    this.http = http;
    this.origin = origin;
    this.token = token;
    this.name = name;
    this.failures = failures;
    this.size = size;
    this.validator = validator;
    this.direct = direct;
    this.prefetched = prefetched;
  }

  /**
   * {@link ModelSource#access} over HTTP: a ranged GET of {@code [offset, offset + length)} (length
   * 0: one byte).
   */
  static ModelSource.Access access(
      Http http, URI uri, String token, String name, Failures failures, long offset, long length)
      throws IOException {
    long last = offset + Math.max(1, length) - 1;
    HttpResponse<InputStream> response =
        http.get(uri, token, Map.of("Range", "bytes=" + offset + "-" + last));
    int status = response.statusCode();
    if (status == 200) {
      return new ModelSource.Whole(new ModelSource.Body(response.body(), contentLength(response)));
    }
    if (status != 206 && status != 416) {
      try {
        throw failures.of(response);
      } finally {
        response.body().close();
      }
    }
    Matcher range = contentRange(response);
    if (range == null || range.group(3).equals("*")) {
      // No usable total size: read the file as one stream after all.
      response.body().close();
      HttpResponse<InputStream> whole = http.get(uri, token);
      if (whole.statusCode() != 200) {
        try {
          throw failures.of(whole);
        } finally {
          whole.body().close();
        }
      }
      return new ModelSource.Whole(new ModelSource.Body(whole.body(), contentLength(whole)));
    }
    long total = Long.parseLong(range.group(3));
    URI fin = response.uri();
    URI direct = fin == null || fin.equals(uri) ? null : fin;
    Prefetched first = null;
    if (status == 206 && range.group(1) != null && Long.parseLong(range.group(1)) == offset) {
      long got = Long.parseLong(range.group(2)) - offset + 1;
      first = new Prefetched(offset, got, new ModelSource.Body(response.body(), got));
    } else {
      response
          .body()
          .close(); // 416: the hint lay past the end (the file shrank since a previous run)
    }
    return new HttpRangedFile(
        http, uri, token, name, failures, total, validator(response), direct, first);
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public String version() {
    return validator;
  }

  @Override
  public List<FileChecksum> checksums() {
    return List.of();
  }

  @Override
  public ModelSource.Body open(long offset, long length) throws IOException {
    synchronized (this) {
      // Other parts may be asked for before the first (they are queued while its response arrives):
      // the first response waits for its own open, or for close().
      Prefetched p = prefetched;
      if (p != null && p.offset() == offset && p.length() == length) {
        prefetched = null;
        return p.body();
      }
    }
    URI target = direct != null ? direct : origin;
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Range", "bytes=" + offset + "-" + (offset + length - 1));
    if (validator != null) {
      headers.put("If-Range", validator);
    }
    HttpResponse<InputStream> response =
        http.get(target, Http.sameOrigin(target, origin) ? token : null, headers);
    int status = response.statusCode();
    if (status == 206) {
      Matcher range = contentRange(response);
      if (range == null
          || range.group(1) == null
          || Long.parseLong(range.group(1)) != offset
          || Long.parseLong(range.group(2)) != offset + length - 1) {
        response.body().close();
        throw new FetchException(
            what(offset, length)
                + ": the server answered with another range ("
                + response.headers().firstValue("content-range").orElse("no Content-Range")
                + ")",
            true);
      }
      if (!range.group(3).equals(String.valueOf(size))) {
        response.body().close();
        throw changed("its size is now " + range.group(3) + " bytes, was " + size);
      }
      // Learn the direct URL only from a request that went through the origin: one that was already
      // on
      // its way to a URL found expired must not bring that URL back.
      if (target == origin && response.uri() != null && !response.uri().equals(origin)) {
        direct = response.uri();
      }
      return new ModelSource.Body(response.body(), length);
    }
    try {
      if (status == 200) {
        throw changed("the server sent the whole file for a range request");
      }
      if (target != origin && (status == 401 || status == 403 || status == 404 || status == 410)) {
        // Presigned and CDN URLs expire: go through the original URL again on the next try.
        direct = null;
        throw new FetchException(
            what(offset, length)
                + ": "
                + Http.redact(target)
                + " refused the request"
                + " (HTTP "
                + status
                + "); it may have expired, asking "
                + Http.redact(origin)
                + " again",
            true);
      }
      throw failures.of(response);
    } finally {
      response.body().close();
    }
  }

  @Override
  public synchronized void close() throws IOException {
    if (prefetched != null) {
      prefetched.body().close();
      prefetched = null;
    }
  }

  private String what(long offset, long length) {
    return "'" + TargetPaths.printable(name) + "' bytes " + offset + "-" + (offset + length - 1);
  }

  private FetchException changed(String detail) {
    return FetchException.fatal(
        "'"
            + TargetPaths.printable(name)
            + "' changed during the download ("
            + detail
            + "); run again to fetch the new version");
  }

  private static Matcher contentRange(HttpResponse<?> response) {
    String header = response.headers().firstValue("content-range").orElse(null);
    if (header == null) {
      return null;
    }
    Matcher m = CONTENT_RANGE.matcher(header.strip());
    return m.matches() ? m : null;
  }

  private static long contentLength(HttpResponse<?> response) {
    OptionalLong n = response.headers().firstValueAsLong("content-length");
    return n.isPresent() ? n.getAsLong() : -1;
  }

  /**
   * A strong ETag, else Last-Modified: what If-Range accepts, and what identifies the file for a
   * resume.
   */
  private static String validator(HttpResponse<?> response) {
    String etag = response.headers().firstValue("etag").orElse(null);
    if (etag != null && !etag.isBlank() && !etag.startsWith("W/")) {
      return etag.strip();
    }
    return response
        .headers()
        .firstValue("last-modified")
        .map(String::strip)
        .filter(s -> !s.isEmpty())
        .orElse(null);
  }
}
