package dev.warmstart.fetch.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

class ConcurrencyProbeTest {
  private static final long MS = 1_000_000L;

  /**
   * Drives a probe every 250 ms for {@code seconds} on a link whose rate (bytes/s) at each level is
   * {@code rate}; returns the probe.
   */
  private static ConcurrencyProbe run(int max, IntToDoubleFunction rate, int seconds) {
    ConcurrencyProbe probe =
        new ConcurrencyProbe(max, Duration.ofMillis(500), Duration.ofSeconds(1));
    long now = 0;
    double bytes = 0;
    for (int tick = 0; tick < seconds * 4; tick++) {
      bytes += rate.applyAsDouble(probe.level()) * 0.25;
      now += 250 * MS;
      probe.observe(now, (long) bytes);
    }
    return probe;
  }

  @Test
  void perConnectionCapsAndAWideLinkGrowToTheMost() {
    // 90 MB/s per connection, a 100 Gbps link: every doubling pays up to 128 (11.5 GB/s).
    ConcurrencyProbe probe = run(256, n -> Math.min(n * 90e6, 12.5e9), 30);
    assertEquals(128, probe.level(), "256 connections add under 15% on a link 128 nearly fill");
    assertTrue(probe.settled());
  }

  @Test
  void aLinkThatTheFirstLevelFillsStaysThere() {
    // 800 Mbit/s with 12.5 MB/s per connection: 16 fill it; 32 bring nothing and are given back.
    ConcurrencyProbe probe = run(256, n -> Math.min(n * 12.5e6, 100e6), 10);
    assertEquals(ConcurrencyProbe.START, probe.level());
    assertTrue(probe.settled());
  }

  @Test
  void staysAtTheMostWhenItIsBelowTheStart() {
    ConcurrencyProbe probe = new ConcurrencyProbe(4, Duration.ofMillis(500), Duration.ofSeconds(1));
    assertEquals(4, probe.level());
    assertTrue(probe.settled(), "nothing to probe");
    assertEquals(4, probe.observe(10_000 * MS, 1_000_000));
  }

  @Test
  void neverGoesAboveTheMost() {
    ConcurrencyProbe probe = run(40, n -> n * 90e6, 30);
    assertEquals(40, probe.level());
    assertTrue(probe.settled());
  }

  @Test
  void waitsForNewConnectionsToSettleBeforeMeasuring() {
    ConcurrencyProbe probe =
        new ConcurrencyProbe(256, Duration.ofMillis(500), Duration.ofSeconds(1));
    assertEquals(16, probe.observe(0, 0));
    assertEquals(16, probe.observe(400 * MS, 0), "still settling");
    assertEquals(16, probe.observe(500 * MS, 1000), "measuring from here");
    assertEquals(16, probe.observe(1400 * MS, 5000), "the window is not over");
    assertEquals(32, probe.observe(1500 * MS, 10_000), "first measurement: try more");
    assertFalse(probe.settled());
    // Settling at 32, then a window at the same rate as with 16: back to 16, for good.
    assertEquals(32, probe.observe(2000 * MS, 15_000));
    assertEquals(16, probe.observe(3000 * MS, 25_000));
    assertTrue(probe.settled());
    assertEquals(16, probe.observe(60_000 * MS, 1L << 40), "settled: no more changes");
  }
}
