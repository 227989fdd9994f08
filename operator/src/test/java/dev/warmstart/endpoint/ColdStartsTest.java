package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.NODE;
import static dev.warmstart.endpoint.ServingPods.T0;
import static dev.warmstart.endpoint.ServingPods.qwen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.endpoint.ColdStarts.Measured;
import dev.warmstart.endpoint.ColdStarts.Phase;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Where each replica's cold start went, from its pod as the kubelet reports it. */
class ColdStartsTest {
  static final InferenceEndpoint QWEN = qwen();

  static ServingPods.Life life(String name) {
    return new ServingPods.Life(name);
  }

  static Pod pod(ServingPods.Life life) {
    return life.pod(QWEN);
  }

  static Measured measured(Pod pod) {
    return ColdStarts.measure(pod)
        .orElseThrow(
            () -> new AssertionError("no cold start measured for " + pod.getMetadata().getName()));
  }

  static Map<Phase, Double> phases(
      double total,
      double scheduling,
      double gateWait,
      double modelDownload,
      double imagePull,
      double serverStart) {
    Map<Phase, Double> m = new EnumMap<>(Phase.class);
    m.put(Phase.TOTAL, total);
    m.put(Phase.SCHEDULING, scheduling);
    m.put(Phase.GATE_WAIT, gateWait);
    m.put(Phase.MODEL_DOWNLOAD, modelDownload);
    m.put(Phase.IMAGE_PULL, imagePull);
    m.put(Phase.SERVER_START, serverStart);
    return m;
  }

  /**
   * A recorded cold start: ready at T0 + {@code readyAt} seconds, each phase {@code seconds} long
   * times a factor.
   */
  static Measured coldStart(String pod, long readyAt, double seconds) {
    return new Measured(
        pod,
        NODE,
        null,
        T0.plusSeconds(readyAt),
        phases(seconds, seconds / 10, seconds / 5, seconds / 2, seconds / 4, seconds / 8));
  }

  static List<String> names(List<Measured> measured) {
    return measured.stream().map(Measured::pod).toList();
  }

  // ---------------------------------------------------------------- measure

  @Test
  void phasesOfAColdStart() {
    // Created at T0, bound at +2s, gate +15..+45s, fetch-model +46..+125s (says 77.0 s of
    // download), server
    // started at +205s (the serving image was pulled in between), ready at +265s.
    Measured m = measured(pod(life("qwen3-8b-7d9f8c6b5-x2x4q")));
    assertEquals(phases(265, 2, 30, 77, 80, 60), m.seconds());
    assertEquals("qwen3-8b-7d9f8c6b5-x2x4q", m.pod());
    assertEquals(NODE, m.node());
    assertEquals(T0.plusSeconds(265), m.readyAt());

    Phases p = m.toPhases();
    assertEquals("4m25s", p.getTotal());
    assertEquals("2s", p.getScheduling());
    assertEquals("30s", p.getGateWait());
    assertEquals("1m17s", p.getModelDownload());
    assertEquals("1m20s", p.getImagePull());
    assertEquals("1m", p.getServerStart());
    assertEquals("2025-06-01T10:04:25Z", p.getReadyAt());
    assertEquals("qwen3-8b-7d9f8c6b5-x2x4q", p.getPod());
    assertEquals(NODE, p.getNode());
    String summary = m.summary();
    assertTrue(
        summary.contains("qwen3-8b-7d9f8c6b5-x2x4q")
            && summary.contains(NODE)
            && summary.contains("4m25s")
            && summary.contains("1m17s"),
        summary);
  }

