import dev.warmstart.gate.GateKind;
import dev.warmstart.gate.GatePolicy;
import dev.warmstart.gate.NodeSituation;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The transfer gate of bench/coldstart.sh: the operator's real {@link GatePolicy}, fed with the one
 * node's situation as the benchmark's events arrive, the way the gate server feeds it from the pods
 * it watches. The node holds two pods shaped like the operator's: the ImageCache pod that pre-pulls
 * the serving image (init containers install-pause and gate, one container per image) and the
 * serving pod (init containers gate and fetch-model, container server). Their container states
 * follow the events, and {@link NodeSituation#observe} reads the situation from them, so the
 * decision goes through the same code as in the cluster.
 *
 * <p>Reads one command per line on stdin and answers one line on stdout:
 * <pre>
 *   reset IMAGE        a fresh node: both pods created, nothing started   -> ok
 *   ask prepull        the ImageCache pod's gate asks                      -> GO|WAIT Reason message
 *   prepull-done       the pre-pull finished: the image container runs   -> ok
 *   image-cached       the image was on the node already (warm node)      -> ok
 *   ask model          the serving pod's gate asks                         -> GO|WAIT Reason message
 *   model-done         fetch-model finished                                -> ok
 * </pre>
 * Run as {@code java -cp warmstart.jar:CLASSES ColdStartGate [MAX_PER_NODE]} (compiled by the script).
 */
public final class ColdStartGate {
  static final String NODE = "coldstart-node";
  static final String NAMESPACE = "bench";
  static final String OPERATOR_IMAGE = "warmstart/warmstart:bench";
  static final Duration GRANT_EXPIRY = Duration.ofSeconds(30);

  private final GatePolicy policy;
  private Pod cache;
  private Pod serving;
  private final Map<String, Instant> grants = new HashMap<>();
  private final Set<String> waiting = new HashSet<>();

  ColdStartGate(int maxPerNode) {
    policy = new GatePolicy(maxPerNode);
  }

  public static void main(String[] args) throws Exception {
    ColdStartGate gate = new ColdStartGate(args.length > 0 ? Integer.parseInt(args[0]) : 1);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // Load and link everything once before the benchmark times anything.
    gate.reset("bench/warm-up:0");
    gate.ask(GateKind.PREPULL);
    gate.ask(GateKind.MODEL);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    out.println("ready");
    for (String line; (line = in.readLine()) != null; ) {
      String[] w = line.trim().split("\\s+");
      String answer;
      try {
        answer = switch (w[0]) {
          case "reset" -> gate.reset(w[1]);
          case "ask" -> gate.ask(GateKind.parse(w[1]));
          case "prepull-done", "image-cached" -> gate.imageCached();
          case "model-done" -> gate.modelDone();
          default -> "error unknown command: " + line;
        };
      } catch (RuntimeException e) {
        answer = "error " + e;
      }
      out.println(answer);
    }
  }

  String reset(String image) {
    grants.clear();
    waiting.clear();
    cache = new PodBuilder()
        .withNewMetadata()
          .withNamespace(NAMESPACE).withName("serving-images-node").withUid("uid-cache")
          .addToLabels(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
          .addToLabels(Labels.COMPONENT, Labels.COMPONENT_IMAGE_CACHE)
        .endMetadata()
        .withNewSpec()
          .withNodeName(NODE)
          .addNewInitContainer().withName(HelperContract.CONTAINER_INSTALL_PAUSE).withImage(OPERATOR_IMAGE).endInitContainer()
          .addNewInitContainer().withName(HelperContract.CONTAINER_GATE).withImage(OPERATOR_IMAGE).endInitContainer()
          .addNewContainer().withName("c0").withImage(image).endContainer()
        .endSpec()
        .build();
    serving = new PodBuilder()
        .withNewMetadata()
          .withNamespace(NAMESPACE).withName("endpoint-0").withUid("uid-serving")
          .addToLabels(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
          .addToLabels(Labels.COMPONENT, Labels.COMPONENT_SERVER)
          .addToAnnotations(Labels.IMAGE_CACHE_ENABLED, "true")
        .endMetadata()
        .withNewSpec()
          .withNodeName(NODE)
          .addNewInitContainer().withName(HelperContract.CONTAINER_GATE).withImage(OPERATOR_IMAGE).endInitContainer()
          .addNewInitContainer().withName(HelperContract.CONTAINER_FETCH_MODEL).withImage(OPERATOR_IMAGE).endInitContainer()
          .addNewContainer().withName(HelperContract.CONTAINER_SERVER).withImage(image).endContainer()
        .endSpec()
        .build();
    return "ok";
  }

  String ask(GateKind kind) {
    Pod pod = kind == GateKind.MODEL ? serving : cache;
    String uid = pod.getMetadata().getUid();
    waiting.add(uid);
    Instant now = Instant.now();
    NodeSituation node = NodeSituation.observe(NODE, List.of(cache, serving), grants, waiting, now, GRANT_EXPIRY);
    GatePolicy.Decision d = policy.decide(GatePolicy.Request.of(kind, pod), node);
    if (d.isGo()) {
      waiting.remove(uid);
      grants.put(uid, now);
      if (kind == GateKind.MODEL) {
        // The gate init container exits 0 and fetch-model runs.
        serving = withInit(withInit(serving, HelperContract.CONTAINER_GATE, terminated()), HelperContract.CONTAINER_FETCH_MODEL, running());
      } else {
        // Both init containers done; the kubelet pulls the image for container c0.
        cache = withInit(withInit(cache, HelperContract.CONTAINER_INSTALL_PAUSE, terminated()), HelperContract.CONTAINER_GATE, terminated());
        cache = withContainer(cache, "c0", waiting("ContainerCreating"));
      }
    }
    return (d.isGo() ? "GO " : "WAIT ") + d.reason() + " " + d.message();
  }

  String imageCached() {
    cache = withInit(withInit(cache, HelperContract.CONTAINER_INSTALL_PAUSE, terminated()), HelperContract.CONTAINER_GATE, terminated());
    cache = withContainer(cache, "c0", running());
    return "ok";
  }

  String modelDone() {
    serving = withInit(serving, HelperContract.CONTAINER_FETCH_MODEL, terminated());
    serving = withContainer(serving, HelperContract.CONTAINER_SERVER, waiting("ContainerCreating"));
    return "ok";
  }

  private static ContainerState running() {
    return new ContainerStateBuilder().withNewRunning().withStartedAt(Instant.now().toString()).endRunning().build();
  }

  private static ContainerState terminated() {
    return new ContainerStateBuilder().withNewTerminated().withExitCode(0).endTerminated().build();
  }

  private static ContainerState waiting(String reason) {
    return new ContainerStateBuilder().withNewWaiting().withReason(reason).endWaiting().build();
  }

  private static Pod withInit(Pod pod, String name, ContainerState state) {
    Pod copy = new PodBuilder(pod).build();
    PodStatus status = copy.getStatus() == null ? new PodStatus() : copy.getStatus();
    status.setInitContainerStatuses(replace(status.getInitContainerStatuses(), name, state));
    copy.setStatus(status);
    return copy;
  }

  private static Pod withContainer(Pod pod, String name, ContainerState state) {
    Pod copy = new PodBuilder(pod).build();
    PodStatus status = copy.getStatus() == null ? new PodStatus() : copy.getStatus();
    status.setContainerStatuses(replace(status.getContainerStatuses(), name, state));
    copy.setStatus(status);
    return copy;
  }

  private static List<ContainerStatus> replace(List<ContainerStatus> statuses, String name, ContainerState state) {
    List<ContainerStatus> out = new ArrayList<>();
    if (statuses != null) {
      statuses.stream().filter(s -> !name.equals(s.getName())).forEach(out::add);
    }
    out.add(new ContainerStatusBuilder().withName(name).withState(state).build());
    return out;
  }
}
