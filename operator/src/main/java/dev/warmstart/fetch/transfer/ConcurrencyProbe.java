package dev.warmstart.fetch.transfer;

import java.time.Duration;

/**
 * How many transfers to keep in flight when the user did not say: enough to fill the link, and no
 * more.
 *
 * <p>Object stores cap each connection (S3 gives some 50–100 MB/s), so a 100 Gbps node needs over a
 * hundred requests in flight, while on a 1 Gbps link a dozen fill it and more only cost: every
 * extra part in flight is data written out of order that the in-order checksum pass has to catch up
 * with at the end, and CPU on a small node. So the probe starts at {@link #START}, measures the
 * rate, doubles, measures again, and keeps doubling while each doubling pays ({@link #MIN_GAIN});
 * at the first one that does not, it goes back to the level before and stays there.
 *
 * <p>Pure: {@link #observe} gets the clock and the byte count, so tests drive it with made-up
 * numbers.
 */
public final class ConcurrencyProbe {
  public static final int START = 16;

  /** A doubling must raise the rate by this factor to be kept. */
  static final double MIN_GAIN = 1.15;

  private final int max;
  private final long settleNanos;
  private final long windowNanos;
  private int level;
  private int previous;
  private boolean settled;
  private double baseline = -1;

  /** When the current level took effect. */
  private long levelSince = Long.MIN_VALUE;

  /** Start of the measurement at the current level, after settling; MIN_VALUE while settling. */
  private long markNanos = Long.MIN_VALUE;

  private long markBytes;

  /**
   * @param max the most transfers ever in flight
   * @param settle time for new connections to get going before the rate counts
   * @param window how long the rate is measured at each level
   */
  ConcurrencyProbe(int max, Duration settle, Duration window) {
    this.max = max;
    this.settleNanos = settle.toNanos();
    this.windowNanos = window.toNanos();
    this.level = Math.min(START, max);
    this.previous = level;
    this.settled = level >= max;
  }

  static ConcurrencyProbe upTo(int max) {
    return new ConcurrencyProbe(max, Duration.ofMillis(500), Duration.ofSeconds(1));
  }

  int level() {
    return level;
  }

  boolean settled() {
    return settled;
  }

  /**
   * Takes a sample: the clock and the bytes transferred so far; returns the level to use from now
   * on.
   */
  int observe(long nowNanos, long bytes) {
    if (settled) {
      return level;
    }
    if (levelSince == Long.MIN_VALUE) {
      levelSince = nowNanos;
    }
    if (markNanos == Long.MIN_VALUE) {
      if (nowNanos - levelSince >= settleNanos) {
        markNanos = nowNanos;
        markBytes = bytes;
      }
      return level;
    }
    long elapsed = nowNanos - markNanos;
    if (elapsed < windowNanos) {
      return level;
    }
    double rate = (bytes - markBytes) * 1e9 / elapsed;
    if (baseline < 0 || rate >= baseline * MIN_GAIN) {
      baseline = rate;
      previous = level;
      level = Math.min(max, level * 2);
      settled = level == previous;
    } else {
      level = previous;
      settled = true;
    }
    levelSince = nowNanos;
    markNanos = Long.MIN_VALUE;
    return level;
  }
}
