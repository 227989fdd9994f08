package dev.warmstart.fetch.command;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.Json;
import dev.warmstart.fetch.Log;
import dev.warmstart.kube.HelperContract;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The single-line JSON that fetch-model leaves in its termination message, which the operator reads
 * for cold-start accounting: on success {@code
 * {"bytes":N,"seconds":S,"files":F,"source":"...","cacheHit":false}}, on failure {@code
 * {"error":"..."}}. Kept under the kubelet's 4096-byte limit.
 */
final class TerminationLog {
  /** The kubelet keeps at most this many bytes of a termination message. */
  static final int LIMIT = 4096;

  private TerminationLog() {}

  static String success(long bytes, Duration elapsed, int files, String source) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put(HelperContract.SUMMARY_BYTES, bytes);
    n.put(
        HelperContract.SUMMARY_SECONDS,
        BigDecimal.valueOf(elapsed.toNanos(), 9).setScale(3, RoundingMode.HALF_UP));
    n.put(HelperContract.SUMMARY_FILES, files);
    n.put(HelperContract.SUMMARY_SOURCE, cut(source, 1024));
    n.put(HelperContract.SUMMARY_CACHE_HIT, false);
    return write(n);
  }

  static String failure(String message) {
    String m = message == null || message.isBlank() ? "unknown error" : message;
    for (int max = 3500; ; max /= 2) {
      ObjectNode n = Json.MAPPER.createObjectNode();
      n.put(HelperContract.SUMMARY_ERROR, cut(m, max));
      String s = write(n);
      if (s.getBytes(StandardCharsets.UTF_8).length < LIMIT) {
        return s;
      }
    }
  }

  /**
   * Writes {@code json} to {@code path}; a missing or read-only path (outside Kubernetes) is only
   * logged.
   */
  static void write(Path path, String json, Log log) {
    if (path == null) {
      return;
    }
    try {
      Files.writeString(path, json, StandardCharsets.UTF_8);
    } catch (IOException | UnsupportedOperationException e) {
      log.info("could not write the termination log %s: %s", path, Failures.describe(e));
    }
  }

  private static String write(ObjectNode n) {
    try {
      return Json.MAPPER.writeValueAsString(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String cut(String s, int max) {
    if (s.length() <= max) {
      return s;
    }
    int end = max;
    if (Character.isHighSurrogate(s.charAt(end - 1))) {
      end--;
    }
    return s.substring(0, end) + "...";
  }
}
