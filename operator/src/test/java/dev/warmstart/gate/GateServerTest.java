package dev.warmstart.gate;

import static dev.warmstart.gate.TestPods.cache;
import static dev.warmstart.gate.TestPods.cacheInitDone;
import static dev.warmstart.gate.TestPods.cacheRunning;
import static dev.warmstart.gate.TestPods.running;
import static dev.warmstart.gate.TestPods.serving;
import static dev.warmstart.gate.TestPods.terminated;
import static dev.warmstart.gate.TestPods.uid;
import static dev.warmstart.gate.TestPods.waiting;
import static dev.warmstart.gate.TestPods.withContainer;
import static dev.warmstart.gate.TestPods.withInit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.kube.HelperContract;
import io.fabric8.kubernetes.api.model.Pod;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The gate over HTTP against an in-memory pod source: the races of a node's pods, and the checks. */
class GateServerTest {
  static final String NODE = "node-1";
  static final String IMAGE = "vllm/vllm-openai:v0.11.0";
  static final String OTHER = "ghcr.io/acme/other-server:1";
  /** Long enough that an answer before it can only come from a pod change. */
  static final String LONG_POLL = "10s";
  static final GateServer.Settings SETTINGS = GateServer.Settings.DEFAULTS
      .withLongPoll(Duration.ofSeconds(20))
      .withVerifyGrace(Duration.ofMillis(200));
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  final FakePods pods = new FakePods();
  final AtomicBoolean leader = new AtomicBoolean(true);
  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  GateServer server;

  @BeforeEach
  void start() throws IOException {
    server = start(SETTINGS);
  }

  @AfterEach
  void stop() {
    server.close();
  }

