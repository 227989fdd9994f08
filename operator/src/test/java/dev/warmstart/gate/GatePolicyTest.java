package dev.warmstart.gate;

import static dev.warmstart.gate.GatePolicy.CACHE_DISABLED;
import static dev.warmstart.gate.GatePolicy.IMAGE_CACHED;
import static dev.warmstart.gate.GatePolicy.IMAGE_NOT_CACHED;
import static dev.warmstart.gate.GatePolicy.IMAGE_PULLING;
import static dev.warmstart.gate.GatePolicy.NO_CACHE_ON_NODE;
import static dev.warmstart.gate.GatePolicy.Outcome.GO;
import static dev.warmstart.gate.GatePolicy.Outcome.WAIT;
import static dev.warmstart.gate.GatePolicy.SERVING_POD_NEEDS_IMAGE;
import static dev.warmstart.gate.GatePolicy.TRANSFER_RUNNING;
import static dev.warmstart.gate.GatePolicy.TRANSFER_SLOT_FREE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.warmstart.gate.GatePolicy.Decision;
import dev.warmstart.gate.GatePolicy.Outcome;
import dev.warmstart.gate.GatePolicy.Request;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class GatePolicyTest {
  private static final String VLLM = "vllm/vllm-openai:v0.11.0";
  private static final String TGI = "ghcr.io/huggingface/text-generation-inference:3.0";

  static Stream<Arguments> table() {
    return Stream.of(
        // Model downloads, image cache enabled.
        row(
            "cached image, node idle",
            1,
            model("p", VLLM, true),
            node().cached(VLLM),
            GO,
            IMAGE_CACHED),
        row(
            "cache on node, image not cached yet",
            1,
            model("p", VLLM, true),
            node().cache(VLLM),
            WAIT,
            IMAGE_NOT_CACHED),
        row(
            "image not cached wins over a running transfer",
            1,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("c", GateKind.PREPULL),
            WAIT,
            IMAGE_NOT_CACHED),
        // The ImageCache pod that holds the image ("ml/cache") is pulling it: the download goes
        // alongside.
        row(
            "own image being pre-pulled, node otherwise idle",
            1,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("cache", GateKind.PREPULL),
            GO,
            IMAGE_PULLING),
        row(
            "own image being pre-pulled, another download runs, max 1",
            1,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("cache", GateKind.PREPULL).transfer("q", GateKind.MODEL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "own image being pre-pulled, another pre-pull runs, max 1",
            1,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("cache", GateKind.PREPULL).transfer("d", GateKind.PREPULL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "own image being pre-pulled, another download runs, max 2",
            2,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("cache", GateKind.PREPULL).transfer("q", GateKind.MODEL),
            GO,
            IMAGE_PULLING),
        row(
            "own image being pre-pulled, spelled differently",
            1,
            model("p", "docker.io/vllm/vllm-openai:v0.11.0", true),
            node().cache(VLLM).transfer("cache", GateKind.PREPULL),
            GO,
            IMAGE_PULLING),
        row(
            "another image being pre-pulled, own not started",
            1,
            model("p", VLLM, true),
            node().cache(VLLM).transfer("d", GateKind.PREPULL),
            WAIT,
            IMAGE_NOT_CACHED),
        row(
            "cache holds another image only",
            1,
            model("p", VLLM, true),
            node().cached(TGI),
            GO,
            NO_CACHE_ON_NODE),
        row("no cache on node, node idle", 1, model("p", VLLM, true), node(), GO, NO_CACHE_ON_NODE),
        row(
            "no cache on node, a download runs",
            1,
            model("p", VLLM, true),
            node().transfer("q", GateKind.MODEL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "cached, a download runs, max 1",
            1,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("q", GateKind.MODEL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "cached, a pre-pull runs, max 1",
            1,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("c", GateKind.PREPULL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "cached, one transfer runs, max 2",
            2,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("q", GateKind.MODEL),
            GO,
            IMAGE_CACHED),
        row(
            "cached, two transfers run, max 2",
            2,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("q", GateKind.MODEL).transfer("c", GateKind.PREPULL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "requester's own download is not counted, max 1",
            1,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("p", GateKind.MODEL),
            GO,
            IMAGE_CACHED),
        row(
            "requester's own download is not counted, max 2",
            2,
            model("p", VLLM, true),
            node().cached(VLLM).transfer("p", GateKind.MODEL).transfer("q", GateKind.MODEL),
            GO,
            IMAGE_CACHED),
        row(
            "image spelled differently is still cached",
            1,
            model("p", "docker.io/vllm/vllm-openai:v0.11.0", true),
            node().cached(VLLM),
            GO,
            IMAGE_CACHED),
        row(
            "untagged image means latest",
            1,
            model("p", "busybox", true),
            node().cached("docker.io/library/busybox:latest"),
            GO,
            IMAGE_CACHED),
        // Model downloads, image cache disabled: the cache on the node does not matter.
        row(
            "cache disabled, node idle, image not cached",
            1,
            model("p", VLLM, false),
            node().cache(VLLM),
            GO,
            CACHE_DISABLED),
        row(
            "cache disabled, a download runs",
            1,
            model("p", VLLM, false),
            node().transfer("q", GateKind.MODEL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "cache disabled, a download runs, max 2",
            2,
            model("p", VLLM, false),
            node().transfer("q", GateKind.MODEL),
            GO,
            CACHE_DISABLED),
        row(
            "cache disabled, own download only",
            1,
            model("p", VLLM, false),
            node().transfer("p", GateKind.MODEL),
            GO,
            CACHE_DISABLED),
        // Pre-pulls.
        row(
            "pre-pull, node idle",
            1,
            prepull("c", VLLM),
            node().cache(VLLM),
            GO,
            TRANSFER_SLOT_FREE),
        row(
            "pre-pull behind a download",
            1,
            prepull("c", VLLM),
            node().cache(VLLM).transfer("p", GateKind.MODEL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "pre-pull behind another pre-pull",
            1,
            prepull("c", VLLM),
            node().transfer("d", GateKind.PREPULL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "pre-pull, one transfer runs, max 2",
            2,
            prepull("c", VLLM),
            node().transfer("p", GateKind.MODEL),
            GO,
            TRANSFER_SLOT_FREE),
        row(
            "pre-pull, two transfers run, max 2",
            2,
            prepull("c", VLLM),
            node().transfer("p", GateKind.MODEL).transfer("d", GateKind.PREPULL),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "pre-pull's own pull is not counted",
            1,
            prepull("c", VLLM),
            node().transfer("c", GateKind.PREPULL),
            GO,
            TRANSFER_SLOT_FREE),
        row(
            "a waiting serving pod needs the pre-pull's image",
            1,
            prepull("c", TGI, VLLM),
            node().cache(VLLM).transfer("p", GateKind.MODEL).needs(VLLM, "ml/q"),
            GO,
            SERVING_POD_NEEDS_IMAGE),
        row(
            "a waiting serving pod needs it even past max",
            1,
            prepull("c", VLLM),
            node()
                .transfer("p", GateKind.MODEL)
                .transfer("d", GateKind.PREPULL)
                .needs(VLLM, "ml/q"),
            GO,
            SERVING_POD_NEEDS_IMAGE),
        row(
            "a waiting serving pod needs another image",
            1,
            prepull("c", TGI),
            node().transfer("p", GateKind.MODEL).needs(VLLM, "ml/q"),
            WAIT,
            TRANSFER_RUNNING),
        row(
            "needed image spelled differently",
            1,
            prepull("c", "docker.io/vllm/vllm-openai:v0.11.0"),
            node().transfer("p", GateKind.MODEL).needs(VLLM, "ml/q"),
            GO,
            SERVING_POD_NEEDS_IMAGE));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("table")
  void decides(
      String name, int max, Request request, Situation situation, Outcome outcome, String reason) {
    Decision decision = new GatePolicy(max).decide(request, situation.build());
    assertEquals(outcome, decision.outcome(), decision.toString());
    assertEquals(reason, decision.reason(), decision.toString());
    assertTrue(
        decision.message().contains("node-1"), "the message names the node: " + decision.message());
  }

  @Test
  void waitingMessageNamesTheOtherTransfers() {
    Decision decision =
        new GatePolicy(1)
            .decide(
                model("p", VLLM, true), node().cached(VLLM).transfer("q", GateKind.MODEL).build());
    assertTrue(decision.message().contains("model download of ml/q"), decision.message());
  }

  /**
   * Through {@link NodeSituation#observe}, as the gate server sees it: the node's ImageCache pod
   * pulling the image.
   */
  @Test
  void downloadGoesAlongsideThePrePullOfItsImageSeenFromThePods() {
    Pod cache =
        TestPods.withContainer(
            TestPods.cacheInitDone(TestPods.cache("cache", "node-1", VLLM)),
            "c0",
            TestPods.waiting("ContainerCreating"));
    Pod serving = TestPods.serving("p", "node-1", VLLM, true);
    NodeSituation node =
        NodeSituation.observe(
            "node-1",
            List.of(cache, serving),
            Map.of(),
            Set.of(TestPods.uid("p")),
            Instant.parse("2025-01-01T12:00:00Z"),
            Duration.ofSeconds(60));
    Decision decision = new GatePolicy(1).decide(Request.of(GateKind.MODEL, serving), node);
    assertEquals(IMAGE_PULLING, decision.reason(), decision.toString());
    assertTrue(decision.isGo());
    assertTrue(decision.message().contains("ml/cache"), decision.message());

    // Before the ImageCache pod's gate has let its pull start, the download waits for the image.
    Pod notStarted = TestPods.cache("cache", "node-1", VLLM);
    NodeSituation before =
        NodeSituation.observe(
            "node-1",
            List.of(notStarted, serving),
            Map.of(),
            Set.of(TestPods.uid("p")),
            Instant.parse("2025-01-01T12:00:00Z"),
            Duration.ofSeconds(60));
    assertEquals(
        IMAGE_NOT_CACHED,
        new GatePolicy(1).decide(Request.of(GateKind.MODEL, serving), before).reason());
  }

  @Test
  void needsAtLeastOneTransferPerNode() {
    assertThrows(IllegalArgumentException.class, () -> new GatePolicy(0));
  }

  private static Arguments row(
      String name, int max, Request request, Situation situation, Outcome outcome, String reason) {
    return arguments(name, max, request, situation, outcome, reason);
  }

  private static Request model(String uid, String image, boolean cacheEnabled) {
    return new Request(GateKind.MODEL, uid, "ml/" + uid, cacheEnabled, List.of(image));
  }

  private static Request prepull(String uid, String... images) {
    return new Request(GateKind.PREPULL, uid, "ml/" + uid, true, List.of(images));
  }

  private static Situation node() {
    return new Situation();
  }

  /** A node's situation, written the way one describes it. */
  static final class Situation {
    private final Set<String> cached = new TreeSet<>();
    private final Map<String, String> caches = new LinkedHashMap<>();
    private final List<NodeSituation.Transfer> transfers = new ArrayList<>();
    private final Map<String, String> needed = new LinkedHashMap<>();
    private final List<String> said = new ArrayList<>();

    Situation cached(String image) {
      cached.add(NodeSituation.canonical(image));
      said.add("cached " + image);
      return cache(image);
    }

    Situation cache(String image) {
      caches.put(NodeSituation.canonical(image), "ml/cache");
      said.add("cache for " + image);
      return this;
    }

    Situation transfer(String uid, GateKind kind) {
      transfers.add(new NodeSituation.Transfer(uid, kind, "ml/" + uid, "running"));
      said.add(kind + " " + uid);
      return this;
    }

    Situation needs(String image, String pod) {
      needed.put(NodeSituation.canonical(image), pod);
      said.add(pod + " needs " + image);
      return this;
    }

    NodeSituation build() {
      return new NodeSituation("node-1", cached, caches, transfers, needed);
    }

    @Override
    public String toString() {
      return said.toString();
    }
  }
}
