package dev.warmstart.testing;

import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** Polls until what the controllers write shows up: they act asynchronously, through watches. */
public final class Await {
  private static final long TIMEOUT_SECONDS = 30;

  private Await() {}

  public static <T> T until(Supplier<T> get, Predicate<T> condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
    T last = null;
    while (System.nanoTime() < deadline) {
      last = get.get();
      if (condition.test(last)) {
        return last;
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
    throw new AssertionError(
        "condition not met within " + TIMEOUT_SECONDS + "s; last seen: " + last);
  }
}
