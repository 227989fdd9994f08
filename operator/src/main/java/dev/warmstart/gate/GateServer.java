package dev.warmstart.gate;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.gate.GateDecider.Answer;
import dev.warmstart.gate.GateDecider.Claim;
import dev.warmstart.kube.HelperContract;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transfer gate's HTTP API, answered by the leader: {@code GET
 * /v1/gate?namespace=&pod=&uid=&node=&kind=model|prepull[&wait=25s]}.
 *
 * <p>A request is held (long poll) by the {@link GateDecider} until it says go or the poll time
 * ends; both answer 200 with {@code
 * {"decision":"go"|"wait","reason":...,"message":...,"waited":...}}. The caller's claim (pod, UID,
 * node, kind) is checked against the operator's own view of the pods, since the workload pods carry
 * no credentials: 403 when it does not hold, 503 when this replica is not the leader or its view is
 * not complete, 400 on a malformed request. This class only parses, asks the decider and writes the
 * answer.
 */
public final class GateServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GateServer.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> CLAIM =
      List.of(
          HelperContract.GATE_QUERY_NAMESPACE,
          HelperContract.GATE_QUERY_POD,
          HelperContract.GATE_QUERY_UID,
          HelperContract.GATE_QUERY_NODE,
          HelperContract.GATE_QUERY_KIND);

  private final InetSocketAddress address;
  private final PodSource pods;
  private final PodsByNode ownedPods;
  private final BooleanSupplier isLeader;
  private final Clock clock;
  private final GateSettings settings;
  private final GateMetrics metrics;

  private GateDecider decider;
  private ExecutorService io;
  private HttpServer server;

  /** A gate over {@code pods}, which the caller starts and stops. */
  public GateServer(
      InetSocketAddress address,
      PodSource pods,
      BooleanSupplier isLeader,
      MeterRegistry registry,
      Clock clock,
      GateSettings settings) {
    this(address, pods, null, isLeader, registry, clock, settings);
  }

  private GateServer(
      InetSocketAddress address,
      PodSource pods,
      PodsByNode ownedPods,
      BooleanSupplier isLeader,
      MeterRegistry registry,
      Clock clock,
      GateSettings settings) {
    this.address = address;
    this.pods = pods;
    this.ownedPods = ownedPods;
    this.isLeader = isLeader;
    this.clock = clock;
    this.settings = settings;
    this.metrics = new GateMetrics(registry);
  }

  /**
   * A gate over the warmstart-managed pods of the cluster, seen through its own {@link PodsByNode}
   * informer, which {@link #start()} starts and {@link #close()} stops.
   *
   * @param namespaces namespaces to watch; all when empty
   */
  public static GateServer forCluster(
      KubernetesClient client,
      Set<String> namespaces,
      InetSocketAddress address,
      BooleanSupplier isLeader,
      MeterRegistry registry,
      Clock clock,
      GateSettings settings) {
    PodsByNode pods = new PodsByNode(client, namespaces);
    return new GateServer(address, pods, pods, isLeader, registry, clock, settings);
  }

  public synchronized void start() throws IOException {
    if (server != null) {
      throw new IllegalStateException("already started");
    }
    if (ownedPods != null) {
      ownedPods.start();
    }
    decider =
        new GateDecider(
            pods, settings, clock, GateScheduler.singleThread("transfer-gate"), metrics);
    io = Executors.newFixedThreadPool(4, daemon("transfer-gate-http"));
    server = HttpServer.create(address, 64);
    server.createContext(HelperContract.GATE_PATH, this::handle);
    server.createContext(HelperContract.PODS_PATH, this::handlePods);
    server.setExecutor(io);
    server.start();
    decider.start();
    log.info(
        "transfer gate listening on :{} (at most {} transfer(s) per node)",
        port(),
        settings.maxPerNode());
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /**
   * Stops answering; held requests see their connection close, and their gate retries elsewhere or
   * later.
   */
  @Override
  public synchronized void close() {
    if (server != null) {
      server.stop(0);
      decider.close();
      io.shutdownNow();
    }
    if (ownedPods != null) {
      ownedPods.close();
    }
    metrics.close();
  }

  private void handle(HttpExchange exchange) {
    try {
      if (!"GET".equals(exchange.getRequestMethod())) {
        write(exchange, 405, body(null, "MethodNotAllowed", "use GET", null));
        return;
      }
      Map<String, String> q = query(exchange.getRequestURI().getRawQuery());
      List<String> missing =
          CLAIM.stream().filter(name -> q.getOrDefault(name, "").isBlank()).toList();
      if (!missing.isEmpty()) {
        write(
            exchange,
            400,
            body(null, "BadRequest", "missing parameter(s): " + String.join(", ", missing), null));
        return;
      }
      GateKind kind;
      Duration wait = settings.longPoll();
      try {
        kind = GateKind.parse(q.get(HelperContract.GATE_QUERY_KIND));
        if (q.containsKey(HelperContract.GATE_QUERY_WAIT)) {
          Duration asked = Durations.parse(q.get(HelperContract.GATE_QUERY_WAIT));
          wait = asked.compareTo(wait) < 0 ? asked : wait;
        }
      } catch (IllegalArgumentException e) {
        write(exchange, 400, body(null, "BadRequest", e.getMessage(), null));
        return;
      }
      if (refusedUnlessServing(exchange)) {
        return;
      }
      Claim claim =
          new Claim(
              kind,
              q.get(HelperContract.GATE_QUERY_NAMESPACE),
              q.get(HelperContract.GATE_QUERY_POD),
              q.get(HelperContract.GATE_QUERY_UID),
              q.get(HelperContract.GATE_QUERY_NODE));
      try {
        decider.ask(claim, wait).thenAccept(answer -> reply(exchange, claim, answer));
      } catch (RejectedExecutionException e) {
        write(exchange, 503, body(null, "ShuttingDown", "the operator is shutting down", null));
      }
    } catch (RuntimeException | IOException e) {
      log.warn("transfer gate request {} failed", exchange.getRequestURI(), e);
      exchange.close();
    }
  }

  private void handlePods(HttpExchange exchange) {
    try {
      if (!"GET".equals(exchange.getRequestMethod())) {
        write(exchange, 405, body(null, "MethodNotAllowed", "use GET", null));
        return;
      }
      String node =
          query(exchange.getRequestURI().getRawQuery())
              .getOrDefault(HelperContract.PODS_QUERY_NODE, "");
      if (node.isBlank()) {
        write(exchange, 400, body(null, "BadRequest", "missing parameter(s): node", null));
        return;
      }
      if (refusedUnlessServing(exchange)) {
        return;
      }
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("node", node);
      json.put("namespaces", new TreeSet<>(pods.namespaces()));
      json.put(
          "uids",
          pods.onNode(node).stream()
              .map(p -> p.getMetadata().getUid())
              .filter(Objects::nonNull)
              .sorted()
              .toList());
      write(exchange, 200, JSON.writeValueAsString(json));
    } catch (RuntimeException | IOException e) {
      log.warn("transfer gate request {} failed", exchange.getRequestURI(), e);
      exchange.close();
    }
  }

  /**
   * Answers 503 unless this replica leads and has listed the pods: a follower's or an unsynced view
   * could miss pods (a wrong gate decision, or a live pod's cache directory taken for a dead
   * one's).
   */
  private boolean refusedUnlessServing(HttpExchange exchange) throws IOException {
    if (!isLeader.getAsBoolean()) {
      write(
          exchange, 503, body(null, "NotLeader", "this operator replica is not the leader", null));
      return true;
    }
    if (!pods.isReady()) {
      write(
          exchange, 503, body(null, "NotSynced", "the operator has not listed the pods yet", null));
      return true;
    }
    return false;
  }

  /**
   * Writes on an HTTP thread: the answer completes on the decider's, which must not block on a slow
   * client.
   */
  private void reply(HttpExchange exchange, Claim claim, Answer answer) {
    try {
      io.execute(
          () -> {
            try {
              if (answer.verdict() == GateDecider.Verdict.REFUSED) {
                write(exchange, 403, body(null, answer.reason(), answer.message(), null));
              } else {
                String decision = answer.verdict() == GateDecider.Verdict.GO ? "go" : "wait";
                write(
                    exchange,
                    200,
                    body(decision, answer.reason(), answer.message(), answer.waited()));
              }
            } catch (IOException e) {
              log.debug("could not answer {}/{}: {}", claim.namespace(), claim.pod(), e.toString());
            }
          });
    } catch (RejectedExecutionException e) {
      exchange.close();
    }
  }

  private static String body(String decision, String reason, String message, Duration waited) {
    Map<String, String> json = new LinkedHashMap<>();
    if (decision != null) {
      json.put("decision", decision);
    }
    json.put("reason", reason);
    json.put("message", message);
    if (waited != null) {
      json.put("waited", Durations.format(waited));
    }
    try {
      return JSON.writeValueAsString(json);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void write(HttpExchange exchange, int code, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    try (exchange) {
      exchange.getResponseHeaders().set("Content-Type", "application/json");
      if (code == 503) {
        // Behind a Service, the retry must open a new connection to reach another replica, maybe
        // the leader.
        exchange.getResponseHeaders().set("Connection", "close");
      }
      exchange.sendResponseHeaders(code, bytes.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> q = new HashMap<>();
    if (raw == null) {
      return q;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String value =
          eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      q.putIfAbsent(key, value);
    }
    return q;
  }

  private static ThreadFactory daemon(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
