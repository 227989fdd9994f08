package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.source.ModelSource;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * The slots for network transfers, shared by all files: every request (a probe, a part, a
 * whole-file stream) runs on one of the slots' threads, so that many at once are in flight and
 * never more: a fixed number, or as many as a {@link ConcurrencyProbe} finds worth it. Also watches
 * the transfers in flight: one that receives nothing for the stall timeout is aborted (its stream
 * closed, so that its reader fails and retries), and the first failure of the run aborts them all.
 * A slot that runs out of queued work takes over a share of the transfer in flight with the most
 * left ({@link #shareOut}).
 */
final class TransferPool implements Closeable {
  private final ThreadPoolExecutor slots;
  private final Duration stallTimeout;
  private final Set<Watch> inFlight = ConcurrentHashMap.newKeySet();
  private final Set<Shareable> offered = ConcurrentHashMap.newKeySet();
  private final boolean sharing;
  private final AtomicReference<IOException> failure = new AtomicReference<>();

  /**
   * A pool whose number of slots follows {@code probe}, fed every 250 ms with {@code transferred}
   * (bytes so far); with a null probe, {@code concurrency} slots. {@code sharing}: whether {@link
   * #offer} takes offers.
   */
  TransferPool(
      int concurrency,
      Duration stallTimeout,
      ScheduledExecutorService timer,
      ConcurrencyProbe probe,
      LongSupplier transferred,
      boolean sharing) {
    int slotCount = probe != null ? probe.level() : concurrency;
    this.slots =
        new ThreadPoolExecutor(
            slotCount,
            slotCount,
            0,
            TimeUnit.MILLISECONDS,
            new LinkedBlockingQueue<>(),
            threads("fetch-model-transfer"));
    this.stallTimeout = stallTimeout;
    this.sharing = sharing;
    long every = Math.max(50, Math.min(1000, stallTimeout.toMillis() / 4));
    timer.scheduleWithFixedDelay(this::checkStalls, every, every, TimeUnit.MILLISECONDS);
    if (probe != null && !probe.settled()) {
      timer.scheduleWithFixedDelay(
          () -> resize(probe.observe(System.nanoTime(), transferred.getAsLong())),
          250,
          250,
          TimeUnit.MILLISECONDS);
    }
  }

  /** The number of slots now. */
  int slots() {
    return slots.getMaximumPoolSize();
  }

  /**
   * More slots start on the queued tasks at once; fewer take effect as transfers finish (none is
   * cut).
   */
  private synchronized void resize(int n) {
    if (n > slots.getMaximumPoolSize()) {
      slots.setMaximumPoolSize(n);
      slots.setCorePoolSize(n);
    } else if (n < slots.getMaximumPoolSize()) {
      slots.setCorePoolSize(n);
      slots.setMaximumPoolSize(n);
    }
  }

  static ThreadFactory threads(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * Runs {@code task} in a free slot; once the run has failed, queued tasks fail with {@link
   * Aborted}. When the task is done and nothing else is queued, the slot goes on with a share of a
   * transfer in flight ({@link #shareOut}).
   */
  <T> CompletableFuture<T> submit(IoCall<T> task) {
    CompletableFuture<T> result = new CompletableFuture<>();
    slots.execute(
        () -> {
          try {
            checkNotAborted();
            result.complete(task.call());
          } catch (Throwable e) {
            result.completeExceptionally(e);
          }
          shareOut();
        });
    return result;
  }

  /**
   * A transfer in flight whose remaining bytes another slot can take over (a part's byte range, see
   * {@link RangedDownload}).
   */
  interface Shareable {
    /** Bytes still to come. */
    long remaining();

    /**
     * Hands the upper part of what is left to a new transfer, returned to run; null when too little
     * is left.
     */
    Runnable split();
  }

  /** A transfer's offer to share; closing it withdraws the offer. */
  interface Offer extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Offers {@code transfer}'s remaining bytes to slots that run out of queued work, until the offer
   * is closed; a slot idle now looks at it at once.
   */
  Offer offer(Shareable transfer) {
    if (!sharing) {
      return () -> {};
    }
    offered.add(transfer);
    if (slots.getQueue().isEmpty() && slots.getActiveCount() < slots.getMaximumPoolSize()) {
      shareWhenIdle();
    }
    return () -> offered.remove(transfer);
  }

  /**
   * Has a slot look for a share once it has nothing else to do: for transfers that just became
   * shareable.
   */
  void shareWhenIdle() {
    if (sharing && !aborted()) {
      try {
        slots.execute(this::shareOut);
      } catch (RejectedExecutionException e) {
        // the pool is closing: nothing left to share
      }
    }
  }

  /**
   * In a slot with nothing queued: takes over half of what the transfer with the most left still
   * has to come, and again while nothing is queued. At the end of a download the slots then finish
   * together rather than leave the link to the last few capped connections.
   */
  private void shareOut() {
    while (!aborted() && slots.getQueue().isEmpty()) {
      Shareable largest = null;
      long most = 0;
      for (Shareable s : offered) {
        long r = s.remaining();
        if (r > most) {
          most = r;
          largest = s;
        }
      }
      Runnable share = largest == null ? null : largest.split();
      if (share == null) {
        return;
      }
      share.run();
    }
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
      Thread t =
          new Thread(
              () -> {
                try {
                  body.close();
                } catch (IOException | RuntimeException ignored) {
                  // the reader fails either way
                }
              },
              "fetch-model-abort");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() {
      inFlight.remove(this);
    }
  }
}
