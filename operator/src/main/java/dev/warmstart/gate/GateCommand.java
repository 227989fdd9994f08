package dev.warmstart.gate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.kube.HelperContract;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gate}: the init container that holds a pod's bulk transfer (the model download of a
 * serving pod, the image pre-pull of an ImageCache pod) until the operator's transfer gate says go.
 * It fails open: it exits 0 when the gate says go, when its deadline passes, when the operator
 * stays unreachable until then, and when the operator refuses the request. It never fails the pod.
 */
@Command(
    name = HelperContract.COMMAND_GATE,
    mixinStandardHelpOptions = true,
    description =
        "Wait until the operator's transfer gate lets this pod start its model download or image pre-pull;"
            + " proceed anyway after --timeout, or when the operator is unreachable or refuses. Always exits 0.")
public final class GateCommand implements Callable<Integer> {
  static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(10);

  /** Below the operator's own limit (25 s) and common proxies' idle timeouts (30 s and more). */
  static final Duration DEFAULT_POLL = Duration.ofSeconds(25);

  static final Duration MIN_BACKOFF = Duration.ofSeconds(1);
  static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);

  /**
   * How much longer than the requested poll the operator may take to answer before the request
   * counts as lost: it holds a pod it does not know yet for a few seconds (its informer may lag).
   */
  private static final Duration ANSWER_SLACK = Duration.ofSeconds(10);

  /**
   * Made on first use, not when the class initializes: picocli instantiates every subcommand on
   * each start, and fetch-model, whose start-up is on every cold start's path, has no use for this
   * one.
   */
  private static final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();
  }

  @Spec CommandSpec spec;

  @Option(
      names = HelperContract.GATE_OPTION_URL,
      defaultValue = "${env:WARMSTART_GATE_URL}",
      description =
          "The operator's transfer gate, e.g. http://warmstart-gate.warmstart.svc:8081"
              + " (env WARMSTART_GATE_URL).")
  String url;

  @Option(
      names = HelperContract.GATE_OPTION_KIND,
      defaultValue = "${env:WARMSTART_GATE_KIND}",
      description =
          "What this pod is about to start: model (a model download) or prepull (an image pre-pull)"
              + " (env WARMSTART_GATE_KIND).")
  String kind;

  @Option(
      names = HelperContract.GATE_OPTION_TIMEOUT,
      defaultValue = "${env:WARMSTART_GATE_TIMEOUT:-10m}",
      description =
          "Proceed after this long at the latest, counted from the start, e.g. 10m"
              + " (env WARMSTART_GATE_TIMEOUT; default: ${DEFAULT-VALUE}).")
  String timeout;

  @Option(
      names = "--namespace",
      defaultValue = "${env:" + HelperContract.ENV_POD_NAMESPACE + "}",
      description = "This pod's namespace (env POD_NAMESPACE).")
  String namespace;

  @Option(
      names = "--pod",
      defaultValue = "${env:" + HelperContract.ENV_POD_NAME + "}",
      description = "This pod's name (env POD_NAME).")
  String pod;

  @Option(
      names = "--uid",
      defaultValue = "${env:" + HelperContract.ENV_POD_UID + "}",
      description = "This pod's UID (env POD_UID).")
  String uid;

  @Option(
      names = "--node",
      defaultValue = "${env:" + HelperContract.ENV_NODE_NAME + "}",
      description = "The node this pod runs on (env NODE_NAME).")
  String node;

  @Option(
      names = "--poll",
      defaultValue = "25s",
      hidden = true,
      description = "Longest single request (default: ${DEFAULT-VALUE}).")
  String poll;

  private PrintWriter out;

  @Override
  public Integer call() {
    long start = System.nanoTime();
    out = spec.commandLine().getOut();
    try {
      return waitAtGate(start);
    } catch (RuntimeException e) {
      say("gate failed (%s); proceeding", e);
      return 0;
    }
  }

  private int waitAtGate(long start) {
    Optional<Duration> asked = duration("--timeout", timeout, DEFAULT_TIMEOUT);
    Duration limit = asked.orElse(DEFAULT_TIMEOUT);
    String limitText = asked.isPresent() ? timeout : Durations.format(DEFAULT_TIMEOUT);
    Duration pollLimit = duration("--poll", poll, DEFAULT_POLL).orElse(DEFAULT_POLL);
    GateKind gateKind;
    try {
      gateKind = GateKind.parse(kind);
    } catch (IllegalArgumentException e) {
      say("gate: %s; proceeding without waiting", e.getMessage());
      return 0;
    }
    Map<String, String> required = new LinkedHashMap<>();
    required.put("--url (WARMSTART_GATE_URL)", url);
    required.put("--namespace (POD_NAMESPACE)", namespace);
    required.put("--pod (POD_NAME)", pod);
    required.put("--uid (POD_UID)", uid);
    required.put("--node (NODE_NAME)", node);
    String missing =
        required.entrySet().stream()
            .filter(e -> e.getValue() == null || e.getValue().isBlank())
            .map(Map.Entry::getKey)
            .collect(Collectors.joining(", "));
    if (!missing.isEmpty()) {
      say("gate: missing %s; proceeding without waiting", missing);
      return 0;
    }
    if (!url.startsWith("http://") && !url.startsWith("https://")) {
      say("gate: --url %s is not an http(s) URL; proceeding without waiting", url);
      return 0;
    }
    String who = gateKind.description() + " of " + namespace + "/" + pod + " on node " + node;
    long deadline = start + limit.toNanos();
    HttpClient client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(CONNECT_TIMEOUT)
            .build();
    String base =
        url.replaceAll("/+$", "")
            + HelperContract.GATE_PATH
            + "?"
            + HelperContract.GATE_QUERY_NAMESPACE
            + "="
            + encode(namespace)
            + "&"
            + HelperContract.GATE_QUERY_POD
            + "="
            + encode(pod)
            + "&"
            + HelperContract.GATE_QUERY_UID
            + "="
            + encode(uid)
            + "&"
            + HelperContract.GATE_QUERY_NODE
            + "="
            + encode(node)
            + "&"
            + HelperContract.GATE_QUERY_KIND
            + "="
            + gateKind.wireName();
    String state = null;
    // A quick first look tells at once why the pod waits; the long polls that follow end on a
    // change.
    boolean quick = true;
    Duration backoff = MIN_BACKOFF;
    while (true) {
      long remaining = deadline - System.nanoTime();
      if (remaining <= 0) {
        say("gate timed out after %s, proceeding with the %s", limitText, gateKind.description());
        return 0;
      }
      Duration wait =
          quick ? Duration.ZERO : Duration.ofNanos(Math.min(remaining, pollLimit.toNanos()));
      String newState;
      try {
        URI uri =
            URI.create(base + "&" + HelperContract.GATE_QUERY_WAIT + "=" + wait.toMillis() + "ms");
        HttpResponse<String> response =
            ask(client, uri, wait.plus(ANSWER_SLACK), Duration.ofNanos(remaining).plusSeconds(1));
        int code = response.statusCode();
        JsonNode body = parse(response.body());
        String reason = body.path("reason").asText("");
        String message = body.path("message").asText("");
        if (code == 200 && "go".equals(body.path("decision").asText())) {
          say(
              "gate open after %s for the %s: %s (%s)",
              Durations.format(Duration.ofNanos(System.nanoTime() - start)),
              gateKind.description(),
              reason,
              message);
          return 0;
        }
        if (code == 200 && "wait".equals(body.path("decision").asText())) {
          newState = "waiting: " + reason;
          if (!newState.equals(state)) {
            say(
                "gate: %s waits: %s (%s); proceeding anyway at the latest in %s",
                who,
                reason,
                message,
                Durations.format(Duration.ofNanos(deadline - System.nanoTime())));
          }
          state = newState;
          quick = false;
          backoff = MIN_BACKOFF;
          continue;
        }
        if (code >= 400 && code < 500) {
          say(
              "gate refused by the operator (HTTP %d %s: %s); proceeding with the %s",
              code, reason, message, gateKind.description());
          return 0;
        }
        newState = "HTTP " + code + " " + reason;
        if (!newState.equals(state)) {
          say("gate: the operator answered HTTP %d %s (%s); retrying", code, reason, message);
        }
      } catch (IOException e) {
        newState = "unreachable";
        if (!newState.equals(state)) {
          say("gate: operator unreachable at %s (%s); retrying until the deadline", url, e);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        say("gate interrupted, proceeding");
        return 0;
      }
      // Not answered: the operator restarts, fails over or is not ready yet. Retry until the
      // deadline.
      state = newState;
      quick = true;
      try {
        TimeUnit.NANOSECONDS.sleep(
            Math.min(backoff.toNanos(), Math.max(0, deadline - System.nanoTime())));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        say("gate interrupted, proceeding");
        return 0;
      }
      backoff =
          backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0
              ? MAX_BACKOFF
              : backoff.multipliedBy(2);
    }
  }

  /**
   * One request, bounded by {@code limit} as a whole (connection, poll and answer) and never past
   * the deadline.
   */
  private static HttpResponse<String> ask(
      HttpClient client, URI uri, Duration limit, Duration untilDeadline)
      throws IOException, InterruptedException {
    Duration bound = limit.compareTo(untilDeadline) < 0 ? limit : untilDeadline;
    HttpRequest request =
        HttpRequest.newBuilder(uri)
            .timeout(bound)
            .header("Accept", "application/json")
            .GET()
            .build();
    CompletableFuture<HttpResponse<String>> answer =
        client.sendAsync(request, HttpResponse.BodyHandlers.ofString());
    try {
      return answer.get(bound.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      answer.cancel(true);
      throw new IOException("no answer within " + Durations.format(bound), e);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
    }
  }

  private static String encode(String value) {
    return URLEncoder.encode(value, StandardCharsets.UTF_8);
  }

  private static JsonNode parse(String body) {
    try {
      return Json.MAPPER.readTree(body == null || body.isBlank() ? "{}" : body);
    } catch (IOException e) {
      return Json.MAPPER.createObjectNode();
    }
  }

  /**
   * Empty, after saying so, when {@code text} is not a duration: the caller uses {@code fallback}.
   */
  private Optional<Duration> duration(String option, String text, Duration fallback) {
    try {
      return Optional.of(Durations.parse(text));
    } catch (IllegalArgumentException e) {
      say("gate: %s %s; using %s", option, e.getMessage(), Durations.format(fallback));
      return Optional.empty();
    }
  }

  private void say(String format, Object... args) {
    out.printf(format + "%n", args);
    out.flush();
  }
}
