package dev.warmstart.fetch.command;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Json;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.cache.ModelCache;
import dev.warmstart.fetch.cache.Origin;
import dev.warmstart.fetch.cache.PodDirectories;
import dev.warmstart.fetch.cache.Sizes;
import dev.warmstart.fetch.source.Http;
import dev.warmstart.fetch.source.HttpSource;
import dev.warmstart.fetch.source.HubSource;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.S3Source;
import dev.warmstart.fetch.transfer.ConcurrencyProbe;
import dev.warmstart.fetch.transfer.Downloader;
import dev.warmstart.fetch.transfer.FetchSettings;
import dev.warmstart.kube.HelperContract;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fetch-model}: the init container of each serving pod. Downloads the model weights into the
 * model volume and leaves a one-line JSON summary in its termination message for the operator's
 * cold-start accounting. Credentials come only from the environment and are never logged.
 */
@Command(
    name = HelperContract.COMMAND_FETCH_MODEL,
    mixinStandardHelpOptions = true,
    description = {
      "Download model weights into a directory, each file written to a temporary name, fsynced, checked"
          + " (size, and SHA-256 where the Hub lists one) and renamed into place; then write"
          + " {\"bytes\":N,\"seconds\":S,\"files\":F,\"source\":\"...\",\"cacheHit\":false} (or {\"error\":\"...\"})"
          + " to the termination log.",
      "Sources: s3://bucket/prefix/ (all objects under it; s3://bucket/key for one object),"
          + " https://host/path/file, hf://org/model[@revision].",
      "Credentials, from the environment only: the AWS SDK's default chain (AWS_ACCESS_KEY_ID, IRSA,"
          + " EKS Pod Identity, instance role; anonymous if none), HF_TOKEN for the Hub."
    })
public final class FetchModelCommand implements Callable<Integer> {
  static final Path DEFAULT_TERMINATION_LOG = Path.of("/dev/termination-log");

  @Spec CommandSpec spec;

  @Option(
      names = "--uri",
      paramLabel = "URI",
      description =
          "Model to fetch: s3://bucket/prefix/, https://host/path/file or hf://org/model[@revision]."
              + " Default: env MODEL_URI.")
  String uri;

  @Option(
      names = "--to",
      paramLabel = "DIR",
      description = "Directory to fetch into (created if missing). Default: env MODEL_PATH.")
  Path to;

  @Option(
      names = "--termination-log",
      paramLabel = "FILE",
      defaultValue = "/dev/termination-log",
      description = "Where to write the JSON summary. Default: ${DEFAULT-VALUE}.")
  Path terminationLog;

  @Option(
      names = "--s3-endpoint",
      paramLabel = "URL",
      description =
          "Endpoint of an S3-compatible store. Default: env AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL,"
              + " else AWS S3.")
  String s3Endpoint;

  @Option(
      names = "--s3-path-style",
      paramLabel = "BOOL",
      arity = "0..1",
      fallbackValue = "true",
      description =
          "Address buckets as ENDPOINT/bucket rather than bucket.ENDPOINT (most S3-compatible"
              + " stores need this). Default: env AWS_S3_FORCE_PATH_STYLE, else false.")
  Boolean s3PathStyle;

  @Option(
      names = "--hf-endpoint",
      paramLabel = "URL",
      description =
          "Hugging Face Hub endpoint or mirror. Default: env HF_ENDPOINT, else "
              + HubSource.DEFAULT_ENDPOINT
              + ".")
  String hfEndpoint;

  // ---- node-local cache (dev.warmstart.fetch.cache) ----
  @Option(
      names = HelperContract.FETCH_OPTION_CACHE_DIR,
      paramLabel = "DIR",
      description =
          "Node-local cache shared by the pods on the node (a hostPath): each model is downloaded"
              + " into it once per node, under a lock, then hard-linked or copied into the target; least"
              + " recently used models not in use are evicted. If it is not usable, fetch-model downloads"
              + " without it. Default: env MODEL_CACHE_DIR; no cache when unset.")
  Path cacheDir;

  @Option(
      names = HelperContract.FETCH_OPTION_CACHE_MAX_SIZE,
      paramLabel = "SIZE",
      description =
          "Size limit of the cache: bytes, or a quantity like 500Gi. Default: env"
              + " MODEL_CACHE_MAX_SIZE, else 500Gi.")
  String cacheMaxSize;

  @Option(
      names = HelperContract.FETCH_OPTION_CACHE_PODS_URL,
      paramLabel = "URL",
      description =
          "The operator's list of its pods on this node (the gate's /v1/pods?node=NODE): when the"
              + " target is a pod directory of the cache (DIR/pods/NAMESPACE/POD_UID), the directories of"
              + " pods that are gone are removed after the fetch. Default: env MODEL_CACHE_PODS_URL; no"
              + " cleanup when unset.")
  String cachePodsUrl;

