package dev.warmstart.autoscale;

import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.autoscale.Recommender.Reading;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;

/**
 * Reads metrics: each ready pod's metrics endpoint (in parallel, each with a deadline) or one
 * instant query against a Prometheus HTTP API. Never throws: whatever goes wrong becomes a {@link
 * Reading.Failed} or an unanswered pod, which the recommender knows how to treat.
 */
public class MetricReader {
  /**
   * Secrets are read with get, not watched, and kept this long so a poll every second costs no API
   * call.
   */
  static final Duration SECRET_TTL = Duration.ofSeconds(30);

  /** The ScalingActive reason while no serving pod is ready: a cold start, not a fault. */
  public static final String NO_READY_PODS = "NoReadyPods";

  private static final String ACCEPT =
      "application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

  private final HttpClient http;
  private final KubernetesClient client;
  private final Clock clock;
  private final Duration timeout;
  private final AutoscaleMetrics metrics;
  private final Map<String, CachedSecret> secrets = new ConcurrentHashMap<>();

  private record CachedSecret(Secret secret, Instant readAt) {}

  /** A reading and, for the status, the numbers behind it. */
  public record Result(
      Reading reading, Double value, Double average, Integer podsRead, String error) {}

  public MetricReader(
      KubernetesClient client, Clock clock, Duration timeout, AutoscaleMetrics metrics) {
    this.client = client;
    this.clock = clock;
    this.timeout = timeout;
    this.metrics = metrics;
    this.http =
        HttpClient.newBuilder()
            // Plain HTTP/1.1: an h2c upgrade offer is one more thing a small metrics server can get
            // wrong.
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout)
            .executor(
                Executors.newCachedThreadPool(
                    r -> {
                      Thread t = new Thread(r, "autoscale-http");
                      t.setDaemon(true);
                      return t;
                    }))
            .build();
  }

  /** Scrapes {@code readyPods} for the metric; pods that fail count as unanswered. */
  public Result readPods(
      Autoscaling.PodsMetric m,
      List<Pod> readyPods,
      int servingPort,
      String namespace,
      String endpoint) {
    int port = m.getPort() == null ? servingPort : m.getPort();
    Map<String, CompletableFuture<Double>> futures = new LinkedHashMap<>();
    for (Pod pod : readyPods) {
      String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
      if (ip == null || ip.isBlank()) {
        futures.put(
            pod.getMetadata().getName(),
            CompletableFuture.failedFuture(
                new MetricException("FailedGetPodsMetric", "pod has no IP")));
        continue;
      }
      String host = ip.contains(":") ? "[" + ip + "]" : ip;
      URI uri = URI.create("http://" + host + ":" + port + m.getPath());
      futures.put(pod.getMetadata().getName(), scrape(uri, m, namespace, endpoint));
    }
    Map<String, Double> values = new LinkedHashMap<>();
    List<String> problems = new ArrayList<>();
    for (var e : futures.entrySet()) {
      try {
        values.put(e.getKey(), e.getValue().join());
      } catch (Exception ex) {
        Throwable cause = ex.getCause() == null ? ex : ex.getCause();
        problems.add("pod " + e.getKey() + ": " + cause.getMessage());
      }
    }
    int unanswered = readyPods.size() - values.size();
    String problem =
        problems.isEmpty()
            ? null
            : String.join("; ", problems.subList(0, Math.min(3, problems.size())))
                + (problems.size() > 3 ? "; and " + (problems.size() - 3) + " more" : "");
    if (readyPods.isEmpty()) {
      // Every replica still starting (or none yet): nothing failed, there is nothing to read yet.
      String why = "no ready pod to read " + m.getName() + " from yet";
      return new Result(new Reading.Failed(NO_READY_PODS, why), null, null, 0, why);
    }
    if (values.isEmpty()) {
      String why = "no ready pod answered with " + m.getName() + ": " + problem;
      return new Result(new Reading.Failed("FailedGetPodsMetric", why), null, null, 0, why);
    }
    double sum = values.values().stream().mapToDouble(Double::doubleValue).sum();
    return new Result(
        new Reading.PerPod(values, unanswered), sum, sum / values.size(), values.size(), problem);
  }

  private CompletableFuture<Double> scrape(
      URI uri, Autoscaling.PodsMetric m, String namespace, String endpoint) {
    HttpRequest request =
        HttpRequest.newBuilder(uri).timeout(timeout).header("Accept", ACCEPT).GET().build();
    long start = System.nanoTime();
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
        .handle(
            (response, error) -> {
              metrics.read(namespace, endpoint, "Pods", System.nanoTime() - start);
              try {
                if (error != null) {
                  throw new MetricException(
                      "FailedGetPodsMetric", "GET " + uri + ": " + describe(error));
                }
                if (response.statusCode() != 200) {
                  throw new MetricException(
                      "FailedGetPodsMetric", "GET " + uri + " answered " + response.statusCode());
                }
                String contentType = response.headers().firstValue("Content-Type").orElse(null);
                List<Exposition.Sample> samples;
                try {
                  samples = Exposition.parse(response.body(), Exposition.formatOf(contentType));
                } catch (Exposition.MalformedException e) {
                  throw new MetricException(
                      "MalformedExposition",
                      "GET " + uri + ": malformed exposition, " + e.getMessage());
                }
                double v =
                    Samples.pick(
                        samples,
                        m.getName(),
                        m.getMatchLabels() == null ? Map.of() : m.getMatchLabels());
                metrics.outcome(namespace, endpoint, "Pods", "ok");
                return v;
              } catch (MetricException e) {
                metrics.outcome(namespace, endpoint, "Pods", e.reason());
                throw new java.util.concurrent.CompletionException(e);
              }
            });
  }

  public Result readPrometheus(
      Autoscaling.PrometheusMetric m, String namespace, String endpoint, int replicas) {
    long start = System.nanoTime();
    try {
      String base =
          m.getAddress().endsWith("/")
              ? m.getAddress().substring(0, m.getAddress().length() - 1)
              : m.getAddress();
      HttpRequest.Builder request =
          HttpRequest.newBuilder(URI.create(base + "/api/v1/query"))
              .timeout(timeout)
              .header("Content-Type", "application/x-www-form-urlencoded")
              .POST(
                  HttpRequest.BodyPublishers.ofString(
                      "query=" + URLEncoder.encode(m.getQuery(), StandardCharsets.UTF_8)));
      String auth = authorization(m.getAuthSecret(), namespace);
      if (auth != null) {
        request.header("Authorization", auth);
      }
      HttpResponse<String> response;
      try {
        response =
            http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      } catch (java.io.IOException e) {
        throw new MetricException(
            PrometheusResponse.FAILED, "POST " + base + "/api/v1/query: " + describe(e));
      }
      if (response.statusCode() == 401 || response.statusCode() == 403) {
        throw new MetricException(
            PrometheusResponse.FAILED,
            "Prometheus refused the credentials (HTTP " + response.statusCode() + ")");
      }
      double v = PrometheusResponse.value(response.body());
      metrics.outcome(namespace, endpoint, "Prometheus", "ok");
      return new Result(new Reading.Whole(v), v, replicas > 0 ? v / replicas : null, null, null);
    } catch (MetricException e) {
      metrics.outcome(namespace, endpoint, "Prometheus", e.reason());
      return new Result(
          new Reading.Failed(e.reason(), e.getMessage()), null, null, null, e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(
          new Reading.Failed(PrometheusResponse.FAILED, "interrupted"),
          null,
          null,
          null,
          "interrupted");
    } catch (IllegalArgumentException e) {
      return new Result(
          new Reading.Failed(PrometheusResponse.FAILED, e.getMessage()),
          null,
          null,
          null,
          e.getMessage());
    } finally {
      metrics.read(namespace, endpoint, "Prometheus", System.nanoTime() - start);
    }
  }

  /**
   * Bearer (key token) or basic auth (keys username, password) from a Secret in the endpoint's
   * namespace.
   */
  private String authorization(String secretName, String namespace) throws MetricException {
    if (secretName == null || secretName.isBlank()) {
      return null;
    }
    String key = namespace + "/" + secretName;
    CachedSecret cached = secrets.get(key);
    Instant now = clock.instant();
    if (cached == null || cached.readAt().plus(SECRET_TTL).isBefore(now)) {
      Secret secret;
      try {
        secret = client.secrets().inNamespace(namespace).withName(secretName).get();
      } catch (RuntimeException e) {
        throw new MetricException(
            "FailedGetSecret", "reading Secret " + secretName + ": " + e.getMessage());
      }
      cached = new CachedSecret(secret, now);
      secrets.put(key, cached);
    }
    Secret secret = cached.secret();
    if (secret == null) {
      throw new MetricException(
          "SecretNotFound", "Secret " + secretName + " for the Prometheus query does not exist");
    }
    Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
    String token = decoded(data.get("token"));
    if (token != null) {
      return "Bearer " + token.strip();
    }
    String user = decoded(data.get("username"));
    String password = decoded(data.get("password"));
    if (user != null && password != null) {
      return "Basic "
          + Base64.getEncoder()
              .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }
    throw new MetricException(
        "InvalidSecret",
        "Secret " + secretName + " has neither a token key nor username and password keys");
  }

  private static String decoded(String base64) {
    return base64 == null
        ? null
        : new String(Base64.getDecoder().decode(base64), StandardCharsets.UTF_8);
  }

  /** What a user can act on: refused, timed out, or the exception's own words. */
  private static String describe(Throwable t) {
    Throwable top =
        t instanceof java.util.concurrent.CompletionException && t.getCause() != null
            ? t.getCause()
            : t;
    if (top instanceof java.net.http.HttpConnectTimeoutException
        || top instanceof java.net.http.HttpTimeoutException) {
      return "no answer in time";
    }
    if (top instanceof java.net.ConnectException) {
      return "cannot connect (refused or unreachable)";
    }
    return top.getMessage() == null
        ? top.getClass().getSimpleName()
        : top.getClass().getSimpleName() + ": " + top.getMessage();
  }
}
