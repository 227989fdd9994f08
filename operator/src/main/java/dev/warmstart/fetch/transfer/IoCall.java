package dev.warmstart.fetch.transfer;

import java.io.IOException;

/**
 * A network or disk call that may fail with an {@link IOException}: what {@link Retries} repeats.
 */
@FunctionalInterface
interface IoCall<T> {
  T call() throws IOException;
}
