package dev.warmstart.gate;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where the {@link GateDecider}'s steps run, one at a time and never two at once: one thread in the
 * operator, a queue turned by hand in tests, so that races and timeouts are replayed exactly.
 */
public interface GateScheduler extends AutoCloseable {
  /**
   * Runs {@code step} soon, after the steps already queued; throws {@link
   * RejectedExecutionException} once closed.
   */
  void execute(Runnable step);

  /** Runs {@code step} after {@code delay}, unless cancelled first. */
  Scheduled schedule(Runnable step, Duration delay);

  /** Stops running steps; queued and scheduled ones are dropped. */
  @Override
  void close();

  /** A step scheduled to run later. */
  interface Scheduled {
    void cancel();
  }

  /** One daemon thread named {@code name}. */
  static GateScheduler singleThread(String name) {
    AtomicInteger n = new AtomicInteger();
    ScheduledExecutorService executor =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, name + "-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    return new GateScheduler() {
      @Override
      public void execute(Runnable step) {
        executor.execute(step);
      }

      @Override
      public Scheduled schedule(Runnable step, Duration delay) {
        ScheduledFuture<?> f = executor.schedule(step, delay.toMillis(), TimeUnit.MILLISECONDS);
        return () -> f.cancel(false);
      }

      @Override
      public void close() {
        executor.shutdownNow();
      }
    };
  }
}
