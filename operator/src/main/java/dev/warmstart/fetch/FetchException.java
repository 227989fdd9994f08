package dev.warmstart.fetch;

import java.io.IOException;

/**
 * A failure with a message meant for the person who wrote the manifest: it says what went wrong
 * and, where possible, what to fix. {@link #retryable()} tells the downloader whether another
 * attempt can help (a 5xx, a 429, a cut connection) or not (access denied, not found, a checksum
 * mismatch). Plain {@link IOException}s from the network count as retryable.
 */
public class FetchException extends IOException {
  private static final long serialVersionUID = 1L;

  private final boolean retryable;

  public FetchException(String message, boolean retryable) {
    super(message);
    this.retryable = retryable;
  }

  public FetchException(String message, boolean retryable, Throwable cause) {
    super(message, cause);
    this.retryable = retryable;
  }

  /** A failure that another attempt will not fix. */
  public static FetchException fatal(String message) {
    return new FetchException(message, false);
  }

  public boolean retryable() {
    return retryable;
  }

  /** Whether another attempt may succeed after {@code e}. */
  public static boolean isRetryable(IOException e) {
    return !(e instanceof FetchException f) || f.retryable();
  }
}