  GateServer start(GateServer.Settings settings) throws IOException {
    GateServer s = new GateServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), pods, leader::get,
        registry, Clock.systemUTC(), settings);
    s.start();
    return s;
  }

  @Test
  void cachedImageOnIdleNodeGoesAtOnce() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    Answer a = ask(server, "p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals(200, a.code);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason);
    assertTrue(a.millis < 2000, a.toString());
  }

  @Test
  void aWarmPoolPlaceholderMayAskForItsModelDownload() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(TestPods.placeholder("w", NODE, IMAGE));
    Answer a = ask(server, "w", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason);
  }

  @Test
  void imageFinishingReleasesWaitingDownloadAtOnce() throws Exception {
    Pod c = cache("c", NODE, IMAGE);   // its pull has not started (its own gate has not opened)
    pods.put(c).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask(server, "p", GateKind.MODEL, LONG_POLL);
    assertPending(p);
    assertEquals(1.0, registry.get("warmstart.gate.waiters").tag("kind", "model").gauge().value());

    pods.put(cacheRunning(c));
    Answer a = p.get(3, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason);
    assertTrue(a.millis < 3000, "released by the pod change, not by the end of the poll: " + a);
    assertEquals(0.0, registry.get("warmstart.gate.waiters").tag("kind", "model").gauge().value());
  }

  @Test
  void prePullOfTheImageStartingReleasesWaitingDownloadAtOnce() throws Exception {
    Pod c = cache("c", NODE, IMAGE);
    pods.put(c).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask(server, "p", GateKind.MODEL, LONG_POLL);
    assertPending(p);

    pods.put(withContainer(cacheInitDone(c), "c0", waiting("ContainerCreating")));
    Answer a = p.get(3, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_PULLING, a.reason);
    assertTrue(a.millis < 3000, "released by the pod change, not by the end of the poll: " + a);
  }

  @Test
  void pollEndsWithWaitAndItsReason() throws Exception {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    Answer a = ask(server, "p", GateKind.MODEL, "300ms").get(5, TimeUnit.SECONDS);
    assertEquals(200, a.code);
    assertEquals("wait", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_NOT_CACHED, a.reason);
    assertTrue(a.message.contains(IMAGE), a.message);
  }

  @Test
  void secondEndpointOnNodeWaitsUntilFirstDownloadEnds() throws Exception {
    Pod p1 = serving("p1", NODE, IMAGE, true);
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(p1).put(serving("p2", NODE, IMAGE, true));
    assertEquals("go", ask(server, "p1", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).decision);

    CompletableFuture<Answer> p2 = ask(server, "p2", GateKind.MODEL, LONG_POLL);
    assertPending(p2);
    pods.put(withInit(withInit(p1, HelperContract.CONTAINER_GATE, terminated(0)), HelperContract.CONTAINER_FETCH_MODEL, running()));
    assertPending(p2);
    Answer meanwhile = ask(server, "p2", GateKind.MODEL, "200ms").get(5, TimeUnit.SECONDS);
    assertEquals(GatePolicy.TRANSFER_RUNNING, meanwhile.reason, meanwhile.toString());
    assertTrue(meanwhile.message.contains("ml/p1"), meanwhile.message);

    CompletableFuture<Answer> again = ask(server, "p2", GateKind.MODEL, LONG_POLL);
    assertPending(again);
    pods.put(withInit(withInit(p1, HelperContract.CONTAINER_GATE, terminated(0)), HelperContract.CONTAINER_FETCH_MODEL, terminated(0)));
    Answer a = again.get(3, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertTrue(a.millis < 3000, a.toString());
  }

  @Test
  void onlyOneOfTwoSimultaneousDownloadsGoes() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    for (int i = 0; i < 8; i++) {
      pods.put(serving("p" + i, NODE, IMAGE, true));
    }
    List<CompletableFuture<Answer>> answers = java.util.stream.IntStream.range(0, 8)
        .mapToObj(i -> ask(server, "p" + i, GateKind.MODEL, "500ms")).toList();
    List<String> decisions = answers.stream().map(f -> f.join().decision).sorted().toList();
    assertEquals(1, decisions.stream().filter("go"::equals).count(), decisions.toString());
  }

  @Test
  void twoSlotsLetTwoDownloadsGo() throws Exception {
    server.close();
    server = start(SETTINGS.withMaxPerNode(2));
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    for (int i = 0; i < 3; i++) {
      pods.put(serving("p" + i, NODE, IMAGE, true));
    }
    List<String> decisions = java.util.stream.IntStream.range(0, 3)
        .mapToObj(i -> ask(server, "p" + i, GateKind.MODEL, "500ms")).toList()
        .stream().map(f -> f.join().decision).toList();
    assertEquals(2, decisions.stream().filter("go"::equals).count(), decisions.toString());
  }

  @Test
  void prePullWaitsBehindDownloadUnlessWaitingServingPodNeedsItsImage() throws Exception {
    Pod p1 = withInit(withInit(serving("p1", NODE, OTHER, false), HelperContract.CONTAINER_GATE, terminated(0)),
        HelperContract.CONTAINER_FETCH_MODEL, running());
    Pod c = withInit(withInit(cache("c", NODE, IMAGE), HelperContract.CONTAINER_INSTALL_PAUSE, terminated(0)),
        HelperContract.CONTAINER_GATE, running());
    pods.put(p1).put(c);
    CompletableFuture<Answer> prePull = ask(server, "c", GateKind.PREPULL, LONG_POLL);
    assertPending(prePull);

    pods.put(serving("p2", NODE, IMAGE, true));
    CompletableFuture<Answer> p2 = ask(server, "p2", GateKind.MODEL, LONG_POLL);
    Answer a = prePull.get(3, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.SERVING_POD_NEEDS_IMAGE, a.reason);
    assertTrue(a.message.contains("ml/p2"), a.message);

    // The image arrives, but p1's download still runs: p2 waits for that, then goes.
    pods.put(cacheRunning(c));
    assertPending(p2);
    pods.put(withInit(p1, HelperContract.CONTAINER_FETCH_MODEL, terminated(0)));
    Answer go = p2.get(3, TimeUnit.SECONDS);
    assertEquals("go", go.decision, go.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, go.reason);
  }

  @Test
  void grantNeverSeenStartingLapses() throws Exception {
    server.close();
    server = start(SETTINGS.withGrantExpiry(Duration.ofMillis(500)));
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p1", NODE, IMAGE, true))
        .put(serving("p2", NODE, IMAGE, true));
    assertEquals("go", ask(server, "p1", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).decision);
    Answer a = ask(server, "p2", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals("go", a.decision, a.toString());
    assertTrue(a.millis >= 400 && a.millis < 3000, a.toString());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "unknown pod, UnknownPod",
      "wrong uid,   UidMismatch",
      "wrong node,  WrongNode",
      "wrong kind,  WrongKind",
  })
  void claimsThatDoNotHoldAreRefused(String claim, String reason) throws Exception {
    pods.put(serving("p", NODE, IMAGE, true)).put(cacheRunning(cache("c", NODE, IMAGE)));
    String query = switch (claim) {
      case "unknown pod" -> query("nobody", uid("nobody"), NODE, GateKind.MODEL);
      case "wrong uid" -> query("p", uid("someone-else"), NODE, GateKind.MODEL);
      case "wrong node" -> query("p", uid("p"), "node-2", GateKind.MODEL);
      default -> query("c", uid("c"), NODE, GateKind.MODEL);
    };
    Answer a = get(server, query + "&wait=" + LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals(403, a.code, a.toString());
    assertEquals(reason, a.reason);
    assertTrue(a.millis < 3000, "refused after the grace, not at the end of the poll: " + a);
  }

  @Test
  void podSeenLateIsNotRefused() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    CompletableFuture<Answer> p = ask(server, "p", GateKind.MODEL, LONG_POLL);
    Thread.sleep(50);
    pods.put(serving("p", NODE, IMAGE, true));
    assertEquals("go", p.get(3, TimeUnit.SECONDS).decision);
  }

  @Test
  void onlyTheLeaderWithACompleteViewAnswers() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    leader.set(false);
    Answer notLeader = ask(server, "p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals(503, notLeader.code);
    assertEquals("NotLeader", notLeader.reason);
    HttpResponse<String> raw = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + HelperContract.GATE_PATH + "?" + query("p", uid("p"), NODE, GateKind.MODEL))).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals("close", raw.headers().firstValue("Connection").orElse(""),
        "a retry through a Service must be free to reach another replica");

    leader.set(true);
    pods.ready = false;
    assertEquals(503, ask(server, "p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).code);
    pods.ready = true;
    assertEquals(200, ask(server, "p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).code);
  }

  @Test
  void podsOnANodeAreListedForTheNodeCachesCleanup() throws Exception {
    pods.put(serving("p1", NODE, IMAGE, true)).put(serving("p2", NODE, IMAGE, true))
        .put(serving("elsewhere", "node-2", IMAGE, true));
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + HelperContract.PODS_PATH + "?node=" + NODE)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    var json = JSON.readTree(r.body());
    assertEquals(List.of(uid("p1"), uid("p2")), JSON.convertValue(json.get("uids"), List.class));
    assertEquals(List.of(), JSON.convertValue(json.get("namespaces"), List.class), "all namespaces");

    // A view that may miss live pods must not answer: their directories would be deleted.
    pods.ready = false;
    assertEquals(503, HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + HelperContract.PODS_PATH + "?node=" + NODE)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    pods.ready = true;
    leader.set(false);
    assertEquals(503, HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + HelperContract.PODS_PATH + "?node=" + NODE)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    leader.set(true);
    assertEquals(400, HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + HelperContract.PODS_PATH)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  @Test
  void malformedRequestsAre400() throws Exception {
    Answer missing = get(server, "namespace=ml&pod=p&node=" + NODE + "&kind=model").get(5, TimeUnit.SECONDS);
    assertEquals(400, missing.code);
    assertTrue(missing.message.contains("uid"), missing.message);
    assertEquals(400, get(server, query("p", uid("p"), NODE, GateKind.MODEL).replace("kind=model", "kind=copy"))
        .get(5, TimeUnit.SECONDS).code);
    assertEquals(400, get(server, query("p", uid("p"), NODE, GateKind.MODEL) + "&wait=soon")
        .get(5, TimeUnit.SECONDS).code);
  }

  @Test
  void metricsCountDecisionsAndWaitTimes() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true))
        .put(serving("q", NODE, IMAGE, true));
    ask(server, "p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    ask(server, "q", GateKind.MODEL, "100ms").get(5, TimeUnit.SECONDS);
    get(server, query("nobody", "x", NODE, GateKind.PREPULL) + "&wait=100ms").get(5, TimeUnit.SECONDS);
    String scrape = registry.scrape();
    assertTrue(scrape.contains("warmstart_gate_wait_seconds_count{kind=\"model\",reason=\"ImageCached\"} 1"), scrape);
    assertTrue(scrape.contains("warmstart_gate_wait_seconds_bucket{kind=\"model\",reason=\"ImageCached\",le=\"1.0\"} 1"),
        scrape);
    assertTrue(scrape.contains(
        "warmstart_gate_decisions_total{decision=\"go\",kind=\"model\",reason=\"ImageCached\"} 1.0"), scrape);
    assertTrue(scrape.contains(
        "warmstart_gate_decisions_total{decision=\"wait\",kind=\"model\",reason=\"TransferRunning\"} 1.0"), scrape);
    assertTrue(scrape.contains(
        "warmstart_gate_decisions_total{decision=\"deny\",kind=\"prepull\",reason=\"UnknownPod\"} 1.0"), scrape);
    assertTrue(scrape.contains("warmstart_gate_waiters{kind=\"prepull\"} 0"), scrape);
  }

  // ---- helpers ------------------------------------------------------------------------------

  record Answer(int code, String decision, String reason, String message, long millis) {}

  static CompletableFuture<Answer> ask(GateServer server, String pod, GateKind kind, String wait) {
    return get(server, query(pod, uid(pod), NODE, kind) + "&wait=" + wait);
  }

  static String query(String pod, String uid, String node, GateKind kind) {
    return "namespace=" + TestPods.NAMESPACE + "&pod=" + pod + "&uid=" + uid + "&node=" + node + "&kind=" + kind.wireName();
  }

  static CompletableFuture<Answer> get(GateServer server, String query) {
    long start = System.nanoTime();
    HttpRequest request = HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + server.port() + HelperContract.GATE_PATH + "?" + query)).build();
    return HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
      try {
        JsonNode body = JSON.readTree(r.body());
        return new Answer(r.statusCode(), body.path("decision").asText(null), body.path("reason").asText(null),
            body.path("message").asText(""), (System.nanoTime() - start) / 1_000_000);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  /** Still held after a while: only a change or the end of the poll may answer it. */
  static void assertPending(CompletableFuture<Answer> answer) throws InterruptedException {
    Thread.sleep(300);
    assertFalse(answer.isDone(), () -> "answered too early: " + answer.join());
  }
}
