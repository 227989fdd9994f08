package dev.warmstart.fetch;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * fetch-model's JSON mapper, made when first used rather than when a class that may need it loads:
 * building the first mapper costs some 60 ms of a fresh JVM, and fetch-model starts on every cold
 * start's path, where nothing should come before its first request that does not have to.
 */
public final class Json {
  public static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}
}
