package dev.warmstart.gate;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.gate.GatePolicy.Decision;
import dev.warmstart.gate.GatePolicy.Request;
import dev.warmstart.kube.HelperContract;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transfer gate's HTTP API, answered by the leader:
 * {@code GET /v1/gate?namespace=&pod=&uid=&node=&kind=model|prepull[&wait=25s]}.
 *
 * <p>A request is held (long poll) until {@link GatePolicy} says go or the poll time ends; both
 * answer 200 with {@code {"decision":"go"|"wait","reason":...,"message":...}}. The caller's
 * claim (pod, UID, node, kind) is checked against the operator's own view of the pods, since the
 * workload pods carry no credentials: 403 when it does not hold (after a short grace for the
 * informer to catch up), 503 when this replica is not the leader or its view is not complete, 400
 * on a malformed request.
 *
 * <p>All decisions are taken on one thread, in the order the pods first asked, so that two pods
 * on one node can never both take the last transfer slot. Held requests are re-decided when a pod
 * on their node changes, not only when their poll ends; no thread is held per waiting request.
 */
public final class GateServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GateServer.class);
  private static final String DENIED = "deny";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration SWEEP = Duration.ofMinutes(1);
  /** A pod that has not asked for this long has given up (its gate timed out) or is gone. */
  private static final Duration FORGET = Duration.ofHours(1);

  /**
   * @param maxPerNode bulk transfers allowed at once on one node
   * @param longPoll the longest a request is held before it is answered "wait"
   * @param grantExpiry how long a pod told "go" counts as transferring while its pod status does not
   *     show it yet (the gate container's exit, the kubelet starting the next container and the
   *     status reaching the informer take seconds); after that only the pod status counts, so a pod
   *     that died right after its grant blocks its node for at most this long
   * @param verifyGrace how long a request whose pod is not (yet) in the informer's view is held
   *     before it is refused: a pod's first request can overtake its own watch event
   * @param waiterLinger how long a serving pod still counts as waiting between two of its polls
   */
  public record Settings(int maxPerNode, Duration longPoll, Duration grantExpiry, Duration verifyGrace,
      Duration waiterLinger) {
    public static final Settings DEFAULTS = new Settings(1, Duration.ofSeconds(25), Duration.ofSeconds(60),
        Duration.ofSeconds(5), Duration.ofSeconds(15));

    public Settings {
      if (maxPerNode < 1) {
        throw new IllegalArgumentException("maxPerNode must be at least 1, was " + maxPerNode);
      }
      Objects.requireNonNull(longPoll);
      Objects.requireNonNull(grantExpiry);
      Objects.requireNonNull(verifyGrace);
      Objects.requireNonNull(waiterLinger);
    }

    public Settings withMaxPerNode(int max) {
      return new Settings(max, longPoll, grantExpiry, verifyGrace, waiterLinger);
    }

    public Settings withLongPoll(Duration d) {
      return new Settings(maxPerNode, d, grantExpiry, verifyGrace, waiterLinger);
    }

    public Settings withGrantExpiry(Duration d) {
      return new Settings(maxPerNode, longPoll, d, verifyGrace, waiterLinger);
    }

    public Settings withVerifyGrace(Duration d) {
      return new Settings(maxPerNode, longPoll, grantExpiry, d, waiterLinger);
    }

    public Settings withWaiterLinger(Duration d) {
      return new Settings(maxPerNode, longPoll, grantExpiry, verifyGrace, d);
    }
  }

  private final InetSocketAddress address;
  private final PodSource pods;
  private final PodsByNode ownedPods;
  private final BooleanSupplier isLeader;
  private final MeterRegistry registry;
  private final Clock clock;
  private final Settings settings;
  private final GatePolicy policy;
  private final Map<GateKind, AtomicInteger> waiting = new EnumMap<>(GateKind.class);
  private final List<Gauge> gauges = new ArrayList<>();
  private final Set<String> dirtyNodes = ConcurrentHashMap.newKeySet();

  // Confined to the decider thread.
  private final Map<String, List<Waiter>> waitersByNode = new HashMap<>();
  private final Map<String, Map<String, Tracked>> trackedByNode = new HashMap<>();
  private final Map<String, Instant> grants = new HashMap<>();
  private long arrivals;

  private ScheduledExecutorService decider;
  private ExecutorService io;
  private HttpServer server;
  private volatile boolean closed;

  /** A gate over {@code pods}, which the caller starts and stops. */
  public GateServer(InetSocketAddress address, PodSource pods, BooleanSupplier isLeader, MeterRegistry registry,
      Clock clock, Settings settings) {
    this(address, pods, null, isLeader, registry, clock, settings);
  }

  private GateServer(InetSocketAddress address, PodSource pods, PodsByNode ownedPods, BooleanSupplier isLeader,
      MeterRegistry registry, Clock clock, Settings settings) {
    this.address = address;
    this.pods = pods;
    this.ownedPods = ownedPods;
    this.isLeader = isLeader;
    this.registry = registry;
    this.clock = clock;
    this.settings = settings;
    this.policy = new GatePolicy(settings.maxPerNode());
    for (GateKind kind : GateKind.values()) {
      AtomicInteger count = new AtomicInteger();
      waiting.put(kind, count);
      gauges.add(Gauge.builder("warmstart.gate.waiters", count, AtomicInteger::get)
          .description("Pods whose request is held at the transfer gate right now")
          .tag("kind", kind.wireName())
          .register(registry));
    }
  }

  /**
   * A gate over the warmstart-managed pods of the cluster, seen through its own {@link PodsByNode}
   * informer, which {@link #start()} starts and {@link #close()} stops.
   *
   * @param namespaces namespaces to watch; all when empty
   */
  public static GateServer forCluster(KubernetesClient client, Set<String> namespaces, InetSocketAddress address,
      BooleanSupplier isLeader, MeterRegistry registry, Clock clock, Settings settings) {
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
    decider = Executors.newSingleThreadScheduledExecutor(daemon("transfer-gate"));
    io = Executors.newFixedThreadPool(4, daemon("transfer-gate-http"));
    server = HttpServer.create(address, 64);
    server.createContext(HelperContract.GATE_PATH, this::handle);
    server.createContext(HelperContract.PODS_PATH, this::handlePods);
    server.setExecutor(io);
    server.start();
    pods.onNodeChange(this::nodeChanged);
    decider.scheduleWithFixedDelay(guarded(this::sweep), SWEEP.toMillis(), SWEEP.toMillis(), TimeUnit.MILLISECONDS);
    log.info("transfer gate listening on :{} (at most {} transfer(s) per node)", port(), settings.maxPerNode());
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /** Stops answering; held requests see their connection close, and their gate retries elsewhere or later. */
  @Override
  public synchronized void close() {
    closed = true;
    if (server != null) {
      server.stop(0);
      decider.shutdownNow();
      io.shutdownNow();
    }
    if (ownedPods != null) {
      ownedPods.close();
    }
    gauges.forEach(registry::remove);
  }

  // ---- HTTP threads -------------------------------------------------------------------------

  private void handle(HttpExchange exchange) {
    try {
      if (!"GET".equals(exchange.getRequestMethod())) {
        write(exchange, 405, body(null, "MethodNotAllowed", "use GET", null));
        return;
      }
      Map<String, String> q = query(exchange.getRequestURI().getRawQuery());
      List<String> missing = new ArrayList<>();
      for (String name : List.of(HelperContract.GATE_QUERY_NAMESPACE, HelperContract.GATE_QUERY_POD,
          HelperContract.GATE_QUERY_UID, HelperContract.GATE_QUERY_NODE, HelperContract.GATE_QUERY_KIND)) {
        if (q.getOrDefault(name, "").isBlank()) {
          missing.add(name);
        }
      }
      if (!missing.isEmpty()) {
        write(exchange, 400, body(null, "BadRequest", "missing parameter(s): " + String.join(", ", missing), null));
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
      Waiter waiter = new Waiter(exchange, kind, q.get(HelperContract.GATE_QUERY_NAMESPACE),
          q.get(HelperContract.GATE_QUERY_POD), q.get(HelperContract.GATE_QUERY_UID),
          q.get(HelperContract.GATE_QUERY_NODE), wait);
      try {
        decider.execute(guarded(() -> admit(waiter)));
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
      String node = query(exchange.getRequestURI().getRawQuery()).getOrDefault(HelperContract.PODS_QUERY_NODE, "");
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
      json.put("uids", pods.onNode(node).stream().map(p -> p.getMetadata().getUid()).filter(Objects::nonNull)
          .sorted().toList());
      write(exchange, 200, JSON.writeValueAsString(json));
    } catch (RuntimeException | IOException e) {
      log.warn("transfer gate request {} failed", exchange.getRequestURI(), e);
      exchange.close();
    }
  }

  /**
   * Answers 503 unless this replica leads and has listed the pods: a follower's or an unsynced view could
   * miss pods (a wrong gate decision, or a live pod's cache directory taken for a dead one's).
   */
  private boolean refusedUnlessServing(HttpExchange exchange) throws IOException {
    if (!isLeader.getAsBoolean()) {
      write(exchange, 503, body(null, "NotLeader", "this operator replica is not the leader", null));
      return true;
    }
    if (!pods.isReady()) {
      write(exchange, 503, body(null, "NotSynced", "the operator has not listed the pods yet", null));
      return true;
    }
    return false;
  }

  private void nodeChanged(String node) {
    if (!closed && dirtyNodes.add(node)) {
      try {
        decider.execute(guarded(() -> {
          dirtyNodes.remove(node);
          decideNode(node);
        }));
      } catch (RejectedExecutionException e) {
        dirtyNodes.remove(node);
      }
    }
  }

  // ---- decider thread -----------------------------------------------------------------------

  private void admit(Waiter waiter) {
    waiter.arrival = arrivals++;
    waiting.get(waiter.kind).incrementAndGet();
    waitersByNode.computeIfAbsent(waiter.node, n -> new ArrayList<>()).add(waiter);
    waiter.pollEnd = decider.schedule(guarded(() -> endPoll(waiter)), waiter.wait.toMillis(), TimeUnit.MILLISECONDS);
    decideNode(waiter.node);
    if (waiter.pending && waiter.tracked == null) {
      waiter.verifyEnd = decider.schedule(guarded(() -> endVerify(waiter)), settings.verifyGrace().toMillis(),
          TimeUnit.MILLISECONDS);
    }
  }

  /**
   * Re-decides every request held on {@code node}. First every claim is checked, so that each
   * serving pod now waiting counts as a need; then the verified requests are decided oldest first,
   * each go changing what the next one sees.
   */
  private void decideNode(String node) {
    List<Waiter> held = waitersByNode.get(node);
    if (held == null) {
      return;
    }
    List<Waiter> ordered = new ArrayList<>();
    for (Waiter w : List.copyOf(held)) {
      if (w.pending && verified(w)) {
        ordered.add(w);
      }
    }
    ordered.sort(Comparator.comparing((Waiter w) -> w.tracked.firstSeen).thenComparingLong(w -> w.arrival));
    for (Waiter w : ordered) {
      if (w.pending) {
        decide(w);
      }
    }
  }

  /** Checks the request's claim against the pods; from its first verified request on, the pod is tracked. */
  private boolean verified(Waiter w) {
    w.pod = pods.get(w.namespace, w.name).orElse(null);
    w.refusal = verify(w, w.pod);
    if (w.refusal == null && w.tracked == null) {
      attach(w);
    }
    return w.refusal == null;
  }

  private void decide(Waiter w) {
    Instant now = clock.instant();
    NodeSituation situation = NodeSituation.observe(w.node, pods.onNode(w.node), grants, waitingUids(w.node, now),
        now, settings.grantExpiry());
    Decision decision = policy.decide(Request.of(w.kind, w.pod), situation);
    if (!Objects.equals(w.tracked.lastReason, decision.reason())) {
      w.tracked.lastReason = decision.reason();
      if (!decision.isGo()) {
        log.debug("{} of {}/{} on node {} waits: {} ({})", w.kind.description(), w.namespace, w.name, w.node,
            decision.reason(), decision.message());
      }
    }
    w.decision = decision;
    if (decision.isGo()) {
      grant(w, decision, now);
    }
  }

  /** Why a request's claim does not hold. */
  private record Refusal(String reason, String message) {}

  /** Null when the claim holds. */
  private static Refusal verify(Waiter w, Pod pod) {
    String who = "pod " + w.namespace + "/" + w.name;
    if (pod == null) {
      return new Refusal("UnknownPod", "the operator knows no warmstart-managed " + who);
    }
    if (!w.uid.equals(pod.getMetadata().getUid())) {
      return new Refusal("UidMismatch", who + " does not have UID " + w.uid);
    }
    if (pod.getSpec() == null || !w.node.equals(pod.getSpec().getNodeName())) {
      return new Refusal("WrongNode", who + " is not bound to node " + w.node);
    }
    boolean rightKind = w.kind == GateKind.MODEL ? NodeSituation.fetchesModel(pod) : NodeSituation.isCachePod(pod);
    if (!rightKind) {
      return new Refusal("WrongKind", who + " may not ask for a " + w.kind.description());
    }
    return null;
  }

  /** From its first verified request on, a pod is tracked: its wait time, and its need while it waits. */
  private void attach(Waiter w) {
    Tracked tracked = trackedByNode.computeIfAbsent(w.node, n -> new HashMap<>())
        .computeIfAbsent(w.uid, u -> new Tracked(clock.instant()));
    Waiter previous = tracked.active;
    tracked.active = w;
    w.tracked = tracked;
    if (previous != null && previous != w && previous.pending) {
      // The same pod asks again, so its earlier connection is gone: answer that one and forget it.
      answerWait(previous);
    }
  }

  private Set<String> waitingUids(String node, Instant now) {
    Map<String, Tracked> tracked = trackedByNode.getOrDefault(node, Map.of());
    Set<String> uids = new HashSet<>();
    tracked.forEach((uid, t) -> {
      if (t.active != null || now.isBefore(t.lastSeen.plus(settings.waiterLinger()))) {
        uids.add(uid);
      }
    });
    return uids;
  }

  private void grant(Waiter w, Decision decision, Instant now) {
    grants.put(w.uid, now);
    Duration waited = Duration.between(w.tracked.firstSeen, now);
    forget(w);
    Timer.builder("warmstart.gate.wait")
        .description("Time from a pod's first request at the transfer gate to go")
        .tags("kind", w.kind.wireName(), "reason", decision.reason())
        .serviceLevelObjectives(Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(15),
            Duration.ofSeconds(30), Duration.ofMinutes(1), Duration.ofMinutes(2), Duration.ofMinutes(5),
            Duration.ofMinutes(10), Duration.ofMinutes(20))
        .register(registry)
        .record(waited);
    count(w.kind, "go", decision.reason());
    log.info("transfer gate open: {} of {}/{} on node {} after {}: {} ({})", w.kind.description(), w.namespace,
        w.name, w.node, Durations.format(waited), decision.reason(), decision.message());
    answer(w, 200, body(decision.decision(), decision.reason(), decision.message(), waited));
    // When the grant lapses without the pod being seen transferring, the others on the node may go.
    decider.schedule(guarded(() -> decideNode(w.node)), settings.grantExpiry().toMillis() + 50, TimeUnit.MILLISECONDS);
  }

  private void endPoll(Waiter w) {
    if (!w.pending) {
      return;
    }
    w.pollOver = true;
    if (w.tracked == null && w.verifyEnd != null && !w.verifyEnd.isDone()) {
      return; // Even a short poll gets the whole grace before a refusal.
    }
    if (w.refusal != null || w.tracked == null) {
      refuse(w);
    } else {
      answerWait(w);
    }
  }

  private void endVerify(Waiter w) {
    if (w.pending && w.tracked == null) {
      decideNode(w.node);
    }
    if (!w.pending) {
      return;
    }
    if (w.refusal != null || w.tracked == null) {
      refuse(w);
    } else if (w.pollOver) {
      answerWait(w);
    }
  }

  private void answerWait(Waiter w) {
    Decision d = w.decision != null ? w.decision : Decision.await("Undecided", "no decision yet");
    w.tracked.lastSeen = clock.instant();
    if (w.tracked.active == w) {
      w.tracked.active = null;
    }
    count(w.kind, "wait", d.reason());
    answer(w, 200, body(d.decision(), d.reason(), d.message(), Duration.between(w.tracked.firstSeen, clock.instant())));
  }

  private void refuse(Waiter w) {
    Refusal refusal = w.refusal != null ? w.refusal : verify(w, pods.get(w.namespace, w.name).orElse(null));
    if (refusal == null) {
      refusal = new Refusal("UnknownPod", "pod " + w.namespace + "/" + w.name + " could not be verified");
    }
    if (w.tracked != null) {
      forget(w);
    }
    count(w.kind, DENIED, refusal.reason());
    log.info("transfer gate refused a {} request for {}/{} on node {}: {}", w.kind.description(), w.namespace,
        w.name, w.node, refusal.message());
    answer(w, 403, body(null, refusal.reason(), refusal.message(), null));
  }

  private void forget(Waiter w) {
    Map<String, Tracked> tracked = trackedByNode.get(w.node);
    if (tracked != null && tracked.get(w.uid) == w.tracked) {
      tracked.remove(w.uid);
      if (tracked.isEmpty()) {
        trackedByNode.remove(w.node);
      }
    }
  }

  private void answer(Waiter w, int code, String body) {
    w.pending = false;
    waiting.get(w.kind).decrementAndGet();
    cancel(w.pollEnd);
    cancel(w.verifyEnd);
    List<Waiter> held = waitersByNode.get(w.node);
    if (held != null) {
      held.remove(w);
      if (held.isEmpty()) {
        waitersByNode.remove(w.node);
      }
    }
    try {
      io.execute(() -> {
        try {
          write(w.exchange, code, body);
        } catch (IOException e) {
          log.debug("could not answer {}/{}: {}", w.namespace, w.name, e.toString());
        }
      });
    } catch (RejectedExecutionException e) {
      w.exchange.close();
    }
  }

  private void sweep() {
    Instant now = clock.instant();
    grants.values().removeIf(at -> !now.isBefore(at.plus(settings.grantExpiry())));
    trackedByNode.values().forEach(byUid -> byUid.values()
        .removeIf(t -> t.active == null && !now.isBefore(t.lastSeen.plus(FORGET))));
    trackedByNode.values().removeIf(Map::isEmpty);
  }

  private void count(GateKind kind, String decision, String reason) {
    Counter.builder("warmstart.gate.decisions")
        .description("Answers of the transfer gate: go, wait (a poll ended) or deny (the claim did not hold)")
        .tags("kind", kind.wireName(), "decision", decision, "reason", reason)
        .register(registry)
        .increment();
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** A failure in one step is logged and does not stop the decider (nor, for the sweep, its later runs). */
  private static Runnable guarded(Runnable step) {
    return () -> {
      try {
        step.run();
      } catch (RuntimeException e) {
        log.error("transfer gate step failed; pods waiting on it may wait until their own deadline", e);
      }
    };
  }

  private static void cancel(ScheduledFuture<?> f) {
    if (f != null) {
      f.cancel(false);
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
        // Behind a Service, the retry must open a new connection to reach another replica, maybe the leader.
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
      String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      q.putIfAbsent(key, value);
    }
    return q;
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** One held request. */
  private static final class Waiter {
    final HttpExchange exchange;
    final GateKind kind;
    final String namespace;
    final String name;
    final String uid;
    final String node;
    final Duration wait;
    long arrival;
    boolean pending = true;
    /** The poll time has passed, but the claim is still within its grace. */
    boolean pollOver;
    Pod pod;
    Tracked tracked;
    Decision decision;
    Refusal refusal;
    ScheduledFuture<?> pollEnd;
    ScheduledFuture<?> verifyEnd;

    Waiter(HttpExchange exchange, GateKind kind, String namespace, String name, String uid, String node,
        Duration wait) {
      this.exchange = exchange;
      this.kind = kind;
      this.namespace = namespace;
      this.name = name;
      this.uid = uid;
      this.node = node;
      this.wait = wait;
    }
  }

  /** A pod that has asked and not yet been told go, across its polls. */
  private static final class Tracked {
    final Instant firstSeen;
    Instant lastSeen;
    String lastReason;
    Waiter active;

    Tracked(Instant firstSeen) {
      this.firstSeen = firstSeen;
      this.lastSeen = firstSeen;
    }
  }
}
