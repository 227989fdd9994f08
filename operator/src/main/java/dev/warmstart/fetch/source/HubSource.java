package dev.warmstart.fetch.source;

import com.fasterxml.jackson.databind.JsonNode;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Json;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.TargetPaths;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * {@code hf://org/model[@revision]}: a model repository on the Hugging Face Hub (or a mirror at
 * {@code --hf-endpoint}). Lists with {@code GET /api/models/{repo}/revision/{revision}?blobs=true}
 * (sizes, and SHA-256 for LFS files), pins the revision to the commit the Hub reports, and
 * downloads each file with {@code GET /{repo}/resolve/{commit}/{file}} in byte ranges: the first
 * range follows the Hub's redirect to its CDN, the others go straight to the CDN URL. The token
 * (env HF_TOKEN) goes to the Hub's own origin only.
 */
public final class HubSource implements ModelSource {
  public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
  static final String DEFAULT_REVISION = "main";

  private static final Pattern REPO_PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
  private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

  private final String repo;
  private final String revision;
  private final boolean revisionGiven;
  private final String endpoint;
  private final String token;
  private final Http http;
  private final Log log;

  public HubSource(String uri, String endpoint, String token, Http http, Log log)
      throws FetchException {
    String rest = uri.substring("hf://".length());
    int at = rest.indexOf('@');
    this.repo = at >= 0 ? rest.substring(0, at) : rest.replaceAll("/+$", "");
    this.revisionGiven = at >= 0;
    this.revision = at >= 0 ? rest.substring(at + 1) : DEFAULT_REVISION;
    String[] parts = repo.split("/", -1);
    boolean valid = parts.length <= 2 && !revision.isEmpty();
    for (String p : parts) {
      valid &= REPO_PART.matcher(p).matches() && !p.contains("..");
    }
    if (!valid) {
      throw FetchException.fatal(
          "'"
              + TargetPaths.printable(uri)
              + "' is not a Hub model: write hf://org/model or hf://org/model@revision");
    }
    String e = endpoint == null || endpoint.isBlank() ? DEFAULT_ENDPOINT : endpoint.strip();
    this.endpoint = e.replaceAll("/+$", "");
    try {
      URI parsed = new URI(this.endpoint);
      if (parsed.getHost() == null || !parsed.getScheme().matches("(?i)https?")) {
        throw new IllegalArgumentException("not an http(s) URL");
      }
    } catch (Exception ex) {
      throw FetchException.fatal(
          "--hf-endpoint/HF_ENDPOINT '"
              + TargetPaths.printable(this.endpoint)
              + "' is not an http(s) URL");
    }
    this.token = token == null || token.isBlank() ? null : token.strip();
    this.http = http;
    this.log = log;
  }

  @Override
  public String displayUri() {
    return "hf://" + repo + (revisionGiven ? "@" + revision : "");
  }

  @Override
  public List<RemoteFile> list() throws IOException {
    URI api =
        URI.create(
            endpoint
                + "/api/models/"
                + Http.encodePath(repo)
                + "/revision/"
                + Http.encodeSegment(revision)
                + "?blobs=true");
    JsonNode info;
    HttpResponse<InputStream> response = http.get(api, token);
    if (response.statusCode() != 200) {
      throw failure(response, null);
    }
    try (InputStream in = response.body()) {
      info = Json.MAPPER.readTree(in);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new FetchException(
          displayUri() + ": the Hub's file listing is not valid JSON: " + e.getOriginalMessage(),
          true);
    }
    String pinned = revision;
    String sha = info.path("sha").asText("");
    if (COMMIT.matcher(sha).matches()) {
      pinned = sha;
      if (!sha.equals(revision)) {
        log.info("%s: revision %s is commit %s", displayUri(), revision, sha);
      }
    }
    List<RemoteFile> files = new ArrayList<>();
    for (JsonNode sibling : info.path("siblings")) {
      String name = sibling.path("rfilename").asText("");
      if (name.isEmpty()) {
        continue;
      }
      JsonNode lfs = sibling.path("lfs");
      long size = sibling.path("size").asLong(lfs.path("size").asLong(RemoteFile.UNKNOWN_SIZE));
      String sha256 = lfs.path("sha256").asText(null);
      if (sha256 != null && !sha256.matches("[0-9a-fA-F]{64}")) {
        sha256 = null;
      }
      String url =
          endpoint
              + "/"
              + Http.encodePath(repo)
              + "/resolve/"
              + Http.encodeSegment(pinned)
              + "/"
              + Http.encodePath(name);
      files.add(
          new RemoteFile(
              name, size, sha256 == null ? null : sha256.toLowerCase(java.util.Locale.ROOT), url));
    }
    if (files.isEmpty()) {
      throw FetchException.fatal(
          displayUri() + ": the repository has no files at revision " + revision);
    }
    return files;
  }

  @Override
  public Body open(RemoteFile file) throws IOException {
    HttpResponse<InputStream> response = http.get(URI.create(file.ref()), token);
    if (response.statusCode() == 200) {
      return new Body(
          response.body(), response.headers().firstValueAsLong("content-length").orElse(-1));
    }
    throw failure(response, file.path());
  }

  @Override
  public Access access(RemoteFile file, long offset, long length) throws IOException {
    return HttpRangedFile.access(
        http,
        URI.create(file.ref()),
        token,
        file.path(),
        response -> failure(response, file.path()),
        offset,
        length);
  }

  private FetchException failure(HttpResponse<InputStream> response, String file) {
    int status = response.statusCode();
    String code = response.headers().firstValue("x-error-code").orElse("");
    String detail = Http.errorDetail(response);
    String suffix = detail.isEmpty() ? "" : " (Hub: " + detail + ")";
    String what =
        file == null ? displayUri() : displayUri() + ": '" + TargetPaths.printable(file) + "'";
    if (status == 401
        || (status == 404 && token == null && !code.startsWith("Revision") && file == null)) {
      return FetchException.fatal(
          token == null
              ? displayUri() + ": repository not found or gated: set HF_TOKEN" + suffix
              : displayUri()
                  + ": repository not found, or HF_TOKEN is invalid or has no access to it"
                  + suffix);
    }
    if (status == 403) {
      return FetchException.fatal(
          what
              + ": access denied: the model is gated or private; accept its"
              + " terms on the Hub with the account that owns HF_TOKEN"
              + suffix);
    }
    if (status == 404) {
      if (code.startsWith("Revision")) {
        return FetchException.fatal(
            displayUri() + ": revision '" + revision + "' not found" + suffix);
      }
      if (file != null) {
        return FetchException.fatal(what + ": not found at revision " + revision + suffix);
      }
      return FetchException.fatal(displayUri() + ": repository not found: check the name" + suffix);
    }
    return new FetchException(
        what + ": HTTP " + status + " from the Hub" + suffix, Http.retryableStatus(status));
  }
}