  @Test
  void fractionalDownloadSecondsFromTheMessage() {
    Measured m =
        measured(pod(life("p").fetchMessage("{\"bytes\":1,\"seconds\":12.345,\"files\":1}")));
    assertEquals(12.345, m.seconds().get(Phase.MODEL_DOWNLOAD), 1e-9);
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(
      strings = {
        "",
        "   ",
        "killed",
        "{\"bytes\":16389425152,\"seco",
        "{\"bytes\":16389425152,\"files\":7}",
        "{\"bytes\":1,\"seconds\":null}",
        "{\"error\":\"unexpected end of stream\"}",
        "[77.0]",
        "77.0"
      })
  void malformedOrAbsentMessageFallsBackToRunTime(String message) {
    // fetch-model ran from +46s to +125s.
    Measured m = measured(pod(life("p").fetchMessage(message)));
    assertEquals(79.0, m.seconds().get(Phase.MODEL_DOWNLOAD), () -> "message " + message);
    assertEquals(80.0, m.seconds().get(Phase.IMAGE_PULL), "unaffected");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{\"seconds\":-5}", "{\"seconds\":\"fast\"}", "{\"seconds\":1e400}"})
  void implausibleSecondsFallBackToRunTime(String message) {
    // A negative count is formatted as "-5s", which Durations cannot parse back: the median,
    // computed in the
    // same reconcile, would then throw on every reconcile of the endpoint. Text and overflow are no
    // better.
    Measured m = measured(pod(life("p").fetchMessage(message)));
    assertEquals(79.0, m.seconds().get(Phase.MODEL_DOWNLOAD), () -> "message " + message);
    ColdStart recorded = ColdStarts.record(null, List.of(m));
    assertEquals("1m19s", recorded.getMedian().getModelDownload());
  }

  @Test
  void notYetReadyIsNotMeasured() {
    assertEquals(Optional.empty(), ColdStarts.measure(pod(life("p").ready(null))));
  }

  @Test
  void podsStillStartingAreNotMeasured() {
    Pod pending =
        ServingPods.podOf(QWEN, "p", null, 0)
            .withNewStatus()
            .withPhase("Pending")
            .addToConditions(
                ServingPods.condition(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                    0))
            .endStatus()
            .build();
    assertEquals(Optional.empty(), ColdStarts.measure(pending));
    Pod noStatus = ServingPods.podOf(QWEN, "p", null, 0).build();
    assertEquals(Optional.empty(), ColdStarts.measure(noStatus));
    Pod initializing =
        new PodBuilder(pod(life("p")))
            .editStatus()
            .withPhase("Pending")
            .withConditions(
                ServingPods.condition("PodScheduled", "True", 2),
                ServingPods.condition(
                    "Ready",
                    "False",
                    "ContainersNotReady",
                    "containers with unready status: [server]",
                    0))
            .withContainerStatuses(
                ServingPods.waiting("server", ServingPods.VLLM, "PodInitializing", null))
            .endStatus()
            .build();
    assertEquals(Optional.empty(), ColdStarts.measure(initializing));
  }

  @Test
  void withoutGateAndDownloadThoseTakeNoTime() {
    // No gate URL and no spec.model: the pull of the serving image starts as soon as the pod is
    // bound.
    Measured m = measured(pod(life("p").withoutInit()));
    assertEquals(phases(265, 2, 0, 0, 203, 60), m.seconds());
    assertEquals("0s", m.toPhases().getGateWait());
    assertEquals("0s", m.toPhases().getModelDownload());
  }

  @Test
  void withoutDownloadTheImagePullStartsAfterTheGate() {
    ServingPods.Life life = life("p");
    life.fetch = false;
    Measured m = measured(pod(life));
    assertEquals(0.0, m.seconds().get(Phase.MODEL_DOWNLOAD));
    assertEquals(30.0, m.seconds().get(Phase.GATE_WAIT));
    assertEquals(
        160.0,
        m.seconds().get(Phase.IMAGE_PULL),
        "from the gate's end (+45s) to the server's start (+205s)");
  }

  @Test
  void measureSurvivesTheApiServersJson() {
    Pod pod = pod(life("p"));
    Pod readBack = Serialization.unmarshal(Serialization.asJson(pod), Pod.class);
    assertEquals(measured(pod), measured(readBack));
  }

  // ---------------------------------------------------------------- newSince

  @Test
  void firstRoundReturnsEveryReadyPodOldestFirst() {
    List<Pod> pods =
        List.of(
            pod(life("c").shifted(300)),
            pod(life("a").shifted(100)),
            pod(life("starting").shifted(400).ready(null)),
            pod(life("b").shifted(200)));
    assertEquals(List.of("a", "b", "c"), names(ColdStarts.newSince(null, pods)));
    assertEquals(List.of("a", "b", "c"), names(ColdStarts.newSince(new ColdStart(), pods)));
  }

  @Test
  void alreadyRecordedPodsAreSkipped() {
    List<Pod> pods =
        new ArrayList<>(List.of(pod(life("a").shifted(100)), pod(life("b").shifted(200))));
    ColdStart recorded = ColdStarts.record(null, ColdStarts.newSince(null, pods));
    assertEquals(List.of(), ColdStarts.newSince(recorded, pods), "nothing new");

    pods.add(pod(life("c").shifted(300)));
    pods.add(pod(life("d").shifted(250)));
    assertEquals(List.of("d", "c"), names(ColdStarts.newSince(recorded, pods)));
  }

  @Test
  void anotherPodReadyAtTheSameInstantIsNew() {
    // Ready conditions have second precision: two replicas can become ready in the same second.
    List<Pod> pods = new ArrayList<>(List.of(pod(life("a").shifted(100))));
    ColdStart recorded = ColdStarts.record(null, ColdStarts.newSince(null, pods));
    pods.add(pod(life("b").shifted(100)));
    assertEquals(List.of("b"), names(ColdStarts.newSince(recorded, pods)));
  }

  @Test
  void restartedOperatorDoesNotCountOldPodsAgain() {
    // What a restarted operator finds: the status it wrote before, ten recent cold starts of 25,
    // and pods
    // that include replicas older than anything in recent.
    List<Measured> history = new ArrayList<>();
    for (int i = 0; i < 25; i++) {
      history.add(measured(pod(life("old-" + i).shifted(1000L * i))));
    }
    ColdStart before = ColdStarts.record(null, history);
    assertEquals(10, before.getRecent().size());
    assertEquals(25, before.getCount());
    ColdStart stored = Serialization.unmarshal(Serialization.asJson(before), ColdStart.class);

    List<Pod> pods = new ArrayList<>();
    for (int i = 0; i < 25; i += 3) { // some in recent, most of them not any more
      pods.add(pod(life("old-" + i).shifted(1000L * i)));
    }
    pods.add(pod(life("new").shifted(30_000)));
    List<Measured> fresh = ColdStarts.newSince(stored, pods);
    assertEquals(List.of("new"), names(fresh));
    ColdStart after = ColdStarts.record(stored, fresh);
    assertEquals(26, after.getCount());
    assertEquals("new", after.getLast().getPod());
    assertEquals(10, after.getRecent().size());
  }

  @Test
  void readinessFlapOfARecordedPodIsNotAColdStart() {
    // The server's readiness check failed under load and passed again: the Ready condition's
    // lastTransitionTime moves, but the replica started only once.
    ServingPods.Life a = life("a");
    ColdStart recorded = ColdStarts.record(null, ColdStarts.newSince(null, List.of(pod(a))));
    Pod flapped = pod(life("a").ready(a.ready + 3600));
    assertEquals(List.of(), ColdStarts.newSince(recorded, List.of(flapped)));
  }

  // ---------------------------------------------------------------- record

  @Test
  void recordKeepsTheTenNewestNewestFirst() {
    List<Measured> first = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      first.add(coldStart("p" + i, 100L * i, 60));
    }
    ColdStart a = ColdStarts.record(null, first);
    assertEquals(9, a.getCount());
    assertEquals(
        List.of("p8", "p7", "p6", "p5", "p4", "p3", "p2", "p1", "p0"),
        a.getRecent().stream().map(Phases::getPod).toList());
    assertEquals(a.getRecent().get(0), a.getLast());

    ColdStart b =
        ColdStarts.record(
            a,
            List.of(
                coldStart("p9", 900, 60), coldStart("p10", 1000, 60), coldStart("p11", 1100, 60)));
    assertEquals(12, b.getCount());
    assertEquals(ColdStart.RECENT, b.getRecent().size());
    assertEquals(
        List.of("p11", "p10", "p9", "p8", "p7", "p6", "p5", "p4", "p3", "p2"),
        b.getRecent().stream().map(Phases::getPod).toList());
    assertEquals("p11", b.getLast().getPod());
    assertEquals(9, a.getCount(), "the previous status is not changed");
    assertEquals(9, a.getRecent().size(), "the previous status is not changed");
  }

