package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.autoscale.Recommender.Decision;
import dev.warmstart.autoscale.Recommender.History;
import dev.warmstart.autoscale.Recommender.Policy;
import dev.warmstart.autoscale.Recommender.Reading;
import dev.warmstart.autoscale.Recommender.Replicas;
import dev.warmstart.autoscale.Recommender.Rules;
import dev.warmstart.autoscale.Recommender.Select;
import dev.warmstart.autoscale.Recommender.Spec;
import dev.warmstart.autoscale.Recommender.Target;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RecommenderTest {
  private static final Instant T0 = Instant.parse("2026-11-27T12:00:00Z");
  private static final Target AVG4 = new Target(true, 4);
  private static final Rules NO_WINDOW_DOWN = new Rules(0, Select.MAX, List.of());

  private static Spec spec(int min, int max, Target target) {
    return new Spec(min, max, List.of(target), Recommender.DEFAULT_UP, Recommender.DEFAULT_DOWN);
  }

  private static Reading pods(double... values) {
    Map<String, Double> byPod = new LinkedHashMap<>();
    for (int i = 0; i < values.length; i++) {
      byPod.put("pod-" + i, values[i]);
    }
    return new Reading.PerPod(byPod, 0);
  }

  private static Decision decide(Spec spec, Reading reading, Replicas replicas) {
    return Recommender.decide(spec, List.of(reading), replicas, History.EMPTY, T0);
  }

  @ParameterizedTest(name = "pods {0} at average target 4, {1} starting → {2}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      4;4         | 0 | 2
      8;8         | 0 | 4
      12;12       | 0 | 6
      4.3;4.3     | 0 | 2
      3.7;3.7     | 0 | 2
      1;1         | 0 | 1
      0;0         | 0 | 1
      10;10       | 3 | 5
      20;20       | 3 | 10
      10;10       | 1 | 5
      """)
  void perPodAverageFollowsTheHpaAndCountsStartingReplicas(
      String values, int starting, int expected) {
    double[] v =
        java.util.Arrays.stream(values.split(";")).mapToDouble(Double::parseDouble).toArray();
    Spec spec = new Spec(1, 20, List.of(AVG4), Recommender.DEFAULT_UP, NO_WINDOW_DOWN);
    Decision d = decide(spec, pods(v), new Replicas(v.length + starting, v.length, starting));
    assertEquals(expected, d.desired());
  }

  @Test
  void toleranceKeepsTheCount() {
    // 9 % above target on average: within the HPA's 10 % tolerance, leave it.
    assertEquals(3, Recommender.propose(AVG4, pods(4.36, 4.36, 4.36), new Replicas(3, 3, 0)));
    assertEquals(4, Recommender.propose(AVG4, pods(4.5, 4.5, 4.5), new Replicas(3, 3, 0)));
  }

  @Test
  void podsThatDoNotAnswerCountAsOnTargetWhenScalingDownAndIdleWhenScalingUp() {
    // Two pods idle, two silent: the silent ones are taken to be on target, so no scale to 1.
    Reading down = new Reading.PerPod(Map.of("a", 0.0, "b", 0.0), 2);
    assertEquals(2, Recommender.propose(AVG4, down, new Replicas(4, 4, 0)));
    // Two pods at 3x the target, two silent (taken as 0): average 6 over 4 pods → 6.
    Reading up = new Reading.PerPod(Map.of("a", 12.0, "b", 12.0), 2);
    assertEquals(6, Recommender.propose(AVG4, up, new Replicas(4, 4, 0)));
  }

  @Test
  void startingReplicasStopRepeatedScaleUps() {
    // After scaling 2 → 5 the queue on the 2 ready pods is unchanged; 3 replicas are loading
    // weights.
    Spec spec = spec(1, 20, AVG4);
    Decision again = decide(spec, pods(10, 10), new Replicas(5, 2, 3));
    assertEquals(5, again.desired());
    // Without the starting replicas (what an HPA on External metrics sees) it would ask for more.
    assertEquals(5, decide(spec, pods(10, 10), new Replicas(2, 2, 0)).desired());
  }

  @Test
  void valueTargets() {
    Target total20 = new Target(false, 20);
    assertEquals(4, Recommender.propose(total20, new Reading.Whole(40), new Replicas(2, 2, 0)));
    assertEquals(2, Recommender.propose(total20, new Reading.Whole(21), new Replicas(2, 2, 0)));
    assertEquals(1, Recommender.propose(total20, new Reading.Whole(5), new Replicas(2, 2, 0)));
    // Pods with a Value target compare the sum over pods.
    assertEquals(4, Recommender.propose(total20, pods(20, 20), new Replicas(2, 2, 0)));
    // Every replica still starting (kubernetes#130130): wait for them, never 0.
    assertEquals(3, Recommender.propose(total20, new Reading.Whole(100), new Replicas(3, 0, 3)));
    // From zero: the ratio itself.
    assertEquals(2, Recommender.propose(total20, new Reading.Whole(30), new Replicas(0, 0, 0)));
  }

  @Test
  void externalAverageValueCountsSpecReplicas() {
    Target avg5 = new Target(true, 5);
    assertEquals(6, Recommender.propose(avg5, new Reading.Whole(30), new Replicas(2, 2, 0)));
    assertEquals(6, Recommender.propose(avg5, new Reading.Whole(30), new Replicas(6, 1, 5)));
    assertEquals(6, Recommender.propose(avg5, new Reading.Whole(31), new Replicas(6, 6, 0)));
    assertEquals(6, Recommender.propose(avg5, new Reading.Whole(30), new Replicas(0, 0, 0)));
  }

  @Test
  void aFailedMetricHoldsInsteadOfDroppingToTheMinimum() {
    Spec spec = new Spec(1, 10, List.of(AVG4), Recommender.DEFAULT_UP, NO_WINDOW_DOWN);
    Decision d =
        decide(
            spec,
            new Reading.Failed("EmptyQueryResult", "the query returned no series"),
            new Replicas(6, 6, 0));
    assertEquals(6, d.desired());
    assertFalse(d.scalingActive().status());
    assertEquals("EmptyQueryResult", d.scalingActive().reason());
    assertTrue(
        d.scalingActive().message().contains("holding 6 replicas"), d.scalingActive().message());
  }

  @Test
  void noPodAnsweringHolds() {
    Decision d = decide(spec(1, 10, AVG4), new Reading.PerPod(Map.of(), 3), new Replicas(3, 3, 0));
    assertEquals(3, d.desired());
    assertEquals("FailedGetPodsMetric", d.scalingActive().reason());
  }

  @Test
  void oneFailedMetricBlocksScaleDownButNotScaleUp() {
    Spec two =
        new Spec(
            1, 10, List.of(AVG4, new Target(false, 10)), Recommender.DEFAULT_UP, NO_WINDOW_DOWN);
    Reading failed = new Reading.Failed("FailedPrometheusQuery", "connection refused");
    Decision down =
        Recommender.decide(
            two, List.of(pods(0, 0, 0, 0), failed), new Replicas(4, 4, 0), History.EMPTY, T0);
    assertEquals(4, down.desired());
    assertFalse(down.scalingActive().status());
    Decision up =
        Recommender.decide(
            two, List.of(pods(8, 8, 8, 8), failed), new Replicas(4, 4, 0), History.EMPTY, T0);
    assertEquals(8, up.desired());
    assertTrue(up.scalingActive().status());
    assertEquals(List.of(8, -1), up.proposals());
  }

  @Test
  void theLargestProposalWins() {
    Spec two =
        new Spec(
            1, 10, List.of(AVG4, new Target(false, 10)), Recommender.DEFAULT_UP, NO_WINDOW_DOWN);
    Decision d =
        Recommender.decide(
            two,
            List.of(pods(4, 4), new Reading.Whole(30)),
            new Replicas(2, 2, 0),
            History.EMPTY,
            T0);
    assertEquals(List.of(2, 6), d.proposals());
    assertEquals(6, d.desired());
  }

  @Test
  void boundsAreApplied() {
    Decision high = decide(spec(1, 5, AVG4), pods(40, 40), new Replicas(2, 2, 0));
    assertEquals(5, high.desired());
    assertTrue(high.scalingLimited().status());
    assertEquals("TooManyReplicas", high.scalingLimited().reason());
    Decision low =
        decide(
            new Spec(2, 5, List.of(AVG4), Recommender.DEFAULT_UP, NO_WINDOW_DOWN),
            pods(0, 0, 0),
            new Replicas(3, 3, 0));
    assertEquals(2, low.desired());
    assertEquals("TooFewReplicas", low.scalingLimited().reason());
    // A count outside the bounds (someone scaled by hand, or the spec changed) is brought back
    // first.
    assertEquals(
        5, decide(spec(1, 5, AVG4), pods(1, 1, 1, 1, 1, 1, 1), new Replicas(7, 7, 0)).desired());
    assertEquals(2, decide(spec(2, 5, AVG4), pods(40), new Replicas(1, 1, 0)).desired());
  }

  @Test
  void scaleDownWaitsForTheStabilizationWindow() {
    Spec spec = spec(1, 10, AVG4); // default: 300 s down-window
    History h = History.EMPTY;
    Decision busy = Recommender.decide(spec, List.of(pods(16, 16)), new Replicas(2, 2, 0), h, T0);
    assertEquals(8, busy.desired());
    h = busy.next().scaled(T0, 2, 8);
    // Idle one second later, and for the next five minutes: hold 8.
    for (int s = 1; s < 300; s += 30) {
      Decision idle =
          Recommender.decide(
              spec,
              List.of(pods(0, 0, 0, 0, 0, 0, 0, 0)),
              new Replicas(8, 8, 0),
              h,
              T0.plusSeconds(s));
      assertEquals(8, idle.desired(), "at +" + s + "s");
      assertEquals("ScaleDownStabilized", idle.ableToScale().reason());
      h = idle.next();
    }
    // Once the busy recommendation left the window, down to the minimum.
    Decision later =
        Recommender.decide(
            spec,
            List.of(pods(0, 0, 0, 0, 0, 0, 0, 0)),
            new Replicas(8, 8, 0),
            h,
            T0.plusSeconds(301));
    assertEquals(1, later.desired());
  }

  @Test
  void scaleUpIsImmediateByDefaultAndWindowedWhenAsked() {
    assertEquals(10, decide(spec(1, 10, AVG4), pods(40), new Replicas(1, 1, 0)).desired());
    Spec windowed =
        new Spec(1, 10, List.of(AVG4), new Rules(60, Select.MAX, List.of()), NO_WINDOW_DOWN);
    History h =
        Recommender.decide(windowed, List.of(pods(4)), new Replicas(1, 1, 0), History.EMPTY, T0)
            .next();
    Decision spike =
        Recommender.decide(
            windowed, List.of(pods(40)), new Replicas(1, 1, 0), h, T0.plusSeconds(10));
    assertEquals(1, spike.desired());
    assertEquals("ScaleUpStabilized", spike.ableToScale().reason());
  }

  @Test
  void policiesLimitTheRate() {
    // HPA's own defaults: +100 % or +4 pods per 15 s, whichever is more (Max).
    Rules hpaUp =
        new Rules(0, Select.MAX, List.of(new Policy(true, 100, 15), new Policy(false, 4, 15)));
    Spec spec = new Spec(1, 100, List.of(AVG4), hpaUp, NO_WINDOW_DOWN);
    Decision first = decide(spec, pods(80, 80), new Replicas(2, 2, 0));
    assertEquals(6, first.desired()); // max(2*2, 2+4)
    assertEquals("ScaleUpLimit", first.scalingLimited().reason());
    History h = first.next().scaled(T0, 2, 6);
    // 5 s later the period still holds the +4: from a period start of 2, the limit is still 6.
    Decision soon =
        Recommender.decide(
            spec,
            List.of(pods(80, 80, 80, 80, 80, 80)),
            new Replicas(6, 6, 0),
            h,
            T0.plusSeconds(5));
    assertEquals(6, soon.desired());
    // After the period, another step: max(6*2, 6+4) = 12.
    Decision later =
        Recommender.decide(
            spec,
            List.of(pods(80, 80, 80, 80, 80, 80)),
            new Replicas(6, 6, 0),
            h,
            T0.plusSeconds(16));
    assertEquals(12, later.desired());
    // Min picks the smaller step.
    Rules minUp = new Rules(0, Select.MIN, hpaUp.policies());
    assertEquals(
        4,
        decide(
                new Spec(1, 100, List.of(AVG4), minUp, NO_WINDOW_DOWN),
                pods(80, 80),
                new Replicas(2, 2, 0))
            .desired());
  }

  @Test
  void scaleDownPolicies() {
    Rules onePerMinute = new Rules(0, Select.MAX, List.of(new Policy(false, 1, 60)));
    Spec spec = new Spec(1, 10, List.of(AVG4), Recommender.DEFAULT_UP, onePerMinute);
    Decision d = decide(spec, pods(0, 0, 0, 0, 0), new Replicas(5, 5, 0));
    assertEquals(4, d.desired());
    assertEquals("ScaleDownLimit", d.scalingLimited().reason());
    Rules halfPerMinute = new Rules(0, Select.MAX, List.of(new Policy(true, 50, 60)));
    assertEquals(
        3,
        decide(
                new Spec(1, 10, List.of(AVG4), Recommender.DEFAULT_UP, halfPerMinute),
                pods(0, 0, 0, 0, 0, 0, 0),
                new Replicas(7, 7, 0))
            .desired());
  }

  @Test
  void disabledDirectionsDoNotMove() {
    Rules disabled = new Rules(0, Select.DISABLED, List.of());
    Spec noDown = new Spec(1, 10, List.of(AVG4), Recommender.DEFAULT_UP, disabled);
    assertEquals(5, decide(noDown, pods(0, 0, 0, 0, 0), new Replicas(5, 5, 0)).desired());
    Spec noUp = new Spec(1, 10, List.of(AVG4), disabled, NO_WINDOW_DOWN);
    assertEquals(2, decide(noUp, pods(40, 40), new Replicas(2, 2, 0)).desired());
  }

  @Test
  void historyForgetsWhatNoWindowReaches() {
    Spec spec = spec(1, 10, AVG4);
    History h = History.EMPTY.scaled(T0, 1, 4);
    h = new History(List.of(new Recommender.Recommendation(T0, 4)), h.ups(), h.downs());
    History pruned = Recommender.prune(h, spec, T0.plusSeconds(301));
    assertTrue(pruned.recommendations().isEmpty());
    assertTrue(pruned.ups().isEmpty());
  }
}