  // ---- end of node-local cache options ----

  /** The environment; tests replace it. */
  Map<String, String> env = System.getenv();

  /** The client for https:// and hf://; tests inject one that trusts their certificate. */
  HttpClient httpClient;

  /** Retry, progress and stall timings; tests shorten them. */
  FetchSettings settings = FetchSettings.defaults();

  // ---- transfers (Downloader): options that set `settings` as they are parsed ----
  @Option(
      names = "--concurrency",
      paramLabel = "N|auto",
      defaultValue = "auto",
      description =
          "Requests in flight at once, across all files; each fetches one part. auto: start at "
              + ConcurrencyProbe.START
              + " and double while that raises the rate by "
              + "15%% or more, up to "
              + FetchSettings.AUTO_MAX
              + ". Default: ${DEFAULT-VALUE}.")
  void concurrency(String value) {
    if ("auto".equalsIgnoreCase(value.strip())) {
      settings = settings.withConcurrency(FetchSettings.AUTO);
      return;
    }
    int n;
    try {
      n = Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      n = -1;
    }
    if (n < 1 || n > 1024) {
      throw new picocli.CommandLine.ParameterException(
          spec.commandLine(),
          "--concurrency must be auto or a number from 1 to 1024, not " + value);
    }
    settings = settings.withConcurrency(n);
  }

  @Option(
      names = "--part-size",
      paramLabel = "SIZE",
      defaultValue = "8Mi",
      description =
          "Bytes per ranged request: bytes or a quantity like 8Mi or 64Mi, from 64Ki to 4Gi."
              + " Default: ${DEFAULT-VALUE}.")
  void partSize(String size) {
    long bytes;
    try {
      bytes = dev.warmstart.fetch.cache.Sizes.parse(size);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(
          spec.commandLine(), "--part-size: " + e.getMessage());
    }
    if (bytes < (64 << 10) || bytes > (4L << 30)) {
      throw new picocli.CommandLine.ParameterException(
          spec.commandLine(), "--part-size must be between 64Ki and 4Gi, not " + size);
    }
    settings = settings.withPartSize(bytes);
  }

  // No defaultValue: picocli would apply it over the settings tests inject.
  @Option(
      names = "--progress-interval",
      paramLabel = "SECONDS",
      description =
          "Seconds between progress lines (bytes, rate, ETA), from 1 to 3600. Default: 5.")
  void progressInterval(int seconds) {
    if (seconds < 1 || seconds > 3600) {
      throw new picocli.CommandLine.ParameterException(
          spec.commandLine(),
          "--progress-interval must be between 1 and 3600 seconds, not " + seconds);
    }
    settings = settings.withProgressInterval(Duration.ofSeconds(seconds));
  }

  // ---- end of transfer options ----

  @Override
  public Integer call() {
    StartUp.warmInBackground();
    PrintWriter out = spec.commandLine().getOut();
    Log log = new Log(out);
    Path termination = terminationLog;
    if (DEFAULT_TERMINATION_LOG.equals(termination) && !Files.exists(termination)) {
      termination = null; // not in a pod: do not create a file under /dev
    }
    try {
      String source = firstNonBlank(uri, env.get(HelperContract.ENV_MODEL_URI));
      if (source == null) {
        throw FetchException.fatal("no model URI: set --uri or MODEL_URI");
      }
      Path target = to != null ? to : pathOrNull(env.get(HelperContract.ENV_MODEL_PATH));
      if (target == null) {
        throw FetchException.fatal("no target directory: set --to or MODEL_PATH");
      }
      try (ModelSource model = open(source.strip(), log)) {
        log.info("fetching %s into %s", model.displayUri(), target);
        Path cache =
            cacheDir != null ? cacheDir : pathOrNull(env.get(HelperContract.ENV_MODEL_CACHE_DIR));
        String json;
        if (cache != null) {
          json = fetchThroughCache(cache, model, source.strip(), target, log);
        } else {
          Downloader.Result result = new Downloader(target, log, settings).fetch(model);
          json =
              TerminationLog.success(
                  result.bytes(), result.elapsed(), result.files(), model.displayUri());
        }
        TerminationLog.write(termination, json, log);
        log.info("%s", json);
        return 0;
      }
    } catch (IOException | RuntimeException e) {
      String message = e instanceof FetchException ? e.getMessage() : Failures.describe(e);
      PrintWriter err = spec.commandLine().getErr();
      err.println("fetch-model: error: " + message);
      err.flush();
      TerminationLog.write(termination, TerminationLog.failure(message), log);
      return 1;
    }
  }

