package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.ResourceMemory;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accounts each replica's cold start once: the phase histogram, a ColdStart event and a log line. A
 * reconciliation can still see the status from before its last patch, whose record lacks the newest
 * cold starts: the ledger remembers which it announced.
 */
final class ColdStartLedger {
  /**
   * Cold starts remembered per endpoint, newest kept: far more than can happen between two status
   * reads.
   */
  static final int REMEMBERED = 1_000;

  private static final Logger log = LoggerFactory.getLogger(ColdStartLedger.class);

  private final EventRecorder events;
  private final ColdStartMetrics metrics;

  /** Per endpoint, the cold starts announced (pod@readyAt). */
  private final ResourceMemory<Set<String>> announced =
      new ResourceMemory<>(ColdStartLedger::bounded);

  ColdStartLedger(EventRecorder events, ColdStartMetrics metrics) {
    this.events = events;
    this.metrics = metrics;
  }

  /**
   * The endpoint's cold-start record with the cold starts of {@code pods} not in it yet; announces
   * the new ones.
   */
  ColdStart account(InferenceEndpoint ie, List<Pod> pods) {
    ColdStart previous = ie.getStatus() == null ? null : ie.getStatus().getColdStart();
    List<ColdStarts.Measured> fresh = ColdStarts.newSince(previous, pods);
    Set<String> seen = announced.of(ie);
    for (ColdStarts.Measured coldStart : fresh) {
      if (!seen.add(coldStart.pod() + "@" + coldStart.readyAt())) {
        continue;
      }
      metrics.record(ie.getMetadata().getNamespace(), ie.getMetadata().getName(), coldStart);
      log.info(
          "InferenceEndpoint {}/{}: cold start of {}",
          ie.getMetadata().getNamespace(),
          ie.getMetadata().getName(),
          coldStart.summary());
      events.normal(ie, "ColdStart", "Start", coldStart.summary());
    }
    return ColdStarts.record(previous, fresh);
  }

  /** Forgets the endpoints {@code exists} does not know any more. */
  void retainOnly(Predicate<ResourceID> exists) {
    announced.retainOnly(exists);
  }

  private static Set<String> bounded() {
    return Collections.newSetFromMap(
        Collections.synchronizedMap(
            new LinkedHashMap<>(16, 0.75f, false) {
              @Override
              protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > REMEMBERED;
              }
            }));
  }
}