  @Test
  void recordingNothingKeepsThePreviousStatus() {
    ColdStart a = ColdStarts.record(null, List.of(coldStart("p0", 0, 60)));
    assertSame(a, ColdStarts.record(a, List.of()), "no new cold start, no status change");
    assertEquals(null, ColdStarts.record(null, List.of()));
  }

  @Test
  void mediansOverAnOddCount() {
    ColdStart c =
        ColdStarts.record(
            null,
            List.of(coldStart("a", 100, 300), coldStart("b", 200, 60), coldStart("c", 300, 120)));
    Phases median = c.getMedian();
    assertEquals("2m", median.getTotal());
    assertEquals("12s", median.getScheduling());
    assertEquals("24s", median.getGateWait());
    assertEquals("1m", median.getModelDownload());
    assertEquals("30s", median.getImagePull());
    assertEquals("15s", median.getServerStart());
    assertEquals(3, c.getCount());
  }

  @Test
  void mediansOverAnEvenCountAverageTheMiddleTwo() {
    ColdStart c =
        ColdStarts.record(
            null,
            List.of(
                coldStart("a", 100, 300),
                coldStart("b", 200, 60),
                coldStart("c", 300, 180),
                coldStart("d", 400, 120)));
    Phases median = c.getMedian();
    assertEquals("2m30s", median.getTotal(), "(120 + 180) / 2");
    assertEquals("15s", median.getScheduling());
    assertEquals("30s", median.getGateWait());
    assertEquals("1m15s", median.getModelDownload());
    assertEquals("38s", median.getImagePull(), "(30 + 45) / 2 = 37.5, rounded");
    assertEquals("19s", median.getServerStart(), "of the recorded whole seconds: (15 + 23) / 2");
  }

  @Test
  void medianIsOverTheRecentOnly() {
    List<Measured> slow = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      slow.add(coldStart("slow-" + i, 100L * i, 1800));
    }
    List<Measured> fast = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      fast.add(coldStart("fast-" + i, 10_000 + 100L * i, 20));
    }
    ColdStart c = ColdStarts.record(ColdStarts.record(null, slow), fast);
    assertEquals("20s", c.getMedian().getTotal(), "the slow starts dropped out of recent");
    assertEquals(20, c.getCount());
  }

  @Test
  void recordedStatusSurvivesTheApiServer() {
    ColdStart c =
        ColdStarts.record(
            null,
            ColdStarts.newSince(
                null, List.of(pod(life("a").shifted(100)), pod(life("b").shifted(200)))));
    ColdStart readBack = Serialization.unmarshal(Serialization.asYaml(c), ColdStart.class);
    assertEquals(c, readBack);
    assertEquals(c.hashCode(), readBack.hashCode());
    assertEquals(T0.plusSeconds(465), Instant.parse(c.getLast().getReadyAt()));
  }
}
