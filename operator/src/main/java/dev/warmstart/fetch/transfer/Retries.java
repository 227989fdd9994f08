package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;

/**
 * Runs a network call up to {@link FetchSettings#attempts()} times while it fails in a retryable
 * way, waiting between tries with exponential backoff and jitter (so that many parts failing
 * together do not retry in lockstep). Gives up early once {@code cancelled} says the run has failed
 * anyway.
 */
final class Retries {
  private final FetchSettings settings;
  private final Log log;
  private final BooleanSupplier cancelled;

  Retries(FetchSettings settings, Log log, BooleanSupplier cancelled) {
    this.settings = settings;
    this.log = log;
    this.cancelled = cancelled;
  }

  <T> T call(String what, IoCall<T> call) throws IOException {
    for (int attempt = 1; ; attempt++) {
      try {
        return call.call();
      } catch (IOException e) {
        if (e instanceof InterruptedIOException || !FetchException.isRetryable(e)) {
          throw e;
        }
        if (attempt >= settings.attempts()) {
          throw new FetchException(
              what + " failed " + attempt + " times; last error: " + Failures.describe(e),
              false,
              e);
        }
        long base = settings.backoff().toMillis() << (attempt - 1);
        long wait = base + ThreadLocalRandom.current().nextLong(base / 4 + 1);
        log.info(
            "%s: attempt %d of %d failed: %s; retrying in %.1f s",
            what, attempt, settings.attempts(), Failures.describe(e), wait / 1000.0);
        sleep(what, wait);
      }
    }
  }

  private void sleep(String what, long millis) throws IOException {
    long end = System.nanoTime() + millis * 1_000_000;
    try {
      for (long left = millis;
          left > 0 && !cancelled.getAsBoolean();
          left = (end - System.nanoTime()) / 1_000_000) {
        Thread.sleep(Math.min(left, 100));
      }
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting to retry " + what);
    }
  }
}
