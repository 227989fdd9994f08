package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.Phases;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ArrivalsTest {
  private static final Instant T0 = Instant.parse("2026-01-01T10:00:00Z");

  static Pod starting(String name, String warmNode, long createdAt) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withCreationTimestamp(T0.plusSeconds(createdAt).toString())
        .withAnnotations(warmNode == null ? Map.of() : Map.of(Labels.WARM_NODE, warmNode))
        .endMetadata()
        .build();
  }

  static Phases start(String placement, String total) {
    Phases p = new Phases();
    p.setPlacement(placement);
    p.setTotal(total);
    return p;
  }

  @Test
  void warmArrivalsAreExpectedAfterTheMedianWarmStartColdOnesAfterTheColdOne() {
    ColdStart history = new ColdStart();
    history.setRecent(
        List.of(
            start("Warm", "20s"),
            start("Cold", "4m"),
            start("Warm", "30s"),
            start("Cold", "5m"),
            start("Warm", "40s")));
    Arrivals a =
        Arrivals.of(
            List.of(starting("w", "gpu-1", 0), starting("c1", "", 0), starting("c2", null, 10)),
            history);

    assertEquals(1, a.warm());
    assertEquals(2, a.cold());
    assertEquals(T0.plusSeconds(30), a.warmReadyAt().orElseThrow());
    assertEquals(
        T0.plusSeconds(240), a.coldReadyAt().orElseThrow(), "the earlier of the two cold ones");
    assertEquals(
        "1 warm (ready in ~20s), 2 cold (ready in ~3m50s)", a.describe(T0.plusSeconds(10)));
  }

  @Test
  void withoutHistoryTheCountsStandAlone() {
    Arrivals a = Arrivals.of(List.of(starting("w", "gpu-1", 0)), null);
    assertEquals("1 warm", a.describe(T0));
    assertEquals("none", Arrivals.of(List.of(), null).describe(T0));
  }
}
