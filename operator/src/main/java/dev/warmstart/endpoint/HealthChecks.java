package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.PodStatuses;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;

/**
 * Asks a server that is not ready for its health path, as the kubelet's readiness probe does, once
 * it has run for {@link #AFTER}. The kubelet keeps its probes' answers to itself (events only), and
 * it goes on probing for the whole 30-minute startup budget: a server answering 404 there will
 * never pass (spec.healthPath names a path it does not serve), which only its answer tells apart
 * from a model still loading (no answer, or 503).
 */
public class HealthChecks {
  /** Servers that run this long without being ready are asked; a quick start never is. */
  static final Duration AFTER = Duration.ofSeconds(10);

  /**
   * How often a reconciliation looks again while a server is starting: nothing else happens
   * meanwhile.
   */
  static final Duration RECHECK = Duration.ofSeconds(10);

  /** Deadline of one question, as the kubelet's probe's default timeout. */
  public static final Duration TIMEOUT = Duration.ofSeconds(1);

  /** At most this many pods of an endpoint are asked per reconciliation. */
  static final int MAX_PODS = 3;

  /** The server's HTTP status code, or why it gave none. */
  public record Answer(Integer status, String error) {
    /** A client error: the server runs and rejects the health path itself. */
    boolean rejectsThePath() {
      return status != null && status >= 400 && status < 500;
    }
  }

  private final HttpClient http;
  private final Duration timeout;

  public HealthChecks(Duration timeout) {
    this.timeout = timeout;
    this.http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout)
            .followRedirects(
                HttpClient.Redirect
                    .NEVER) // as the kubelet's probe: a redirect elsewhere is a failure
            .executor(
                Executors.newCachedThreadPool(
                    r -> {
                      Thread t = new Thread(r, "health-check");
                      t.setDaemon(true);
                      return t;
                    }))
            .build();
  }

  /**
   * GET spec.healthPath on the servers that have been starting too long, in parallel; the answers
   * by pod name.
   */
  public Map<String, Answer> check(InferenceEndpoint ie, List<Pod> pods, Instant now) {
    String path = ie.getSpec().getHealthPath() == null ? "/health" : ie.getSpec().getHealthPath();
    Map<String, CompletableFuture<Answer>> asked = new LinkedHashMap<>();
    for (Pod pod : startingLong(pods, now)) {
      String ip = pod.getStatus().getPodIP();
      URI uri =
          URI.create(
              "http://"
                  + (ip.contains(":") ? "[" + ip + "]" : ip)
                  + ":"
                  + EndpointModel.port(ie)
                  + path);
      asked.put(
          pod.getMetadata().getName(),
          http.sendAsync(
                  HttpRequest.newBuilder(uri)
                      .timeout(timeout)
                      .GET()
                      .header("User-Agent", "warmstart-health-check")
                      .build(),
                  HttpResponse.BodyHandlers.discarding())
              .handle(
                  (response, error) ->
                      error == null
                          ? new Answer(response.statusCode(), null)
                          : new Answer(null, error.getClass().getSimpleName())));
    }
    Map<String, Answer> answers = new LinkedHashMap<>();
    asked.forEach((pod, answer) -> answers.put(pod, answer.join()));
    return answers;
  }

  /** Serving pods whose server runs, is not ready, and started {@link #AFTER} ago or more. */
  static List<Pod> startingLong(List<Pod> pods, Instant now) {
    return pods.stream()
        .filter(
            p ->
                p.getMetadata().getDeletionTimestamp() == null
                    && p.getStatus() != null
                    && p.getStatus().getPodIP() != null
                    && !p.getStatus().getPodIP().isBlank())
        .filter(p -> startedAt(p).map(t -> !t.plus(AFTER).isAfter(now)).orElse(false))
        .sorted(Comparator.comparing(p -> p.getMetadata().getName()))
        .limit(MAX_PODS)
        .toList();
  }

  /** Whether a server runs without being ready yet: then only time brings news. */
  static boolean anyStarting(List<Pod> pods) {
    return pods.stream()
        .anyMatch(p -> p.getMetadata().getDeletionTimestamp() == null && startedAt(p).isPresent());
  }

  /** When the server's container started, if it runs and is not ready. */
  private static Optional<Instant> startedAt(Pod pod) {
    return PodStatuses.container(pod, HelperContract.CONTAINER_SERVER)
        .filter(s -> !Boolean.TRUE.equals(s.getReady()))
        .map(ContainerStatus::getState)
        .map(state -> state.getRunning() == null ? null : state.getRunning().getStartedAt())
        .map(Instant::parse);
  }
}
