package dev.warmstart.status;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.events.EventRecorder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Events for the moments a user looks for, from the conditions before and after a round: Ready
 * turned true, or Degraded with a reason it did not have. Once per transition, not per round.
 */
public final class Transitions {
  public static final String READY = "Ready";
  public static final String DEGRADED = "Degraded";
  private static final Logger log = LoggerFactory.getLogger(Transitions.class);

  private final EventRecorder events;

  public Transitions(EventRecorder events) {
    this.events = events;
  }

  /**
   * @param action the event's action (Serve, Cache)
   * @param readyReason the Normal event's reason when Ready turns true
   * @param readyNote its note, from the Ready condition
   */
  public void announce(
      HasMetadata object,
      List<Condition> before,
      List<Condition> now,
      String action,
      String readyReason,
      Function<Condition, String> readyNote) {
    String id =
        object.getKind()
            + " "
            + object.getMetadata().getNamespace()
            + "/"
            + object.getMetadata().getName();
    Condition ready = Conditions.find(now, READY).orElseThrow();
    if (ready.isTrue() && !Conditions.isTrue(before, READY)) {
      log.info("{} ready: {}", id, ready.getMessage());
      events.normal(object, readyReason, action, readyNote.apply(ready));
    }
    Condition degraded = Conditions.find(now, DEGRADED).orElseThrow();
    String previousReason =
        Conditions.find(before, DEGRADED).map(Condition::getReason).orElse(null);
    if (degraded.isTrue() && !degraded.getReason().equals(previousReason)) {
      log.warn("{} degraded: {}", id, degraded.getMessage());
      events.warning(object, degraded.getReason(), action, degraded.getMessage());
    }
  }

  /** Whether the Ready condition changed to {@code reason} in this round. */
  public static boolean readyBecame(List<Condition> before, List<Condition> now, String reason) {
    return Conditions.find(now, READY).map(c -> reason.equals(c.getReason())).orElse(false)
        && !Conditions.find(before, READY).map(c -> reason.equals(c.getReason())).orElse(false);
  }
}
