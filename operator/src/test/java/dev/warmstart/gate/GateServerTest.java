package dev.warmstart.gate;

import static dev.warmstart.gate.TestPods.cache;
import static dev.warmstart.gate.TestPods.cacheRunning;
import static dev.warmstart.gate.TestPods.serving;
import static dev.warmstart.gate.TestPods.uid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.kube.HelperContract;
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

/**
 * The gate's HTTP face: parsing, status codes and bodies, the leader and sync guard, and a long
 * poll answered over a real socket. What the gate decides, and when, is {@link GateDeciderTest}'s.
 */
class GateServerTest {
  static final String NODE = GateDeciderTest.NODE;
  static final String IMAGE = GateDeciderTest.IMAGE;
  static final String LONG_POLL = "10s";
  static final GateSettings SETTINGS = GateDeciderTest.SETTINGS;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  final FakePods pods = new FakePods();
  final AtomicBoolean leader = new AtomicBoolean(true);
  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  GateServer server;

  @BeforeEach
  void start() throws IOException {
    server =
        new GateServer(
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
            pods,
            leader::get,
            registry,
            Clock.systemUTC(),
            SETTINGS);
    server.start();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void goIsAnswered200WithTheDecision() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    Answer a = ask("p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals(200, a.code);
    assertEquals("go", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason);
    assertEquals("0s", a.waited, a.toString());
  }

  @Test
  void heldRequestIsAnsweredWhenAPodChanges() throws Exception {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask("p", GateKind.MODEL, LONG_POLL);
    awaitHeld(1);
    assertFalse(p.isDone(), "held, not answered");
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    Answer a = p.get(5, TimeUnit.SECONDS);
    assertEquals(200, a.code);
    assertEquals("go", a.decision, a.toString());
  }

  @Test
  void pollEndIsAnswered200Wait() throws Exception {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    Answer a = ask("p", GateKind.MODEL, "100ms").get(5, TimeUnit.SECONDS);
    assertEquals(200, a.code);
    assertEquals("wait", a.decision, a.toString());
    assertEquals(GatePolicy.IMAGE_NOT_CACHED, a.reason);
    assertTrue(a.message.contains(IMAGE), a.message);
  }

  @Test
  void refusalIs403WithItsReason() throws Exception {
    Answer a =
        get(query("nobody", uid("nobody"), NODE, GateKind.MODEL) + "&wait=" + LONG_POLL)
            .get(5, TimeUnit.SECONDS);
    assertEquals(403, a.code, a.toString());
    assertEquals("UnknownPod", a.reason);
    assertEquals(null, a.decision, "a refusal is no decision");
  }

  @Test
  void onlyTheLeaderWithACompleteViewAnswers() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    leader.set(false);
    Answer notLeader = ask("p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS);
    assertEquals(503, notLeader.code);
    assertEquals("NotLeader", notLeader.reason);
    HttpResponse<String> raw =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://127.0.0.1:"
                            + server.port()
                            + HelperContract.GATE_PATH
                            + "?"
                            + query("p", uid("p"), NODE, GateKind.MODEL)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(
        "close",
        raw.headers().firstValue("Connection").orElse(""),
        "a retry through a Service must be free to reach another replica");

    leader.set(true);
    pods.ready = false;
    assertEquals(503, ask("p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).code);
    pods.ready = true;
    assertEquals(200, ask("p", GateKind.MODEL, LONG_POLL).get(5, TimeUnit.SECONDS).code);
  }

  @Test
  void podsOnANodeAreListedForTheNodeCachesCleanup() throws Exception {
    pods.put(serving("p1", NODE, IMAGE, true))
        .put(serving("p2", NODE, IMAGE, true))
        .put(serving("elsewhere", "node-2", IMAGE, true));
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://127.0.0.1:"
                            + server.port()
                            + HelperContract.PODS_PATH
                            + "?node="
                            + NODE))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    var json = JSON.readTree(r.body());
    assertEquals(List.of(uid("p1"), uid("p2")), JSON.convertValue(json.get("uids"), List.class));
    assertEquals(
        List.of(), JSON.convertValue(json.get("namespaces"), List.class), "all namespaces");

    // A view that may miss live pods must not answer: their directories would be deleted.
    pods.ready = false;
    assertEquals(
        503,
        HTTP.send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:"
                                + server.port()
                                + HelperContract.PODS_PATH
                                + "?node="
                                + NODE))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
    pods.ready = true;
    leader.set(false);
    assertEquals(
        503,
        HTTP.send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:"
                                + server.port()
                                + HelperContract.PODS_PATH
                                + "?node="
                                + NODE))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
    leader.set(true);
    assertEquals(
        400,
        HTTP.send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + HelperContract.PODS_PATH))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
  }

  @Test
  void malformedRequestsAre400() throws Exception {
    Answer missing =
        get("namespace=ml&pod=p&node=" + NODE + "&kind=model").get(5, TimeUnit.SECONDS);
    assertEquals(400, missing.code);
    assertTrue(missing.message.contains("uid"), missing.message);
    assertEquals(
        400,
        get(query("p", uid("p"), NODE, GateKind.MODEL).replace("kind=model", "kind=copy"))
            .get(5, TimeUnit.SECONDS)
            .code);
    assertEquals(
        400,
        get(query("p", uid("p"), NODE, GateKind.MODEL) + "&wait=soon")
            .get(5, TimeUnit.SECONDS)
            .code);
    HttpResponse<String> post =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://127.0.0.1:"
                            + server.port()
                            + HelperContract.GATE_PATH
                            + "?"
                            + query("p", uid("p"), NODE, GateKind.MODEL)))
                .POST(HttpRequest.BodyPublishers.noBody())
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(405, post.statusCode(), post.body());
  }

  // ---- helpers ------------------------------------------------------------------------------

  record Answer(int code, String decision, String reason, String message, String waited) {}

  CompletableFuture<Answer> ask(String pod, GateKind kind, String wait) {
    return get(query(pod, uid(pod), NODE, kind) + "&wait=" + wait);
  }

  static String query(String pod, String uid, String node, GateKind kind) {
    return "namespace="
        + TestPods.NAMESPACE
        + "&pod="
        + pod
        + "&uid="
        + uid
        + "&node="
        + node
        + "&kind="
        + kind.wireName();
  }

  CompletableFuture<Answer> get(String query) {
    HttpRequest request =
        HttpRequest.newBuilder(
                URI.create(
                    "http://127.0.0.1:" + server.port() + HelperContract.GATE_PATH + "?" + query))
            .build();
    return HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofString())
        .thenApply(
            r -> {
              try {
                JsonNode body = JSON.readTree(r.body());
                return new Answer(
                    r.statusCode(),
                    body.path("decision").asText(null),
                    body.path("reason").asText(null),
                    body.path("message").asText(""),
                    body.path("waited").asText(null));
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
  }

  /**
   * Until {@code n} model requests are held: the request reached the decider, whatever the
   * machine's speed.
   */
  void awaitHeld(int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (registry.get("warmstart.gate.waiters").tag("kind", "model").gauge().value() != n) {
      assertTrue(System.nanoTime() < deadline, "the request was never held");
      Thread.sleep(5);
    }
  }
}
