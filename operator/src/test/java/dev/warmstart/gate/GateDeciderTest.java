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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.gate.GateDecider.Answer;
import dev.warmstart.gate.GateDecider.Claim;
import dev.warmstart.gate.GateDecider.Verdict;
import dev.warmstart.kube.HelperContract;
import io.fabric8.kubernetes.api.model.Pod;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The gate's decisions over time against an in-memory pod source, on a clock and scheduler turned
 * by hand: the races of a node's pods, the grace and expiry timers, and the claim checks; no
 * sockets, no sleeps.
 */
class GateDeciderTest {
  static final String NODE = "node-1";
  static final String IMAGE = "vllm/vllm-openai:v0.11.0";
  static final String OTHER = "ghcr.io/acme/other-server:1";

  /** Long enough that an answer before it can only come from a pod change. */
  static final Duration LONG_POLL = Duration.ofSeconds(10);

  /** As long as a test looks for an early answer before it changes a pod. */
  static final Duration A_WHILE = Duration.ofMillis(300);

  static final GateSettings SETTINGS =
      GateSettings.DEFAULTS
          .withLongPoll(Duration.ofSeconds(20))
          .withVerifyGrace(Duration.ofMillis(200));

  final FakePods pods = new FakePods();
  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  ManualScheduler scheduler;
  GateMetrics metrics;
  GateDecider decider;

  @BeforeEach
  void start() {
    start(SETTINGS);
  }

  @AfterEach
  void stop() {
    decider.close();
    metrics.close();
  }

  void start(GateSettings settings) {
    scheduler = new ManualScheduler();
    metrics = new GateMetrics(registry);
    decider = new GateDecider(pods, settings, scheduler.clock(), scheduler, metrics);
    decider.start();
  }

  void restart(GateSettings settings) {
    stop();
    start(settings);
  }

