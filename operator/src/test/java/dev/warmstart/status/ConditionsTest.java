package dev.warmstart.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.api.v1alpha1.ImageCacheStatus;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ConditionsTest {
  private static final Instant T0 = Instant.parse("2025-06-01T10:00:00.250Z");
  private static final Instant T1 = Instant.parse("2025-06-01T10:05:30.999Z");

  private static Condition merged(List<Condition> conditions, String type) {
    return Conditions.find(conditions, type)
        .orElseThrow(() -> new AssertionError("no " + type + " in " + conditions));
  }

  @Test
  void firstTimeSetsTransitionTimeAndGeneration() {
    List<Condition> out =
        Conditions.merge(
            null,
            List.of(new Condition("Ready", Condition.FALSE, "Pulling", "0 of 3 nodes")),
            4,
            T0);
    Condition ready = merged(out, "Ready");
    // RFC 3339 with seconds, as metav1.Time requires, even when the seconds are zero.
    assertEquals("2025-06-01T10:00:00Z", ready.getLastTransitionTime());
    DateTimeFormatter.ISO_OFFSET_DATE_TIME.parse(ready.getLastTransitionTime());
    assertEquals(4L, ready.getObservedGeneration());
    assertEquals("Pulling", ready.getReason());
    assertEquals("0 of 3 nodes", ready.getMessage());
  }

  @Test
  void transitionTimeKeptWhenStatusUnchangedEvenIfMessageChanges() {
    List<Condition> previous =
        Conditions.merge(
            null,
            List.of(new Condition("Ready", Condition.FALSE, "Pulling", "1 of 3 nodes")),
            4,
            T0);
    List<Condition> out =
        Conditions.merge(
            previous,
            List.of(new Condition("Ready", Condition.FALSE, "PullFailed", "2 of 3 nodes")),
            5,
            T1);
    Condition ready = merged(out, "Ready");
    assertEquals("2025-06-01T10:00:00Z", ready.getLastTransitionTime());
    assertEquals("PullFailed", ready.getReason());
    assertEquals("2 of 3 nodes", ready.getMessage());
    assertEquals(
        5L,
        ready.getObservedGeneration(),
        "observedGeneration follows the generation even without a transition");
  }

  @Test
  void transitionTimeChangesWhenStatusFlips() {
    List<Condition> previous =
        Conditions.merge(
            null,
            List.of(new Condition("Ready", Condition.FALSE, "Pulling", "1 of 3 nodes")),
            4,
            T0);
    List<Condition> out =
        Conditions.merge(
            previous,
            List.of(new Condition("Ready", Condition.TRUE, "AllNodesCached", "all 3 nodes")),
            4,
            T1);
    assertEquals("2025-06-01T10:05:30Z", merged(out, "Ready").getLastTransitionTime());
  }

  @Test
  void eachTypeTransitionsOnItsOwn() {
    List<Condition> previous =
        Conditions.merge(
            null,
            List.of(
                new Condition("Ready", Condition.FALSE, "Pulling", "m"),
                new Condition("Degraded", Condition.FALSE, "AsExpected", "no failures")),
            1,
            T0);
    List<Condition> out =
        Conditions.merge(
            previous,
            List.of(
                new Condition("Ready", Condition.TRUE, "AllNodesCached", "m"),
                new Condition("Degraded", Condition.FALSE, "AsExpected", "no failures")),
            2,
            T1);
    assertEquals("2025-06-01T10:05:30Z", merged(out, "Ready").getLastTransitionTime());
    assertEquals("2025-06-01T10:00:00Z", merged(out, "Degraded").getLastTransitionTime());
    assertEquals(List.of("Ready", "Degraded"), out.stream().map(Condition::getType).toList());
  }

  @Test
  void previousWithoutTransitionTimeGetsNow() {
    Condition old = new Condition("Ready", Condition.TRUE, "AllNodesCached", "m");
    List<Condition> out =
        Conditions.merge(
            List.of(old),
            List.of(new Condition("Ready", Condition.TRUE, "AllNodesCached", "m")),
            1,
            T1);
    assertEquals("2025-06-01T10:05:30Z", merged(out, "Ready").getLastTransitionTime());
  }

  @Test
  void mergingTheSameStateAgainIsANoOp() {
    // The reconciler skips the status patch when nothing changed: a re-merge must be equal.
    List<Condition> fresh =
        List.of(
            new Condition("Ready", Condition.TRUE, "AllNodesCached", "all 3 nodes hold 1 image"));
    List<Condition> first = Conditions.merge(null, fresh, 3, T0);
    List<Condition> second =
        Conditions.merge(
            first,
            List.of(
                new Condition(
                    "Ready", Condition.TRUE, "AllNodesCached", "all 3 nodes hold 1 image")),
            3,
            T1);
    assertEquals(first, second);
  }

  @Test
  void freshConditionsAreNotModified() {
    Condition fresh = new Condition("Ready", Condition.TRUE, "AllNodesCached", "m");
    Conditions.merge(null, List.of(fresh), 3, T0);
    assertNull(fresh.getLastTransitionTime());
    assertNull(fresh.getObservedGeneration());
  }

  @Test
  void findAndIsTrue() {
    List<Condition> conditions =
        List.of(
            new Condition("Ready", Condition.TRUE, "r", "m"),
            new Condition("Degraded", Condition.FALSE, "r", "m"));
    assertTrue(Conditions.isTrue(conditions, "Ready"));
    assertFalse(Conditions.isTrue(conditions, "Degraded"));
    assertFalse(Conditions.isTrue(conditions, "Missing"));
    assertFalse(Conditions.isTrue(null, "Ready"));
    assertTrue(Conditions.find(null, "Ready").isEmpty());
  }

  @Test
  void conditionSerializesOnlyItsApiFields() {
    // Anything else is an unknown field to the CRD's schema: pruned by the API server, warned about
    // on every patch.
    Condition c =
        Conditions.merge(
                null, List.of(new Condition("Ready", Condition.TRUE, "AllNodesCached", "m")), 2, T0)
            .get(0);
    KubernetesSerialization serialization = new KubernetesSerialization();
    @SuppressWarnings("unchecked")
    Map<String, Object> json = serialization.unmarshal(serialization.asJson(c), Map.class);
    assertEquals(
        Set.of("type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"),
        json.keySet());
  }

  @Test
  void resourceWithConditionsCanBeCloned() {
    // JOSDK clones the primary resource with the client's serialization before every reconcile.
    ImageCache cache = new ImageCache();
    cache.setMetadata(
        new ObjectMetaBuilder().withName("serving-images").withNamespace("ml").build());
    cache.setSpec(new ImageCacheSpec());
    ImageCacheStatus status = new ImageCacheStatus();
    status.setConditions(
        Conditions.merge(
            null,
            List.of(
                new Condition(
                    "Ready", Condition.TRUE, "AllNodesCached", "all 3 nodes hold 1 image")),
            2,
            T0));
    cache.setStatus(status);

    ImageCache copy = new KubernetesSerialization().clone(cache);
    assertEquals(status, copy.getStatus());
  }
}
