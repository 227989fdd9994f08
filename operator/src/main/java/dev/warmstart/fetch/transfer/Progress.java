package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.source.RemoteFile;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the bytes written so far and formats the periodic progress line (bytes done of total, rate
 * over the last interval and on average, ETA). The {@link Downloader} calls {@link #report()} on a
 * timer and {@link #finish()} at the end. Bytes already on disk (files in place, parts of a resumed
 * download) count as done but not towards the rate.
 */
final class Progress {
  private final Log log;
  private final long startNanos = System.nanoTime();

  /** Bytes transferred by this run (net of failed attempts). */
  private final AtomicLong transferred = new AtomicLong();

  /** Bytes found on disk: not transferred, but done. */
  private final AtomicLong reused = new AtomicLong();

  /**
   * Sum of the sizes known so far; files of unknown size add theirs when the server announces it.
   */
  private final AtomicLong total = new AtomicLong();

  private final AtomicInteger unknownSizes = new AtomicInteger();
  private final Map<String, Long> learned = new ConcurrentHashMap<>();
  private final AtomicInteger filesDone = new AtomicInteger();
  private final int files;
  private long lastNanos = startNanos;
  private long lastTransferred;

  Progress(Log log, Iterable<RemoteFile> listing) {
    this.log = log;
    int n = 0;
    for (RemoteFile f : listing) {
      n++;
      if (f.sizeKnown()) {
        total.addAndGet(f.size());
      } else {
        unknownSizes.incrementAndGet();
      }
    }
    this.files = n;
  }

  /**
   * A file whose listing had no size turned out to be {@code length} bytes long (counted once per
   * path).
   */
  void sizeLearned(String path, long length) {
    Long previous = learned.put(path, length);
    total.addAndGet(length - (previous == null ? 0 : previous));
    if (previous == null) {
      unknownSizes.decrementAndGet();
    }
  }

  void add(long bytes) {
    transferred.addAndGet(bytes);
  }

  /** Takes back the bytes of a failed attempt, so that done never counts a byte twice. */
  void discard(long bytes) {
    transferred.addAndGet(-bytes);
  }

  /** Bytes that were already on disk. */
  void reused(long bytes) {
    reused.addAndGet(bytes);
  }

  void fileDone() {
    filesDone.incrementAndGet();
  }

  long transferred() {
    return transferred.get();
  }

  Duration elapsed() {
    return Duration.ofNanos(System.nanoTime() - startNanos);
  }

  void report() {
    log.info("%s", line());
  }

  /** "1.2 GiB of 15.3 GiB (7.8%), 2 of 9 files, 1.3 GiB/s (average 1.1 GiB/s), ETA 13s" */
  synchronized String line() {
    long now = System.nanoTime();
    long moved = transferred.get();
    long d = moved + reused.get();
    long t = total.get();
    boolean totalKnown = unknownSizes.get() == 0;
    double average = moved / Math.max(1e-9, (now - startNanos) / 1e9);
    double current = (moved - lastTransferred) / Math.max(1e-9, (now - lastNanos) / 1e9);
    lastNanos = now;
    lastTransferred = moved;
    StringBuilder b = new StringBuilder();
    b.append(bytes(d)).append(" of ").append(totalKnown ? bytes(t) : "?");
    if (totalKnown && t > 0) {
      b.append(String.format(Locale.ROOT, " (%.1f%%)", 100.0 * d / t));
    }
    b.append(", ")
        .append(filesDone.get())
        .append(" of ")
        .append(files)
        .append(" files, ")
        .append(bytes((long) Math.max(0, current)))
        .append("/s (average ")
        .append(bytes((long) Math.max(0, average)))
        .append("/s)");
    if (totalKnown && average > 0 && t >= d) {
      b.append(", ETA ").append(duration((long) Math.ceil((t - d) / average)));
    }
    return b.toString();
  }

  void finish() {
    double seconds = elapsed().toNanos() / 1e9;
    long moved = transferred.get();
    log.info(
        "done: %d files, %s in %.1f s (%s/s)%s",
        filesDone.get(),
        bytes(moved),
        seconds,
        bytes((long) (moved / Math.max(1e-9, seconds))),
        reused.get() > 0 ? "; " + bytes(reused.get()) + " were already on disk" : "");
  }

  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double v = n;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }

  static String duration(long seconds) {
    if (seconds < 60) {
      return seconds + "s";
    }
    if (seconds < 3600) {
      return String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
    }
    return String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
  }
}
