package dev.warmstart.fetch.source;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Serves one file over HTTP with byte ranges (206, Content-Range, a strong ETag, If-Range), and
 * counts and breaks what tests need: requests per range, the most requests in flight at once,
 * faults per range and attempt, a server that fails for good after some parts, one that ignores
 * Range.
 */
final class RangedHandler implements HttpHandler {
  private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

  enum Fault {
    NONE,
    /** Announces the part's length, sends half of it, drops the connection. */
    DROP_MIDWAY,
    /** A complete response that is shorter than the range asked for. */
    SHORT_BODY,
    /** 403, as an expired presigned URL gets. */
    FORBIDDEN,
  }

  volatile byte[] content;
  volatile String etag = "\"v1\"";
  volatile boolean ignoreRange;
  volatile long delayMillis;

  /** Ranged responses served in full before every further request gets a 503 (-1: never). */
  volatile int failAfter = -1;

  /** The fault for a range (by its first byte) at the nth (1-based) request for it. */
  volatile BiFunction<Long, Integer, Fault> faults = (offset, attempt) -> Fault.NONE;

  /** Requests by "first-last" range, "whole" without one. */
  final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();

  final AtomicInteger served = new AtomicInteger();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger maxInFlight = new AtomicInteger();

  RangedHandler(byte[] content) {
    this.content = content;
  }

  void reset() {
    requests.clear();
    served.set(0);
    maxInFlight.set(0);
    faults = (offset, attempt) -> Fault.NONE;
    failAfter = -1;
    ignoreRange = false;
    delayMillis = 0;
    etag = "\"v1\"";
  }

  int total() {
    return requests.values().stream().mapToInt(AtomicInteger::get).sum();
  }

  /**
   * Requests for ranges that start where a part starts: one per part fetched, whatever shares of
   * the last parts in flight other slots took over (those start inside a part).
   */
  int partRequests(long partSize) {
    return requests.entrySet().stream()
        .filter(
            e ->
                !e.getKey().equals("whole")
                    && Long.parseLong(e.getKey().substring(0, e.getKey().indexOf('-'))) % partSize
                        == 0)
        .mapToInt(e -> e.getValue().get())
        .sum();
  }

  int count(long first, long last) {
    AtomicInteger n = requests.get(first + "-" + last);
    return n == null ? 0 : n.get();
  }

  /**
   * Whether this thread's request still counts as in flight. A request stops counting before its
   * last byte is written: once the client has that byte it may send its next request, which must
   * not overlap this one's bookkeeping (on a busy machine the handler's own end can come after the
   * next request's start).
   */
  private final ThreadLocal<Boolean> counted = ThreadLocal.withInitial(() -> false);

  @Override
  public void handle(HttpExchange ex) throws IOException {
    maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
    counted.set(true);
    try {
      serve(ex);
    } finally {
      leave();
      ex.close();
    }
  }

  private void leave() {
    if (counted.get()) {
      counted.set(false);
      inFlight.decrementAndGet();
    }
  }

  private void serve(HttpExchange ex) throws IOException {
    byte[] body = content;
    ex.getResponseHeaders().add("ETag", etag);
    ex.getResponseHeaders().add("Accept-Ranges", "bytes");
    String range = ex.getRequestHeaders().getFirst("Range");
    String ifRange = ex.getRequestHeaders().getFirst("If-Range");
    Matcher m = range == null ? null : RANGE.matcher(range);
    if (ignoreRange || m == null || !m.matches() || (ifRange != null && !ifRange.equals(etag))) {
      requests.computeIfAbsent("whole", k -> new AtomicInteger()).incrementAndGet();
      send(ex, 200, body, 0, body.length);
      return;
    }
    long first = Long.parseLong(m.group(1));
    long last = Math.min(Long.parseLong(m.group(2)), body.length - 1L);
    if (first >= body.length) {
      requests.computeIfAbsent("unsatisfiable", k -> new AtomicInteger()).incrementAndGet();
      ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
      ex.sendResponseHeaders(416, -1);
      return;
    }
    int attempt =
        requests.computeIfAbsent(first + "-" + last, k -> new AtomicInteger()).incrementAndGet();
    if (failAfter >= 0 && served.get() >= failAfter) {
      byte[] message = "overloaded".getBytes();
      send(ex, 503, message, 0, message.length);
      return;
    }
    if (delayMillis > 0) {
      sleep(delayMillis);
    }
    int length = (int) (last - first + 1);
    ex.getResponseHeaders().add("Content-Range", "bytes " + first + "-" + last + "/" + body.length);
    switch (faults.apply(first, attempt)) {
      case DROP_MIDWAY -> {
        ex.sendResponseHeaders(206, length);
        OutputStream out = ex.getResponseBody();
        out.write(body, (int) first, length / 2);
        out.flush();
        throw new IOException(
            "test: connection dropped mid-part"); // the JDK server closes the connection
      }
      case SHORT_BODY -> send(ex, 206, body, (int) first, length / 2);
      case FORBIDDEN -> {
        ex.getResponseHeaders().remove("Content-Range");
        byte[] message = "Request has expired".getBytes();
        send(ex, 403, message, 0, message.length);
      }
      case NONE -> {
        send(ex, 206, body, (int) first, length);
        served.incrementAndGet();
      }
    }
  }

  private void send(HttpExchange ex, int status, byte[] body, int offset, int length)
      throws IOException {
    ex.sendResponseHeaders(status, length == 0 ? -1 : length);
    try (OutputStream out = ex.getResponseBody()) {
      if (length > 0) {
        out.write(body, offset, length - 1);
        out.flush();
      }
      leave();
      if (length > 0) {
        out.write(body, offset + length - 1, 1);
      }
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
