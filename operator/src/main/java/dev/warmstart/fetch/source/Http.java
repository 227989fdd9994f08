package dev.warmstart.fetch.source;

import com.fasterxml.jackson.databind.JsonNode;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Json;
import dev.warmstart.fetch.TargetPaths;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * GET over {@link HttpClient} with redirects followed here rather than by the client, so that a
 * bearer token only ever goes to the origin it was meant for: the Hub answers {@code /resolve/}
 * with a redirect to a CDN or to presigned object-store URLs, which must not receive it (and reject
 * a second authorization). HTTPS-to-HTTP redirects are refused.
 */
public final class Http {
  static final int MAX_REDIRECTS = 10;
  static final String USER_AGENT = "warmstart-fetch-model/0.1";
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

  /** Until the response headers arrive; a stalled body is the {@link Downloader}'s to detect. */
  private static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(60);

  private final HttpClient client;

  public Http(HttpClient client) {
    this.client = Objects.requireNonNull(client);
  }

  /** HTTP/1.1 (one stream per connection: no HTTP/2 flow-control window caps a single download). */
  public static HttpClient defaultClient() {
    return HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(CONNECT_TIMEOUT)
        .followRedirects(HttpClient.Redirect.NEVER)
        .build();
  }

  /**
   * GETs {@code uri}, following up to {@link #MAX_REDIRECTS} redirects, and returns the final
   * response whatever its status; the caller closes its body. {@code bearerToken} (may be null) is
   * sent only to {@code uri}'s origin.
   */
  HttpResponse<InputStream> get(URI uri, String bearerToken) throws IOException {
    return get(uri, bearerToken, Map.of());
  }

  /** {@link #get(URI, String)} with more request headers (Range, If-Range), sent on every hop. */
  HttpResponse<InputStream> get(URI uri, String bearerToken, Map<String, String> headers)
      throws IOException {
    URI current = uri;
    for (int redirects = 0; ; redirects++) {
      HttpRequest.Builder request =
          HttpRequest.newBuilder(current)
              .timeout(RESPONSE_TIMEOUT)
              .header("User-Agent", USER_AGENT)
              .GET();
      headers.forEach(request::header);
      if (bearerToken != null && !bearerToken.isEmpty() && sameOrigin(current, uri)) {
        request.header("Authorization", "Bearer " + bearerToken);
      }
      HttpResponse<InputStream> response;
      try {
        response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted");
      } catch (IllegalArgumentException e) {
        throw FetchException.fatal("cannot request " + redact(current) + ": " + e.getMessage());
      }
      int status = response.statusCode();
      if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
        return response;
      }
      response.body().close();
      String location = response.headers().firstValue("location").orElse(null);
      if (location == null) {
        throw new FetchException(
            "HTTP " + status + " without a Location from " + redact(current), true);
      }
      if (redirects >= MAX_REDIRECTS) {
        throw FetchException.fatal("more than " + MAX_REDIRECTS + " redirects from " + redact(uri));
      }
      URI next;
      try {
        next = current.resolve(location);
      } catch (IllegalArgumentException e) {
        throw FetchException.fatal(
            "invalid redirect from " + redact(current) + ": " + e.getMessage());
      }
      if ("https".equalsIgnoreCase(current.getScheme())
          && !"https".equalsIgnoreCase(next.getScheme())) {
        throw FetchException.fatal(
            "refusing a redirect from " + redact(current) + " to the insecure " + redact(next));
      }
      current = next;
    }
  }

  static boolean sameOrigin(URI a, URI b) {
    return a.getScheme().equalsIgnoreCase(b.getScheme())
        && a.getHost() != null
        && a.getHost().equalsIgnoreCase(b.getHost())
        && port(a) == port(b);
  }

  private static int port(URI u) {
    if (u.getPort() >= 0) {
      return u.getPort();
    }
    return "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
  }

  /** Whether another try may get a different answer: 408, 429 and 5xx but 501 and 505. */
  static boolean retryableStatus(int status) {
    return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505);
  }

  /**
   * A short description of an error response for messages: the {@code error} field of a JSON body
   * (as the Hub sends) or the start of a text body. Reads at most 4 KiB and closes the body.
   */
  static String errorDetail(HttpResponse<InputStream> response) {
    byte[] bytes;
    try (InputStream in = response.body()) {
      bytes = in.readNBytes(4096);
    } catch (IOException e) {
      return "";
    }
    String text = new String(bytes, StandardCharsets.UTF_8).strip();
    if (text.startsWith("{")) {
      try {
        JsonNode error = Json.MAPPER.readTree(text).get("error");
        if (error != null && error.isTextual()) {
          text = error.asText();
        }
      } catch (IOException ignored) {
        // not JSON after all (or cut short): use the text
      }
    }
    text = text.replaceAll("\\s+", " ");
    if (text.startsWith("<")) {
      return ""; // an HTML error page says nothing useful in one line
    }
    return TargetPaths.printable(text.length() > 200 ? text.substring(0, 200) + "..." : text);
  }

  /**
   * {@code u} without user info, query or fragment: safe for logs (presigned URLs carry
   * signatures).
   */
  static String redact(URI u) {
    StringBuilder b = new StringBuilder();
    if (u.getScheme() != null) {
      b.append(u.getScheme().toLowerCase(Locale.ROOT)).append("://");
    }
    if (u.getHost() != null) {
      b.append(u.getHost());
    }
    if (u.getPort() >= 0) {
      b.append(':').append(u.getPort());
    }
    if (u.getRawPath() != null) {
      b.append(u.getRawPath());
    }
    return b.toString();
  }

  /** Percent-encodes each '/'-separated segment of {@code path} for use in a URL path. */
  static String encodePath(String path) {
    StringJoiner joined = new StringJoiner("/");
    for (String segment : path.split("/", -1)) {
      joined.add(encodeSegment(segment));
    }
    return joined.toString();
  }

  /** Percent-encodes one path segment ('/' included). */
  static String encodeSegment(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
