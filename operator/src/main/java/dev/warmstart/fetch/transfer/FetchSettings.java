package dev.warmstart.fetch.transfer;

import java.time.Duration;

/**
 * How a {@link Downloader} fetches: retries, timings, concurrency and part size.
 *
 * @param attempts tries per part (and per whole-file stream, and for the listing)
 * @param backoff wait after the first failed try; doubles after each further one
 * @param progressInterval how often to log a progress line
 * @param stallTimeout abort a transfer that receives no byte for this long
 * @param concurrency requests in flight at once, across all files
 * @param partSize bytes per ranged request
 * @param shareTail whether slots that run out of queued parts take over shares of the parts still
 *     in flight (see {@link RangedDownload}); off only where a test counts requests per part
 */
public record FetchSettings(
    int attempts,
    Duration backoff,
    Duration progressInterval,
    Duration stallTimeout,
    int concurrency,
    long partSize,
    boolean shareTail) {
  /**
   * {@link #concurrency} that means: as many as fill the link, found by a {@link ConcurrencyProbe}.
   */
  public static final int AUTO = 0;

  /**
   * The most requests in flight under {@link #AUTO}: enough to fill a 100 Gbps link from S3 (each
   * connection gives some 50–100 MB/s).
   */
  public static final int AUTO_MAX = 256;

  static final int DEFAULT_CONCURRENCY = AUTO;

  /**
   * Large enough that per-request latency hardly counts (S3's first byte comes in tens of
   * milliseconds), small enough that the parts still in flight when the queue runs dry end close
   * together: at the end of a download each holds a connection capped far below the link (measured:
   * 16 MiB parts left the link half idle for over a second).
   */
  static final long DEFAULT_PART_SIZE = 8L << 20;

  public FetchSettings(
      int attempts, Duration backoff, Duration progressInterval, Duration stallTimeout) {
    this(attempts, backoff, progressInterval, stallTimeout, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE);
  }

  public FetchSettings(
      int attempts,
      Duration backoff,
      Duration progressInterval,
      Duration stallTimeout,
      int concurrency,
      long partSize) {
    this(attempts, backoff, progressInterval, stallTimeout, concurrency, partSize, true);
  }

  public static FetchSettings defaults() {
    return new FetchSettings(
        5, Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(60));
  }

  public FetchSettings withConcurrency(int n) {
    return new FetchSettings(
        attempts, backoff, progressInterval, stallTimeout, n, partSize, shareTail);
  }

  public FetchSettings withProgressInterval(Duration interval) {
    return new FetchSettings(
        attempts, backoff, interval, stallTimeout, concurrency, partSize, shareTail);
  }

  public FetchSettings withPartSize(long bytes) {
    return new FetchSettings(
        attempts, backoff, progressInterval, stallTimeout, concurrency, bytes, shareTail);
  }

  public FetchSettings withoutTailSharing() {
    return new FetchSettings(
        attempts, backoff, progressInterval, stallTimeout, concurrency, partSize, false);
  }
}
