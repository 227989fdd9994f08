package dev.warmstart.status;

import dev.warmstart.api.v1alpha1.Condition;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** Merges freshly computed conditions into the previous ones with metav1.Condition semantics. */
public final class Conditions {
  private Conditions() {}

  /**
   * Each condition in {@code fresh}, with lastTransitionTime kept from {@code previous} when its
   * status did not change (so the time says when the state began, not when we last looked).
   */
  public static List<Condition> merge(
      List<Condition> previous, List<Condition> fresh, long generation, Instant now) {
    List<Condition> out = new ArrayList<>();
    for (Condition c : fresh) {
      Condition copy = new Condition(c.getType(), c.getStatus(), c.getReason(), c.getMessage());
      copy.setObservedGeneration(generation);
      copy.setLastTransitionTime(
          find(previous, c.getType())
              .filter(
                  old ->
                      Objects.equals(old.getStatus(), c.getStatus())
                          && old.getLastTransitionTime() != null)
              .map(Condition::getLastTransitionTime)
              .orElse(now.truncatedTo(ChronoUnit.SECONDS).toString()));
      out.add(copy);
    }
    return out;
  }

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    return conditions == null
        ? Optional.empty()
        : conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(Condition::isTrue).orElse(false);
  }
}
