package dev.warmstart.gate;

import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.gate.GatePolicy.Decision;
import dev.warmstart.gate.GatePolicy.Request;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transfer gate's long-poll state machine, apart from any transport: a request is held until
 * {@link GatePolicy} says go, its poll time ends (wait), or its claim is found not to hold
 * (refused, after a short grace for the informer to catch up).
 *
 * <p>Every step runs on the {@link GateScheduler}, one at a time, in the order the pods first
 * asked, so that two pods on one node can never both take the last transfer slot. Held requests are
 * re-decided when a pod on their node changes, not only when their poll ends; nothing is held per
 * waiting request but its entry here. Time comes from the {@link Clock} and the scheduler only, so
 * a test can replay a race step by step.
 */
public final class GateDecider implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GateDecider.class);
  static final Duration SWEEP = Duration.ofMinutes(1);

  /** A pod that has not asked for this long has given up (its gate timed out) or is gone. */
  static final Duration FORGET = Duration.ofHours(1);

  /**
   * The node of a lapsed grant is re-decided this long after the expiry, once the grant surely
   * counts as lapsed.
   */
  private static final Duration AFTER_EXPIRY = Duration.ofMillis(50);

  /**
   * Who asks for what: a pod's claim, checked against the operator's view of the pods before any
   * decision.
   */
  public record Claim(GateKind kind, String namespace, String pod, String uid, String node) {
    public Claim {
      Objects.requireNonNull(kind);
      Objects.requireNonNull(namespace);
      Objects.requireNonNull(pod);
      Objects.requireNonNull(uid);
      Objects.requireNonNull(node);
    }

    String who() {
      return "pod " + namespace + "/" + pod;
    }
  }

  public enum Verdict {
    GO,
    WAIT,
    REFUSED
  }

  /**
   * The answer to one request.
   *
   * @param waited since the pod's first request; null when refused
   */
  public record Answer(Verdict verdict, String reason, String message, Duration waited) {
    static Answer of(Decision decision, Duration waited) {
      return new Answer(
          decision.isGo() ? Verdict.GO : Verdict.WAIT,
          decision.reason(),
          decision.message(),
          waited);
    }

    static Answer refused(Refusal refusal) {
      return new Answer(Verdict.REFUSED, refusal.reason(), refusal.message(), null);
    }
  }

  private final PodSource pods;
  private final GateSettings settings;
  private final Clock clock;
  private final GateScheduler scheduler;
  private final GateMetrics metrics;
  private final GatePolicy policy;
  private final Set<String> dirtyNodes = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  // Confined to the scheduler's steps.
  private final Map<String, List<Waiter>> waitersByNode = new HashMap<>();
  private final Map<String, Map<String, Tracked>> trackedByNode = new HashMap<>();
  private final Map<String, Instant> grants = new HashMap<>();
  private long arrivals;

  GateDecider(
      PodSource pods,
      GateSettings settings,
      Clock clock,
      GateScheduler scheduler,
      GateMetrics metrics) {
    this.pods = pods;
    this.settings = settings;
    this.clock = clock;
    this.scheduler = scheduler;
    this.metrics = metrics;
    this.policy = new GatePolicy(settings.maxPerNode());
  }

  /**
   * Follows the pods' changes and starts the periodic sweep of lapsed grants and forgotten pods.
   */
  public void start() {
    pods.onNodeChange(this::podsChanged);
    scheduler.schedule(this::sweepEveryMinute, SWEEP);
  }

  /**
   * Holds {@code claim}'s request for at most {@code wait}; the answer completes on the scheduler's
   * thread. A pod that asks again while its earlier request is held gets that one answered "wait".
   *
   * @throws RejectedExecutionException once closed
   */
  public CompletableFuture<Answer> ask(Claim claim, Duration wait) {
    Waiter waiter = new Waiter(claim, wait);
    scheduler.execute(guarded(() -> admit(waiter)));
    return waiter.answer;
  }

  /**
   * A pod on {@code node} was added, changed or removed: its held requests are re-decided. Any
   * thread.
   */
  public void podsChanged(String node) {
    if (!closed && dirtyNodes.add(node)) {
      try {
        scheduler.execute(
            guarded(
                () -> {
                  dirtyNodes.remove(node);
                  decideNode(node);
                }));
      } catch (RejectedExecutionException e) {
        dirtyNodes.remove(node);
      }
    }
  }

  /** Stops deciding; held requests stay unanswered (their transport closes them). */
  @Override
  public void close() {
    closed = true;
    scheduler.close();
  }

  // ---- steps --------------------------------------------------------------------------------

  private void admit(Waiter waiter) {
    waiter.arrival = arrivals++;
    metrics.held(waiter.kind());
    waitersByNode.computeIfAbsent(waiter.node(), n -> new ArrayList<>()).add(waiter);
    waiter.pollEnd = scheduler.schedule(guarded(() -> endPoll(waiter)), waiter.wait);
    decideNode(waiter.node());
    if (waiter.pending && waiter.tracked == null) {
      waiter.inGrace = true;
      waiter.verifyEnd =
          scheduler.schedule(guarded(() -> endVerify(waiter)), settings.verifyGrace());
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
    ordered.sort(
        Comparator.comparing((Waiter w) -> w.tracked.firstSeen).thenComparingLong(w -> w.arrival));
    for (Waiter w : ordered) {
      if (w.pending) {
        decide(w);
      }
    }
  }

  /**
   * Checks the request's claim against the pods; from its first verified request on, the pod is
   * tracked.
   */
  private boolean verified(Waiter w) {
    w.pod = pods.get(w.claim.namespace(), w.claim.pod()).orElse(null);
    w.refusal = verify(w.claim, w.pod);
    if (w.refusal == null && w.tracked == null) {
      attach(w);
    }
    return w.refusal == null;
  }

  private void decide(Waiter w) {
    Instant now = clock.instant();
    NodeSituation situation =
        NodeSituation.observe(
            w.node(),
            pods.onNode(w.node()),
            grants,
            waitingUids(w.node(), now),
            now,
            settings.grantExpiry());
    Decision decision = policy.decide(Request.of(w.kind(), w.pod), situation);
    if (!Objects.equals(w.tracked.lastReason, decision.reason())) {
      w.tracked.lastReason = decision.reason();
      if (!decision.isGo()) {
        log.debug(
            "{} of {}/{} on node {} waits: {} ({})",
            w.kind().description(),
            w.claim.namespace(),
            w.claim.pod(),
            w.node(),
            decision.reason(),
            decision.message());
      }
    }
    w.decision = decision;
    if (decision.isGo()) {
      grant(w, decision, now);
    }
  }

  /** Why a request's claim does not hold. */
  record Refusal(String reason, String message) {}

  /** Null when the claim holds. */
  private static Refusal verify(Claim claim, Pod pod) {
    String who = claim.who();
    if (pod == null) {
      return new Refusal("UnknownPod", "the operator knows no warmstart-managed " + who);
    }
    if (!claim.uid().equals(pod.getMetadata().getUid())) {
      return new Refusal("UidMismatch", who + " does not have UID " + claim.uid());
    }
    if (pod.getSpec() == null || !claim.node().equals(pod.getSpec().getNodeName())) {
      return new Refusal("WrongNode", who + " is not bound to node " + claim.node());
    }
    boolean rightKind =
        claim.kind() == GateKind.MODEL
            ? NodeSituation.fetchesModel(pod)
            : NodeSituation.isCachePod(pod);
    if (!rightKind) {
      return new Refusal("WrongKind", who + " may not ask for a " + claim.kind().description());
    }
    return null;
  }

  /**
   * From its first verified request on, a pod is tracked: its wait time, and its need while it
   * waits.
   */
  private void attach(Waiter w) {
    Tracked tracked =
        trackedByNode
            .computeIfAbsent(w.node(), n -> new HashMap<>())
            .computeIfAbsent(w.claim.uid(), u -> new Tracked(clock.instant()));
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
    tracked.forEach(
        (uid, t) -> {
          if (t.active != null || now.isBefore(t.lastSeen.plus(settings.waiterLinger()))) {
            uids.add(uid);
          }
        });
    return uids;
  }

  private void grant(Waiter w, Decision decision, Instant now) {
    grants.put(w.claim.uid(), now);
    Duration waited = Duration.between(w.tracked.firstSeen, now);
    forget(w);
    metrics.waited(w.kind(), decision.reason(), waited);
    metrics.decided(w.kind(), decision.decision(), decision.reason());
    log.info(
        "transfer gate open: {} of {}/{} on node {} after {}: {} ({})",
        w.kind().description(),
        w.claim.namespace(),
        w.claim.pod(),
        w.node(),
        Durations.format(waited),
        decision.reason(),
        decision.message());
    answer(w, Answer.of(decision, waited));
    // When the grant lapses without the pod being seen transferring, the others on the node may go.
    scheduler.schedule(
        guarded(() -> decideNode(w.node())), settings.grantExpiry().plus(AFTER_EXPIRY));
  }

  private void endPoll(Waiter w) {
    if (!w.pending) {
      return;
    }
    w.pollOver = true;
    if (w.tracked == null && w.inGrace) {
      return; // Even a short poll gets the whole grace before a refusal.
    }
    if (w.refusal != null || w.tracked == null) {
      refuse(w);
    } else {
      answerWait(w);
    }
  }

  private void endVerify(Waiter w) {
    w.inGrace = false;
    if (w.pending && w.tracked == null) {
      decideNode(w.node());
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
    metrics.decided(w.kind(), d.decision(), d.reason());
    answer(w, Answer.of(d, Duration.between(w.tracked.firstSeen, clock.instant())));
  }

  private void refuse(Waiter w) {
    Refusal refusal =
        w.refusal != null
            ? w.refusal
            : verify(w.claim, pods.get(w.claim.namespace(), w.claim.pod()).orElse(null));
    if (refusal == null) {
      refusal = new Refusal("UnknownPod", w.claim.who() + " could not be verified");
    }
    if (w.tracked != null) {
      forget(w);
    }
    metrics.decided(w.kind(), GateMetrics.DENIED, refusal.reason());
    log.info(
        "transfer gate refused a {} request for {}/{} on node {}: {}",
        w.kind().description(),
        w.claim.namespace(),
        w.claim.pod(),
        w.node(),
        refusal.message());
    answer(w, Answer.refused(refusal));
  }

  private void forget(Waiter w) {
    Map<String, Tracked> tracked = trackedByNode.get(w.node());
    if (tracked != null && tracked.get(w.claim.uid()) == w.tracked) {
      tracked.remove(w.claim.uid());
      if (tracked.isEmpty()) {
        trackedByNode.remove(w.node());
      }
    }
  }

  private void answer(Waiter w, Answer answer) {
    w.pending = false;
    metrics.answered(w.kind());
    cancel(w.pollEnd);
    cancel(w.verifyEnd);
    List<Waiter> held = waitersByNode.get(w.node());
    if (held != null) {
      held.remove(w);
      if (held.isEmpty()) {
        waitersByNode.remove(w.node());
      }
    }
    w.answer.complete(answer);
  }

  private void sweepEveryMinute() {
    guarded(this::sweep).run();
    if (!closed) {
      try {
        scheduler.schedule(this::sweepEveryMinute, SWEEP);
      } catch (RejectedExecutionException e) {
        // closing
      }
    }
  }

  /** Drops lapsed grants and pods that stopped asking long ago, so that the maps stay bounded. */
  private void sweep() {
    Instant now = clock.instant();
    grants.values().removeIf(at -> !now.isBefore(at.plus(settings.grantExpiry())));
    trackedByNode
        .values()
        .forEach(
            byUid ->
                byUid
                    .values()
                    .removeIf(t -> t.active == null && !now.isBefore(t.lastSeen.plus(FORGET))));
    trackedByNode.values().removeIf(Map::isEmpty);
  }

  /**
   * A failure in one step is logged and does not stop the decider (nor, for the sweep, its later
   * runs).
   */
  private static Runnable guarded(Runnable step) {
    return () -> {
      try {
        step.run();
      } catch (RuntimeException e) {
        log.error(
            "transfer gate step failed; pods waiting on it may wait until their own deadline", e);
      }
    };
  }

  private static void cancel(GateScheduler.Scheduled s) {
    if (s != null) {
      s.cancel();
    }
  }

  /** One held request. */
  private static final class Waiter {
    final Claim claim;
    final Duration wait;
    final CompletableFuture<Answer> answer = new CompletableFuture<>();
    long arrival;
    boolean pending = true;

    /** The poll time has passed, but the claim is still within its grace. */
    boolean pollOver;

    /** The claim did not hold at first, and its grace has not ended. */
    boolean inGrace;

    Pod pod;
    Tracked tracked;
    Decision decision;
    Refusal refusal;
    GateScheduler.Scheduled pollEnd;
    GateScheduler.Scheduled verifyEnd;

    Waiter(Claim claim, Duration wait) {
      this.claim = claim;
      this.wait = wait;
    }

    GateKind kind() {
      return claim.kind();
    }

    String node() {
      return claim.node();
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