  @Test
  void cachedImageOnIdleNodeGoesAtOnce() {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    Answer a = answered(ask("p", GateKind.MODEL, LONG_POLL));
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason());
    assertEquals(Duration.ZERO, a.waited(), "answered without any time passing");
  }

  @Test
  void aWarmPoolPlaceholderMayAskForItsModelDownload() {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(TestPods.placeholder("w", NODE, IMAGE));
    Answer a = answered(ask("w", GateKind.MODEL, LONG_POLL));
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason());
  }

  @Test
  void imageFinishingReleasesWaitingDownloadAtOnce() {
    Pod c = cache("c", NODE, IMAGE); // its pull has not started (its own gate has not opened)
    pods.put(c).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask("p", GateKind.MODEL, LONG_POLL);
    assertPendingAfterAWhile(p);
    assertEquals(1.0, registry.get("warmstart.gate.waiters").tag("kind", "model").gauge().value());

    pods.put(cacheRunning(c));
    Answer a = answered(p);
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, a.reason());
    assertEquals(A_WHILE, a.waited(), "released by the pod change, not by the end of the poll");
    assertEquals(0.0, registry.get("warmstart.gate.waiters").tag("kind", "model").gauge().value());
  }

  @Test
  void prePullOfTheImageStartingReleasesWaitingDownloadAtOnce() {
    Pod c = cache("c", NODE, IMAGE);
    pods.put(c).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask("p", GateKind.MODEL, LONG_POLL);
    assertPendingAfterAWhile(p);

    pods.put(withContainer(cacheInitDone(c), "c0", waiting("ContainerCreating")));
    Answer a = answered(p);
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertEquals(GatePolicy.IMAGE_PULLING, a.reason());
    assertEquals(A_WHILE, a.waited(), "released by the pod change, not by the end of the poll");
  }

  @Test
  void pollEndsWithWaitAndItsReason() {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> p = ask("p", GateKind.MODEL, Duration.ofMillis(300));
    scheduler.advanceMillis(299);
    assertPending(p);
    scheduler.advanceMillis(1);
    Answer a = answered(p);
    assertEquals(Verdict.WAIT, a.verdict(), a.toString());
    assertEquals(GatePolicy.IMAGE_NOT_CACHED, a.reason());
    assertTrue(a.message().contains(IMAGE), a.message());
    assertEquals(Duration.ofMillis(300), a.waited());
  }

  @Test
  void secondEndpointOnNodeWaitsUntilFirstDownloadEnds() {
    Pod p1 = serving("p1", NODE, IMAGE, true);
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(p1).put(serving("p2", NODE, IMAGE, true));
    assertEquals(Verdict.GO, answered(ask("p1", GateKind.MODEL, LONG_POLL)).verdict());

    CompletableFuture<Answer> p2 = ask("p2", GateKind.MODEL, LONG_POLL);
    assertPendingAfterAWhile(p2);
    pods.put(
        withInit(
            withInit(p1, HelperContract.CONTAINER_GATE, terminated(0)),
            HelperContract.CONTAINER_FETCH_MODEL,
            running()));
    assertPendingAfterAWhile(p2);
    CompletableFuture<Answer> meanwhile = ask("p2", GateKind.MODEL, Duration.ofMillis(200));
    assertEquals(
        Verdict.WAIT,
        answered(p2).verdict(),
        "the pod asked again: its earlier request is answered");
    scheduler.advanceMillis(200);
    Answer m = answered(meanwhile);
    assertEquals(GatePolicy.TRANSFER_RUNNING, m.reason(), m.toString());
    assertTrue(m.message().contains("ml/p1"), m.message());

    CompletableFuture<Answer> again = ask("p2", GateKind.MODEL, LONG_POLL);
    assertPendingAfterAWhile(again);
    pods.put(
        withInit(
            withInit(p1, HelperContract.CONTAINER_GATE, terminated(0)),
            HelperContract.CONTAINER_FETCH_MODEL,
            terminated(0)));
    Answer a = answered(again);
    assertEquals(Verdict.GO, a.verdict(), a.toString());
  }

  @Test
  void onlyOneOfSimultaneousDownloadsGoes() {
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    for (int i = 0; i < 8; i++) {
      pods.put(serving("p" + i, NODE, IMAGE, true));
    }
    List<CompletableFuture<Answer>> answers =
        IntStream.range(0, 8)
            .mapToObj(i -> ask("p" + i, GateKind.MODEL, Duration.ofMillis(500)))
            .toList();
    scheduler.advanceMillis(500);
    List<Verdict> verdicts = answers.stream().map(f -> answered(f).verdict()).toList();
    assertEquals(1, verdicts.stream().filter(Verdict.GO::equals).count(), verdicts.toString());
    assertEquals(Verdict.GO, verdicts.get(0), "first come, first served");
  }

  @Test
  void twoSlotsLetTwoDownloadsGo() {
    restart(SETTINGS.withMaxPerNode(2));
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    for (int i = 0; i < 3; i++) {
      pods.put(serving("p" + i, NODE, IMAGE, true));
    }
    List<CompletableFuture<Answer>> answers =
        IntStream.range(0, 3)
            .mapToObj(i -> ask("p" + i, GateKind.MODEL, Duration.ofMillis(500)))
            .toList();
    scheduler.advanceMillis(500);
    List<Verdict> verdicts = answers.stream().map(f -> answered(f).verdict()).toList();
    assertEquals(2, verdicts.stream().filter(Verdict.GO::equals).count(), verdicts.toString());
  }

  @Test
  void prePullWaitsBehindDownloadUnlessWaitingServingPodNeedsItsImage() {
    Pod p1 =
        withInit(
            withInit(
                serving("p1", NODE, OTHER, false), HelperContract.CONTAINER_GATE, terminated(0)),
            HelperContract.CONTAINER_FETCH_MODEL,
            running());
    Pod c =
        withInit(
            withInit(
                cache("c", NODE, IMAGE), HelperContract.CONTAINER_INSTALL_PAUSE, terminated(0)),
            HelperContract.CONTAINER_GATE,
            running());
    pods.put(p1).put(c);
    CompletableFuture<Answer> prePull = ask("c", GateKind.PREPULL, LONG_POLL);
    assertPendingAfterAWhile(prePull);

    pods.put(serving("p2", NODE, IMAGE, true));
    CompletableFuture<Answer> p2 = ask("p2", GateKind.MODEL, LONG_POLL);
    Answer a = answered(prePull);
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertEquals(GatePolicy.SERVING_POD_NEEDS_IMAGE, a.reason());
    assertTrue(a.message().contains("ml/p2"), a.message());

    // The image arrives, but p1's download still runs: p2 waits for that, then goes.
    pods.put(cacheRunning(c));
    assertPendingAfterAWhile(p2);
    pods.put(withInit(p1, HelperContract.CONTAINER_FETCH_MODEL, terminated(0)));
    Answer go = answered(p2);
    assertEquals(Verdict.GO, go.verdict(), go.toString());
    assertEquals(GatePolicy.IMAGE_CACHED, go.reason());
  }

  @Test
  void grantNeverSeenStartingLapses() {
    restart(SETTINGS.withGrantExpiry(Duration.ofMillis(500)));
    pods.put(cacheRunning(cache("c", NODE, IMAGE)))
        .put(serving("p1", NODE, IMAGE, true))
        .put(serving("p2", NODE, IMAGE, true));
    assertEquals(Verdict.GO, answered(ask("p1", GateKind.MODEL, LONG_POLL)).verdict());
    CompletableFuture<Answer> p2 = ask("p2", GateKind.MODEL, LONG_POLL);
    scheduler.advanceMillis(499);
    assertPending(p2);
    scheduler.advanceMillis(100);
    Answer a = answered(p2);
    assertEquals(Verdict.GO, a.verdict(), a.toString());
    assertTrue(a.waited().toMillis() >= 400 && a.waited().toMillis() < 3000, a.toString());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "unknown pod, UnknownPod",
    "wrong uid,   UidMismatch",
    "wrong node,  WrongNode",
    "wrong kind,  WrongKind",
  })
  void claimsThatDoNotHoldAreRefused(String claim, String reason) {
    pods.put(serving("p", NODE, IMAGE, true)).put(cacheRunning(cache("c", NODE, IMAGE)));
    Claim c =
        switch (claim) {
          case "unknown pod" -> claim("nobody", uid("nobody"), NODE, GateKind.MODEL);
          case "wrong uid" -> claim("p", uid("someone-else"), NODE, GateKind.MODEL);
          case "wrong node" -> claim("p", uid("p"), "node-2", GateKind.MODEL);
          default -> claim("c", uid("c"), NODE, GateKind.MODEL);
        };
    CompletableFuture<Answer> f = decider.ask(c, LONG_POLL);
    scheduler.advance(SETTINGS.verifyGrace().minusMillis(1));
    assertPending(f);
    scheduler.advanceMillis(1);
    Answer a = answered(f);
    assertEquals(
        Verdict.REFUSED, a.verdict(), "refused after the grace, not at the end of the poll: " + a);
    assertEquals(reason, a.reason());
  }

  @Test
  void shortPollStillGetsTheWholeGraceBeforeARefusal() {
    CompletableFuture<Answer> f = ask("nobody", GateKind.MODEL, Duration.ofMillis(50));
    scheduler.advanceMillis(50);
    assertPending(f);
    scheduler.advance(SETTINGS.verifyGrace());
    assertEquals(Verdict.REFUSED, answered(f).verdict());
  }

  @Test
  void podSeenLateIsNotRefused() {
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    CompletableFuture<Answer> p = ask("p", GateKind.MODEL, LONG_POLL);
    scheduler.advanceMillis(50);
    pods.put(serving("p", NODE, IMAGE, true));
    assertEquals(Verdict.GO, answered(p).verdict());
  }

  @Test
  void aPodThatStoppedAskingLongAgoStartsOver() {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> first = ask("p", GateKind.MODEL, A_WHILE);
    scheduler.advance(A_WHILE);
    assertEquals(A_WHILE, answered(first).waited());
    scheduler.advance(Duration.ofMinutes(30));
    CompletableFuture<Answer> soon = ask("p", GateKind.MODEL, A_WHILE);
    scheduler.advance(A_WHILE);
    assertEquals(
        A_WHILE.multipliedBy(2).plusMinutes(30),
        answered(soon).waited(),
        "its wait counts from its first request");

    scheduler.advance(GateDecider.FORGET.plus(GateDecider.SWEEP));
    CompletableFuture<Answer> late = ask("p", GateKind.MODEL, A_WHILE);
    scheduler.advance(A_WHILE);
    assertEquals(A_WHILE, answered(late).waited(), "the sweep forgot it");
  }

  @Test
  void aClosedDeciderTakesNoRequestAndIgnoresPodChanges() {
    pods.put(cache("c", NODE, IMAGE)).put(serving("p", NODE, IMAGE, true));
    CompletableFuture<Answer> held = ask("p", GateKind.MODEL, LONG_POLL);
    decider.close();
    assertThrows(
        RejectedExecutionException.class,
        () -> ask("p", GateKind.MODEL, LONG_POLL),
        "the HTTP face answers 503 ShuttingDown");
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    scheduler.advance(LONG_POLL);
    assertPending(held);
  }

  @Test
  void metricsCountDecisionsAndWaitTimes() {
    pods.put(cacheRunning(cache("c", NODE, IMAGE)))
        .put(serving("p", NODE, IMAGE, true))
        .put(serving("q", NODE, IMAGE, true));
    answered(ask("p", GateKind.MODEL, LONG_POLL));
    CompletableFuture<Answer> q = ask("q", GateKind.MODEL, Duration.ofMillis(100));
    scheduler.advanceMillis(100);
    answered(q);
    CompletableFuture<Answer> nobody =
        decider.ask(claim("nobody", "x", NODE, GateKind.PREPULL), Duration.ofMillis(100));
    scheduler.advance(SETTINGS.verifyGrace());
    answered(nobody);
    String scrape = registry.scrape();
    assertTrue(
        scrape.contains(
            "warmstart_gate_wait_seconds_count{kind=\"model\",reason=\"ImageCached\"} 1"),
        scrape);
    assertTrue(
        scrape.contains(
            "warmstart_gate_wait_seconds_bucket{kind=\"model\",reason=\"ImageCached\",le=\"1.0\"} 1"),
        scrape);
    assertTrue(
        scrape.contains(
            "warmstart_gate_decisions_total{decision=\"go\",kind=\"model\",reason=\"ImageCached\"} 1.0"),
        scrape);
    assertTrue(
        scrape.contains(
            "warmstart_gate_decisions_total{decision=\"wait\",kind=\"model\",reason=\"TransferRunning\"} 1.0"),
        scrape);
    assertTrue(
        scrape.contains(
            "warmstart_gate_decisions_total{decision=\"deny\",kind=\"prepull\",reason=\"UnknownPod\"} 1.0"),
        scrape);
    assertTrue(scrape.contains("warmstart_gate_waiters{kind=\"prepull\"} 0"), scrape);
  }

  // ---- helpers ------------------------------------------------------------------------------

  static Claim claim(String pod, String uid, String node, GateKind kind) {
    return new Claim(kind, TestPods.NAMESPACE, pod, uid, node);
  }

  CompletableFuture<Answer> ask(String pod, GateKind kind, Duration wait) {
    return decider.ask(claim(pod, uid(pod), NODE, kind), wait);
  }

  static Answer answered(CompletableFuture<Answer> answer) {
    assertTrue(answer.isDone(), "not answered yet");
    return answer.join();
  }

  static void assertPending(CompletableFuture<Answer> answer) {
    assertFalse(answer.isDone(), () -> "answered too early: " + answer.join());
  }

  /** Still held after a while: only a change or the end of the poll may answer it. */
  void assertPendingAfterAWhile(CompletableFuture<Answer> answer) {
    scheduler.advance(A_WHILE);
    assertPending(answer);
  }
}
