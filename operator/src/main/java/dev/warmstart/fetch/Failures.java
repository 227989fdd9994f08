package dev.warmstart.fetch;

import java.io.IOException;
import java.util.concurrent.ExecutionException;

/** Turns what went wrong into what fetch-model throws and says. */
public final class Failures {
  private Failures() {}

  /**
   * What a task's {@link ExecutionException} stands for, as the IOException to throw; an Error is
   * rethrown.
   */
  public static IOException unwrap(ExecutionException e) {
    Throwable cause = e.getCause();
    if (cause instanceof Error error) {
      throw error;
    }
    return cause instanceof IOException io ? io : new IOException(describe(cause), cause);
  }

  /**
   * A message for the log: a {@link FetchException}'s own, or another exception's with its type.
   */
  public static String describe(Throwable e) {
    if (e instanceof FetchException) {
      return e.getMessage();
    }
    String m = e.getMessage();
    return m == null || m.isBlank()
        ? e.getClass().getSimpleName()
        : m + " (" + e.getClass().getSimpleName() + ")";
  }
}
