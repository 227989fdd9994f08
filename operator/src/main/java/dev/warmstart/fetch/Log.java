package dev.warmstart.fetch;

import java.io.PrintWriter;
import java.util.Locale;

/** Progress and decisions, one line each, to the container's log. Never given credentials. */
public final class Log {
  private final PrintWriter out;

  public Log(PrintWriter out) {
    this.out = out;
  }

  public synchronized void info(String format, Object... args) {
    out.println("fetch-model: " + String.format(Locale.ROOT, format, args));
    out.flush();
  }
}
