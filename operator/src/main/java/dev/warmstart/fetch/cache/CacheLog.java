package dev.warmstart.fetch.cache;

/** One line per decision to the container's log (fetch-model's own log). */
@FunctionalInterface
public interface CacheLog {
  void info(String format, Object... args);
}
