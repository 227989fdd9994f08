package dev.warmstart.model;

import java.io.PrintWriter;
import java.util.Locale;

/** Progress and decisions, one line each, to the container's log. Never given credentials. */
final class Log {
    private final PrintWriter out;

    Log(PrintWriter out) {
        this.out = out;
    }

    synchronized void info(String format, Object... args) {
        out.println("fetch-model: " + String.format(Locale.ROOT, format, args));
        out.flush();
    }
}
