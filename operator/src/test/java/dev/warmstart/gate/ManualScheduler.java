package dev.warmstart.gate;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.concurrent.RejectedExecutionException;

/**
 * A {@link GateScheduler} turned by hand, with its own clock: a step given to {@link #execute} runs
 * at once on the caller's thread (after the step running, if any); a scheduled one runs when {@link
 * #advance} moves the clock past its time. So a test replays a race in one exact order.
 */
final class ManualScheduler implements GateScheduler {
  private final ManualClock clock = new ManualClock(Instant.parse("2026-01-01T00:00:00Z"));
  private final Queue<Runnable> ready = new ArrayDeque<>();
  private final PriorityQueue<Timer> timers =
      new PriorityQueue<>(Comparator.comparing(Timer::due).thenComparingLong(Timer::order));
  private long scheduled;
  private boolean running;
  private boolean closed;

  Clock clock() {
    return clock;
  }

  @Override
  public void execute(Runnable step) {
    if (closed) {
      throw new RejectedExecutionException("closed");
    }
    ready.add(step);
    drain();
  }

  @Override
  public Scheduled schedule(Runnable step, Duration delay) {
    if (closed) {
      throw new RejectedExecutionException("closed");
    }
    Timer timer = new Timer(clock.instant().plus(delay), scheduled++, step);
    timers.add(timer);
    return () -> timers.remove(timer);
  }

  @Override
  public void close() {
    closed = true;
    ready.clear();
    timers.clear();
  }

  /**
   * Moves the clock by {@code d}, running every step that falls due on the way, each at its own
   * time.
   */
  void advance(Duration d) {
    Instant end = clock.instant().plus(d);
    while (!timers.isEmpty() && !timers.peek().due().isAfter(end)) {
      Timer next = timers.poll();
      if (next.due().isAfter(clock.instant())) {
        clock.now = next.due();
      }
      ready.add(next.step());
      drain();
    }
    clock.now = end;
  }

  void advanceMillis(long millis) {
    advance(Duration.ofMillis(millis));
  }

  private void drain() {
    if (running) {
      return; // the step running now is followed by the queued ones, never interrupted by them
    }
    running = true;
    try {
      while (!ready.isEmpty()) {
        ready.poll().run();
        while (!timers.isEmpty() && !timers.peek().due().isAfter(clock.instant())) {
          ready.add(timers.poll().step());
        }
      }
    } finally {
      running = false;
    }
  }

  private record Timer(Instant due, long order, Runnable step) {}

  private static final class ManualClock extends Clock {
    Instant now;

    ManualClock(Instant now) {
      this.now = now;
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      throw new UnsupportedOperationException();
    }
  }
}
