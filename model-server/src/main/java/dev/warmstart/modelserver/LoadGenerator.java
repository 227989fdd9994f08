package dev.warmstart.modelserver;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code model-server load --url URL --concurrency N --duration 60s [--max-tokens N]}: keeps N
 * completion requests in flight against URL (a base such as {@code http://svc:8000}, or the
 * completions URL itself) for the duration (0 or absent: until killed), printing one line per
 * second. Each request opens its own connection unless {@code --keep-alive}, so that replicas added
 * behind a Service get their share of the load. Exits 0.
 */
final class LoadGenerator {

  static final class Options {
    URL url;
    int concurrency = 1;
    long durationMs;
    int maxTokens = ModelServer.DEFAULT_MAX_TOKENS;
    String prompt = "Tell me how a cold start on a GPU node is made fast.";
    boolean keepAlive;

    static Options parse(String... args) throws ModelServer.UsageException {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        if (arg.equals("--keep-alive")) {
          o.keepAlive = true;
          continue;
        }
        int eq = arg.indexOf('=');
        String name = eq < 0 ? arg : arg.substring(0, eq);
        if (!name.startsWith("--")) {
          throw new ModelServer.UsageException("load: unexpected argument '" + arg + "'");
        }
        String value;
        if (eq >= 0) {
          value = arg.substring(eq + 1);
        } else if (i + 1 < args.length) {
          value = args[++i];
        } else {
          throw new ModelServer.UsageException("load: " + name + " needs a value");
        }
        switch (name) {
          case "--url" -> o.url = completionsUrl(value);
          case "--concurrency" ->
              o.concurrency = (int) ModelServer.Options.number(name, value, 1, 10_000);
          case "--duration" -> o.durationMs = durationMs(value);
          case "--max-tokens" ->
              o.maxTokens =
                  (int) ModelServer.Options.number(name, value, 1, ModelServer.MAX_MAX_TOKENS);
          case "--prompt" -> o.prompt = value;
          default -> throw new ModelServer.UsageException("load: unknown option " + name);
        }
      }
      if (o.url == null) {
        throw new ModelServer.UsageException("load: --url is required");
      }
      return o;
    }

    /** {@code http://host:port} (or with a path ending in /v1) means its /v1/completions. */
    static URL completionsUrl(String value) throws ModelServer.UsageException {
      try {
        URI uri = new URI(value);
        if ((!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()))
            || uri.getHost() == null) {
          throw new ModelServer.UsageException(
              "load: --url must be an http(s) URL, not '" + value + "'");
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        if (!path.endsWith("/completions")) {
          path = path.replaceAll("/+$", "");
          path = path.endsWith("/v1") ? path + "/completions" : path + "/v1/completions";
        }
        return new URI(uri.getScheme(), uri.getRawAuthority(), path, null, null).toURL();
      } catch (java.net.URISyntaxException
          | java.net.MalformedURLException
          | IllegalArgumentException e) {
        throw new ModelServer.UsageException("load: bad --url '" + value + "': " + e.getMessage());
      }
    }

    /** {@code 60s}, {@code 2m}, {@code 1h}, {@code 500ms} or plain seconds; 0 is no limit. */
    static long durationMs(String value) throws ModelServer.UsageException {
      String v = value.trim().toLowerCase(Locale.ROOT);
      long unit = 1000;
      if (v.endsWith("ms")) {
        unit = 1;
        v = v.substring(0, v.length() - 2);
      } else if (v.endsWith("s")) {
        v = v.substring(0, v.length() - 1);
      } else if (v.endsWith("m")) {
        unit = 60_000;
        v = v.substring(0, v.length() - 1);
      } else if (v.endsWith("h")) {
        unit = 3_600_000;
        v = v.substring(0, v.length() - 1);
      }
      try {
        long n = Long.parseLong(v);
        if (n >= 0 && n <= Long.MAX_VALUE / unit) {
          return n * unit;
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new ModelServer.UsageException(
          "load: --duration takes e.g. 60s, 5m or 0, not '" + value + "'");
    }
  }

  private final Options options;
  private final PrintStream out;
  private final byte[] body;
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong ok = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicReference<String> lastError = new AtomicReference<>();
  private final long start = System.nanoTime();
  private volatile boolean stopped;

  LoadGenerator(Options options, PrintStream out) {
    this.options = options;
    this.out = out;
    if (!options.keepAlive) {
      // A "Connection: close" header alone is not enough: HttpURLConnection may still pool the
      // connection and reuse it after the server closed it (a reset). Read once, JVM-wide.
      System.setProperty("http.keepAlive", "false");
    }
    this.body =
        ("{\"prompt\":" + Json.quote(options.prompt) + ",\"max_tokens\":" + options.maxTokens + "}")
            .getBytes(StandardCharsets.UTF_8);
  }

  /** The {@code load} subcommand: its exit code. */
  static int cli(String[] args) {
    Options options;
    try {
      options = Options.parse(args);
    } catch (ModelServer.UsageException e) {
      System.err.println("model-server: " + e.getMessage());
      System.err.println(ModelServer.USAGE);
      return 2;
    }
    LoadGenerator load = new LoadGenerator(options, System.out);
    // SIGTERM (the pod deleted, or a duration of 0): a last line, then exit 0.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  if (!load.stopped) {
                    load.stopped = true;
                    load.report("stopped");
                  }
                  Runtime.getRuntime().halt(0);
                },
                "sigterm"));
    load.run();
    return 0;
  }

  /** Runs for the duration (forever when 0); the workers stop after their current request. */
  void run() {
    out.printf(
        "load: %d in flight against %s for %s, max_tokens %d%n",
        options.concurrency,
        options.url,
        options.durationMs == 0 ? "ever" : options.durationMs + " ms",
        options.maxTokens);
    out.flush();
    for (int w = 0; w < options.concurrency; w++) {
      Thread t = new Thread(this::work, "load-" + w);
      t.setDaemon(true);
      t.start();
    }
    long deadline =
        options.durationMs == 0 ? Long.MAX_VALUE : start + options.durationMs * 1_000_000L;
    long tick = start;
    while (!stopped) {
      tick += 1_000_000_000L;
      long until = Math.min(tick, deadline);
      long wait = until - System.nanoTime();
      if (wait > 0) {
        try {
          Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      if (until == deadline) {
        break;
      }
      report(null);
    }
    if (!stopped) {
      stopped = true;
      report("done");
    }
  }

  long ok() {
    return ok.get();
  }

  long failed() {
    return failed.get();
  }

  private void report(String end) {
    String error = lastError.getAndSet(null);
    out.printf(
        Locale.ROOT,
        "load: t=%.0fs sent=%d ok=%d failed=%d in_flight=%d%s%s%n",
        (System.nanoTime() - start) / 1e9,
        sent.get(),
        ok.get(),
        failed.get(),
        inFlight.get(),
        error == null ? "" : " last_error=" + Json.quote(error),
        end == null ? "" : " " + end);
    out.flush();
  }

  private void work() {
    while (!stopped) {
      sent.incrementAndGet();
      inFlight.incrementAndGet();
      String error;
      try {
        error = request();
      } finally {
        inFlight.decrementAndGet();
      }
      if (error == null) {
        ok.incrementAndGet();
      } else {
        failed.incrementAndGet();
        lastError.set(error);
        try {
          Thread.sleep(100); // no busy loop against a server that is down
        } catch (InterruptedException e) {
          return;
        }
      }
    }
  }

  /** One completion: null when it answered 200, else why not. */
  private String request() {
    HttpURLConnection c = null;
    try {
      c = (HttpURLConnection) options.url.openConnection();
      c.setConnectTimeout(10_000);
      c.setReadTimeout(600_000);
      c.setRequestMethod("POST");
      c.setDoOutput(true);
      c.setFixedLengthStreamingMode(body.length);
      c.setRequestProperty("Content-Type", "application/json");
      if (!options.keepAlive) {
        c.setRequestProperty("Connection", "close");
      }
      try (OutputStream o = c.getOutputStream()) {
        o.write(body);
      }
      int code = c.getResponseCode();
      try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
        if (in != null) {
          in.readAllBytes();
        }
      }
      return code == 200 ? null : "HTTP " + code;
    } catch (IOException e) {
      if (c != null) {
        c.disconnect();
      }
      return e.toString();
    }
  }
}
