package dev.warmstart.fetch.source;

import dev.warmstart.fetch.FetchException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * {@code https://host/path/file}: one file, fetched in byte ranges when the server serves them
 * (else with one GET), redirects followed, named after the last segment of the URL's path. Its size
 * comes from the first response (Content-Range, else Content-Length). Also accepts {@code http://}
 * for in-cluster servers. Query strings (presigned URLs) are used but never logged.
 */
public final class HttpSource implements ModelSource {
  private final URI uri;
  private final Http http;
  private final String name;

  public HttpSource(String uri, Http http) throws FetchException {
    URI parsed;
    try {
      parsed = new URI(uri);
    } catch (URISyntaxException e) {
      throw FetchException.fatal(
          "the model URI is not a valid URL: "
              + e.getReason()
              + " (write spaces and other special characters percent-encoded)");
    }
    if (parsed.getHost() == null) {
      throw FetchException.fatal(Http.redact(parsed) + ": the URL has no host");
    }
    this.uri = parsed;
    this.http = http;
    String path = parsed.getRawPath() == null ? "" : parsed.getRawPath();
    String last = path.substring(path.lastIndexOf('/') + 1);
    this.name = URLDecoder.decode(last.replace("+", "%2B"), StandardCharsets.UTF_8);
    if (name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/")) {
      throw FetchException.fatal(
          displayUri() + ": the URL must name a file, like https://host/path/model.safetensors");
    }
  }

  @Override
  public String displayUri() {
    return Http.redact(uri);
  }

  @Override
  public List<RemoteFile> list() {
    return List.of(new RemoteFile(name, RemoteFile.UNKNOWN_SIZE, null, uri.toString()));
  }

  @Override
  public Body open(RemoteFile file) throws IOException {
    HttpResponse<InputStream> response = http.get(uri, null);
    if (response.statusCode() == 200) {
      return new Body(
          response.body(), response.headers().firstValueAsLong("content-length").orElse(-1));
    }
    throw failure(response);
  }

  @Override
  public Access access(RemoteFile file, long offset, long length) throws IOException {
    return HttpRangedFile.access(http, uri, null, file.path(), this::failure, offset, length);
  }

  private FetchException failure(HttpResponse<InputStream> response) {
    int status = response.statusCode();
    String detail = Http.errorDetail(response);
    String suffix = detail.isEmpty() ? "" : " (" + detail + ")";
    if (status == 404 || status == 410) {
      return FetchException.fatal(
          displayUri() + ": not found (HTTP " + status + "): check the URL" + suffix);
    }
    if (status == 401 || status == 403) {
      return FetchException.fatal(
          displayUri()
              + ": access denied (HTTP "
              + status
              + "): the URL needs credentials, or its signature has expired"
              + suffix);
    }
    if (status == 416) {
      return FetchException.fatal(
          displayUri() + ": the server refused the byte range (HTTP 416)" + suffix);
    }
    return new FetchException(
        displayUri() + ": HTTP " + status + suffix, Http.retryableStatus(status));
  }
}