  /**
   * Removes the cache's directories of pods the operator says are gone (see {@link
   * PodDirectories}).
   */
  private void clearGonePods(Path cache, Path target, Log log) {
    String url = firstNonBlank(cachePodsUrl, env.get(HelperContract.ENV_MODEL_CACHE_PODS_URL));
    PodDirectories dirs = new PodDirectories(cache, log::info);
    if (url == null || !dirs.contains(target)) {
      return;
    }
    PodDirectories.LivePods live;
    try {
      HttpResponse<String> r =
          (httpClient != null ? httpClient : Http.defaultClient())
              .send(
                  HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                  HttpResponse.BodyHandlers.ofString());
      JsonNode json = r.statusCode() == 200 ? Json.MAPPER.readTree(r.body()) : null;
      if (json == null || !json.path("uids").isArray()) {
        log.info(
            "node cache: %s answered HTTP %d without a pod list; the directories of pods that are gone"
                + " stay for now",
            url, r.statusCode());
        return;
      }
      Set<String> namespaces = new TreeSet<>();
      json.path("namespaces").forEach(n -> namespaces.add(n.asText()));
      Set<String> uids = new HashSet<>();
      json.path("uids").forEach(n -> uids.add(n.asText()));
      live = new PodDirectories.LivePods(namespaces, uids);
    } catch (IOException | IllegalArgumentException e) {
      log.info(
          "node cache: cannot ask %s which pods live here (%s); the directories of pods that are gone"
              + " stay for now",
          url, Failures.describe(e));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    dirs.collect(live, target, Instant.now());
  }

  /** The source for {@code uri}, by scheme. */
  ModelSource open(String uri, Log log) throws FetchException {
    String lower = uri.toLowerCase(Locale.ROOT);
    if (lower.startsWith("s3://")) {
      String endpoint =
          firstNonBlank(s3Endpoint, env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"));
      boolean pathStyle =
          s3PathStyle != null ? s3PathStyle : parseBoolean(env.get("AWS_S3_FORCE_PATH_STYLE"));
      return new S3Source("s3://" + uri.substring(5), endpoint, pathStyle, log);
    }
    if (lower.startsWith("https://") || lower.startsWith("http://")) {
      return new HttpSource(uri, http());
    }
    if (lower.startsWith("hf://")) {
      return new HubSource(
          "hf://" + uri.substring(5),
          firstNonBlank(hfEndpoint, env.get("HF_ENDPOINT")),
          env.get("HF_TOKEN"),
          http(),
          log);
    }
    int colon = uri.indexOf(':');
    String scheme =
        colon > 0 && colon < 20
            ? "'" + TargetPaths.printable(uri.substring(0, colon)) + "'"
            : "missing";
    throw FetchException.fatal(
        "unsupported model URI (scheme "
            + scheme
            + "): use s3://bucket/prefix/, https://host/path/file or hf://org/model[@revision]");
  }

  /**
   * Fetches through the node-local cache; the summary says {@code "cacheHit":true} when nothing was
   * downloaded.
   */
  private String fetchThroughCache(
      Path cache, ModelSource model, String source, Path target, Log log) throws IOException {
    long maxBytes;
    try {
      maxBytes =
          Sizes.parse(
              firstNonBlank(
                  cacheMaxSize, env.get(HelperContract.ENV_MODEL_CACHE_MAX_SIZE), "500Gi"));
    } catch (IllegalArgumentException e) {
      log.info("node cache: --cache-max-size: %s; downloading without the cache", e.getMessage());
      maxBytes = 0;
    }
    String lower = source.toLowerCase(Locale.ROOT);
    String endpoint =
        lower.startsWith("s3://")
            ? firstNonBlank(s3Endpoint, env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"))
            : lower.startsWith("hf://") ? firstNonBlank(hfEndpoint, env.get("HF_ENDPOINT")) : null;
    Origin origin = new SourceOrigin(model, source, endpoint, log, settings);
    ModelCache.Result r = new ModelCache(cache, maxBytes, log::info).fetch(origin, target);
    String json = TerminationLog.success(r.bytes(), r.elapsed(), r.files(), model.displayUri());
    clearGonePods(cache, target, log);
    if (!r.hit()) {
      return json;
    }
    ObjectNode summary = (ObjectNode) Json.MAPPER.readTree(json);
    summary.put(HelperContract.SUMMARY_CACHE_HIT, true);
    return summary.toString();
  }

  private Http http() {
    return new Http(httpClient != null ? httpClient : Http.defaultClient());
  }

  private static String firstNonBlank(String... values) {
    for (String v : values) {
      if (v != null && !v.isBlank()) {
        return v;
      }
    }
    return null;
  }

  private static Path pathOrNull(String s) {
    return s == null || s.isBlank() ? null : Path.of(s.strip());
  }

  static boolean parseBoolean(String s) {
    if (s == null) {
      return false;
    }
    String v = s.strip().toLowerCase(Locale.ROOT);
    return v.equals("true") || v.equals("1") || v.equals("yes");
  }
}
