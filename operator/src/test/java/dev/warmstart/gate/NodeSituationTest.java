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

import dev.warmstart.kube.HelperContract;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NodeSituationTest {
  private static final String NODE = "node-1";
  private static final String IMAGE = "vllm/vllm-openai:v0.11.0";
  private static final String OTHER = "ghcr.io/acme/sidecar:1";
  private static final Instant NOW = Instant.parse("2025-01-01T12:00:00Z");
  private static final Duration EXPIRY = Duration.ofSeconds(60);

  @Test
  void runningCacheContainerMeansCached() {
    Pod c = withContainer(cacheInitDone(cache("c", NODE, IMAGE, OTHER)), "c0", running());
    NodeSituation s = observe(List.of(c));
    assertTrue(s.isCached(IMAGE));
    assertTrue(s.isCached("docker.io/vllm/vllm-openai:v0.11.0"), "same image, other spelling");
    assertFalse(s.isCached(OTHER), "no status yet");
    assertTrue(s.hasCacheFor(OTHER));
    assertFalse(s.hasCacheFor("vllm/vllm-openai:v0.10.0"));
  }

  @Test
  void downloadRunsWhileFetchModelRuns() {
    Pod p =
        withInit(
            withInit(serving("p", NODE, IMAGE, true), HelperContract.CONTAINER_GATE, terminated(0)),
            HelperContract.CONTAINER_FETCH_MODEL,
            running());
    assertEquals(List.of(GateKind.MODEL), kinds(observe(List.of(p))));
  }

  @ParameterizedTest(name = "gate {0}, fetch-model {1}, granted {2}s ago -> transfer {3}")
  @CsvSource({
    // gate,     fetch-model,         granted, transfer
    "running,    none,                -1,      false",
    "running,    none,                5,       true",
    "running,    none,                61,      false",
    "done,       none,                -1,      true",
    "done,       PodInitializing,     -1,      true",
    "done,       running,             -1,      true",
    "done,       done,                5,       false",
    "done,       CrashLoopBackOff,    5,       false",
    "done,       ImagePullBackOff,    -1,      false",
    "failed,     PodInitializing,     -1,      false",
  })
  void modelDownload(String gate, String fetch, int grantedSecondsAgo, boolean transfer) {
    Pod p = serving("p", NODE, IMAGE, true);
    p =
        withInit(
            p,
            HelperContract.CONTAINER_GATE,
            switch (gate) {
              case "running" -> running();
              case "done" -> terminated(0);
              default -> terminated(1);
            });
    if (!fetch.equals("none")) {
      p =
          withInit(
              p,
              HelperContract.CONTAINER_FETCH_MODEL,
              switch (fetch) {
                case "running" -> running();
                case "done" -> terminated(0);
                default -> waiting(fetch);
              });
    }
    Map<String, Instant> grants =
        grantedSecondsAgo < 0 ? Map.of() : Map.of(uid("p"), NOW.minusSeconds(grantedSecondsAgo));
    NodeSituation s = NodeSituation.observe(NODE, List.of(p), grants, Set.of(), NOW, EXPIRY);
    assertEquals(transfer, !s.transfers().isEmpty(), s.transfers().toString());
  }

  @ParameterizedTest(name = "gate {0}, images {1}, granted {2} -> transfer {3}")
  @CsvSource({
    // gate,     image states,                 granted, transfer
    "running,    none none,                    false,   false",
    "running,    none none,                    true,    true",
    "waiting,    none none,                    false,   false",
    "done,       none none,                    false,   true",
    "done,       running ContainerCreating,    false,   true",
    "done,       running PodInitializing,      false,   true",
    "done,       running running,              false,   false",
    "done,       running ErrImagePull,         false,   false",
    "done,       ImagePullBackOff running,     false,   false",
    "done,       ErrImagePull ContainerCreating, false, true",
  })
  void prePull(String gate, String images, boolean granted, boolean transfer) {
    Pod c =
        withInit(
            cache("c", NODE, IMAGE, OTHER), HelperContract.CONTAINER_INSTALL_PAUSE, terminated(0));
    c =
        withInit(
            c,
            HelperContract.CONTAINER_GATE,
            switch (gate) {
              case "running" -> running();
              case "done" -> terminated(0);
              default -> waiting("PodInitializing");
            });
    String[] states = images.split(" ");
    for (int i = 0; i < states.length; i++) {
      if (!states[i].equals("none")) {
        c = withContainer(c, "c" + i, states[i].equals("running") ? running() : waiting(states[i]));
      }
    }
    Map<String, Instant> grants = granted ? Map.of(uid("c"), NOW.minusSeconds(1)) : Map.of();
    NodeSituation s = NodeSituation.observe(NODE, List.of(c), grants, Set.of(), NOW, EXPIRY);
    assertEquals(transfer, !s.transfers().isEmpty(), s.transfers().toString());
    if (transfer) {
      assertEquals(GateKind.PREPULL, s.transfers().get(0).kind());
    }
  }

  @Test
  void waitingServingPodNeedsItsImageUntilCached() {
    Pod c = cache("c", NODE, IMAGE);
    Pod q = serving("q", NODE, IMAGE, true);
    NodeSituation s =
        NodeSituation.observe(NODE, List.of(c, q), Map.of(), Set.of(uid("q")), NOW, EXPIRY);
    assertEquals("ml/q", s.neededAmong(List.of(OTHER, IMAGE)).orElseThrow().getValue());

    assertTrue(
        NodeSituation.observe(NODE, List.of(c, q), Map.of(), Set.of(), NOW, EXPIRY)
            .needed()
            .isEmpty(),
        "not waiting");
    assertTrue(
        NodeSituation.observe(
                NODE, List.of(cacheRunning(c), q), Map.of(), Set.of(uid("q")), NOW, EXPIRY)
            .needed()
            .isEmpty(),
        "already cached");
    assertTrue(
        NodeSituation.observe(
                NODE,
                List.of(c, serving("q", NODE, IMAGE, false)),
                Map.of(),
                Set.of(uid("q")),
                NOW,
                EXPIRY)
            .needed()
            .isEmpty(),
        "image cache disabled");
  }

  @Test
  void aWarmPoolPlaceholderDownloadsAndWaitsLikeAServingPod() {
    Pod w =
        withInit(
            withInit(
                TestPods.placeholder("w", NODE, IMAGE),
                HelperContract.CONTAINER_GATE,
                terminated(0)),
            HelperContract.CONTAINER_FETCH_MODEL,
            running());
    assertEquals(
        List.of(GateKind.MODEL),
        kinds(observe(List.of(w))),
        "its download takes the node's transfer slot");

    Pod waitingPlaceholder = TestPods.placeholder("v", NODE, IMAGE);
    NodeSituation s =
        NodeSituation.observe(
            NODE,
            List.of(cache("c", NODE, IMAGE), waitingPlaceholder),
            Map.of(),
            Set.of(uid("v")),
            NOW,
            EXPIRY);
    assertEquals(
        "ml/v",
        s.neededAmong(List.of(IMAGE)).orElseThrow().getValue(),
        "its image may be pre-pulled for it");
    assertEquals(IMAGE, NodeSituation.serverImage(waitingPlaceholder));
  }

  @Test
  void finishedPodsDoNotCount() {
    Pod c =
        new PodBuilder(cacheInitDone(cache("c", NODE, IMAGE)))
            .editStatus()
            .withPhase("Failed")
            .endStatus()
            .build();
    NodeSituation s = observe(List.of(c));
    assertTrue(s.transfers().isEmpty());
    assertFalse(s.hasCacheFor(IMAGE));
  }

  @ParameterizedTest
  @CsvSource({
    "busybox,                               docker.io/library/busybox:latest",
    "library/busybox:1.36,                  docker.io/library/busybox:1.36",
    "docker.io/busybox,                     docker.io/library/busybox:latest",
    "index.docker.io/vllm/vllm-openai:v1,   docker.io/vllm/vllm-openai:v1",
    "localhost:5000/x/y,                    localhost:5000/x/y:latest",
    "registry.example.com:443/team/server:2, registry.example.com:443/team/server:2",
    "ghcr.io/a/b@sha256:abc,                ghcr.io/a/b@sha256:abc",
  })
  void canonicalImages(String image, String canonical) {
    assertEquals(canonical, NodeSituation.canonical(image));
  }

  private static NodeSituation observe(List<Pod> pods) {
    return NodeSituation.observe(NODE, pods, Map.of(), Set.of(), NOW, EXPIRY);
  }

  private static List<GateKind> kinds(NodeSituation s) {
    return s.transfers().stream().map(NodeSituation.Transfer::kind).toList();
  }
}
