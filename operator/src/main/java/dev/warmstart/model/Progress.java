package dev.warmstart.model;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the bytes written so far and formats the periodic progress line (bytes done of total, rate,
 * ETA). The {@link Downloader} calls {@link #report()} on a timer and {@link #finish()} at the end.
 */
final class Progress {
    private final Log log;
    private final long startNanos = System.nanoTime();
    private final AtomicLong done = new AtomicLong();
    /** Sum of the sizes known so far; files of unknown size add theirs when the server announces it. */
    private final AtomicLong total = new AtomicLong();
    private final AtomicInteger unknownSizes = new AtomicInteger();
    private final Map<String, Long> learned = new ConcurrentHashMap<>();
    private final AtomicInteger filesDone = new AtomicInteger();
    private final int files;

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

    /** A file whose listing had no size turned out to be {@code length} bytes long (counted once per path). */
    void sizeLearned(String path, long length) {
        Long previous = learned.put(path, length);
        total.addAndGet(length - (previous == null ? 0 : previous));
        if (previous == null) {
            unknownSizes.decrementAndGet();
        }
    }

    void add(long bytes) {
        done.addAndGet(bytes);
    }

    /** Takes back the bytes of a failed attempt, so that done never counts a byte twice. */
    void discard(long bytes) {
        done.addAndGet(-bytes);
    }

    void fileDone() {
        filesDone.incrementAndGet();
    }

    Duration elapsed() {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    void report() {
        log.info("%s", line());
    }

    String line() {
        long d = done.get();
        long t = total.get();
        boolean totalKnown = unknownSizes.get() == 0;
        double seconds = Math.max(1e-9, elapsed().toNanos() / 1e9);
        double rate = d / seconds;
        StringBuilder b = new StringBuilder();
        b.append(bytes(d)).append(" of ").append(totalKnown ? bytes(t) : "?");
        if (totalKnown && t > 0) {
            b.append(String.format(Locale.ROOT, " (%.1f%%)", 100.0 * d / t));
        }
        b.append(", ").append(filesDone.get()).append(" of ").append(files).append(" files, ")
                .append(bytes((long) rate)).append("/s");
        if (totalKnown && rate > 0 && t >= d) {
            b.append(", ETA ").append(duration((long) Math.ceil((t - d) / rate)));
        }
        return b.toString();
    }

    void finish() {
        double seconds = elapsed().toNanos() / 1e9;
        log.info("done: %d files, %s in %.1f s (%s/s)", filesDone.get(), bytes(done.get()), seconds,
                bytes((long) (done.get() / Math.max(1e-9, seconds))));
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
