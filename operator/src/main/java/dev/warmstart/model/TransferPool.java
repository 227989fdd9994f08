package dev.warmstart.model;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The slots for network transfers, shared by all files: every request (a probe, a part, a whole-file stream)
 * runs on one of {@code concurrency} threads, so that many at once are in flight and never more. Also
 * watches the transfers in flight: one that receives nothing for the stall timeout is aborted (its stream
 * closed, so that its reader fails and retries), and the first failure of the run aborts them all.
 */
final class TransferPool implements Closeable {
    private final ExecutorService slots;
    private final ScheduledExecutorService timer;
    private final Duration stallTimeout;
    private final Set<Watch> inFlight = ConcurrentHashMap.newKeySet();
    private final AtomicReference<IOException> failure = new AtomicReference<>();

    TransferPool(int concurrency, Duration stallTimeout, ScheduledExecutorService timer) {
        this.slots = Executors.newFixedThreadPool(concurrency, threads("fetch-model-transfer"));
        this.timer = timer;
        this.stallTimeout = stallTimeout;
        long every = Math.max(50, Math.min(1000, stallTimeout.toMillis() / 4));
        timer.scheduleWithFixedDelay(this::checkStalls, every, every, TimeUnit.MILLISECONDS);
    }

    static ThreadFactory threads(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Runs {@code task} in a free slot; once the run has failed, queued tasks fail with {@link Aborted}. */
    <T> CompletableFuture<T> submit(Downloader.IoCall<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        slots.execute(() -> {
            try {
                checkNotAborted();
                result.complete(task.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /** Fails the run with {@code cause} (the first cause wins) and aborts the transfers in flight. */
    void abort(IOException cause) {
        if (failure.compareAndSet(null, cause)) {
            for (Watch w : inFlight) {
                w.abort();
            }
        }
    }

    /** The failure that stopped the run, or null. */
    IOException failure() {
        return failure.get();
    }

    boolean aborted() {
        return failure.get() != null;
    }

    void checkNotAborted() throws Aborted {
        if (aborted()) {
            throw new Aborted();
        }
    }

    /** Watches {@code body} while it is read; close the watch when done with the body. */
    Watch watch(ModelSource.Body body) {
        Watch w = new Watch(body);
        inFlight.add(w);
        if (aborted()) {
            w.abort();
        }
        return w;
    }

    private void checkStalls() {
        long now = System.nanoTime();
        for (Watch w : inFlight) {
            if (!w.stalled && now - w.lastData > stallTimeout.toNanos()) {
                w.stalled = true;
                w.abort();
            }
        }
    }

    Duration stallTimeout() {
        return stallTimeout;
    }

    @Override
    public void close() {
        slots.shutdownNow();
        try {
            slots.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A transfer left undone because another one failed the run. */
    static final class Aborted extends FetchException {
        private static final long serialVersionUID = 1L;

        Aborted() {
            super("aborted: another transfer failed", false);
        }
    }

    /** One body being read: when it last delivered data, and whether it was cut for stalling. */
    final class Watch implements AutoCloseable {
        private final ModelSource.Body body;
        private volatile long lastData = System.nanoTime();
        private volatile boolean stalled;

        private Watch(ModelSource.Body body) {
            this.body = body;
        }

        void dataArrived() {
            lastData = System.nanoTime();
        }

        boolean stalled() {
            return stalled;
        }

        private void abort() {
            // Some streams (HttpURLConnection's) lock close() against a blocked read: close elsewhere.
            Thread t = new Thread(() -> {
                try {
                    body.close();
                } catch (IOException | RuntimeException ignored) {
                    // the reader fails either way
                }
            }, "fetch-model-abort");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() {
            inFlight.remove(this);
        }
    }
}
