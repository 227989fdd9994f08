package dev.warmstart.modelserver;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in for vLLM's OpenAI-compatible server, for tests on real nodes: it loads (reads and
 * verifies) a model directory, answers {@code /health}, {@code /v1/models}, {@code /v1/completions}
 * and {@code /metrics} with vLLM's metric names, and generates at a fixed time per token with at
 * most {@code --max-num-seqs} requests running at once (the rest wait, as in vLLM's scheduler).
 * {@code model-server load ...} is the load generator ({@link LoadGenerator}).
 */
public final class ModelServer implements HttpHandler, AutoCloseable {

  static final String USAGE =
      String.join(
          "\n",
          "usage: model-server [--host ADDR] [--port 8000] [--load-delay-ms-per-gib N] [--token-delay-ms 20]",
          "                    [--max-num-seqs 4] [--served-model-name NAME] MODEL_DIR | --model MODEL_DIR",
          "       model-server load --url URL [--concurrency 1] [--duration 60s] [--max-tokens 16]",
          "                         [--prompt TEXT] [--keep-alive]",
          "Serves OpenAI-style completions from MODEL_DIR once every file in it is read (and matches",
          "checksums.sha256 when present). Exit codes: 1 the model cannot be loaded, 2 bad arguments.");

  static final int DEFAULT_MAX_TOKENS = 16;
  static final int MAX_MAX_TOKENS = 1 << 20;
  private static final int MAX_BODY = 16 << 20;
  private static final int THREADS = 256;
  private static final String JSON = "application/json";
  private static final String[] WORDS = {
    "the",
    "model",
    "is",
    "warm",
    "and",
    "ready",
    "to",
    "serve",
    "tokens",
    "fast",
    "on",
    "a",
    "fresh",
    "node",
    "image",
    "cache",
    "weights",
    "stream",
    "from",
    "local",
    "disk",
    "while",
    "requests",
    "wait",
    "in",
    "line",
    "for",
    "their",
    "turn",
    "at",
    "GPU",
    "speed",
    "every",
    "layer",
    "pulled",
    "once",
    "kept",
    "near",
    "replica",
    "scales",
    "out",
    "when",
    "load",
    "grows",
    "then",
    "back",
    "down",
    "quietly",
    "kernel",
    "batch",
    "queue",
    "prompt",
    "answer",
    "latency",
    "seconds",
    "cold",
    "start",
    "gone",
    "link",
    "bytes",
    "digest",
    "verified",
    "sample",
    "next"
  };

  /** A command line that cannot be run: printed with the usage, exit code 2. */
  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  /** The server's command line. */
  static final class Options {
    String host = "0.0.0.0";
    int port = 8000;
    long loadDelayMsPerGib;
    long tokenDelayMs = 20;
    int maxNumSeqs = 4;
    String servedModelName;
    Path modelDir;
    boolean help;

    static Options parse(String... args) throws UsageException {
      Options o = new Options();
      String positional = null;
      String model = null;
      boolean options = true;
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        if (options && (arg.equals("-h") || arg.equals("--help"))) {
          o.help = true;
          return o;
        }
        if (options && arg.equals("--")) {
          options = false;
          continue;
        }
        if (options && arg.startsWith("-") && !arg.startsWith("--") && arg.length() > 1) {
          throw new UsageException("unknown option " + arg);
        }
        if (!options || !arg.startsWith("--")) {
          if (positional != null) {
            throw new UsageException(
                "one MODEL_DIR expected, got '" + positional + "' and '" + arg + "'");
          }
          positional = arg;
          continue;
        }
        int eq = arg.indexOf('=');
        String name = eq < 0 ? arg : arg.substring(0, eq);
        String value;
        if (eq >= 0) {
          value = arg.substring(eq + 1);
        } else if (i + 1 < args.length) {
          value = args[++i];
        } else {
          throw new UsageException(name + " needs a value");
        }
        switch (name) {
          case "--host" -> o.host = value;
          case "--port" -> o.port = (int) number(name, value, 0, 65535);
          case "--load-delay-ms-per-gib" -> o.loadDelayMsPerGib = number(name, value, 0, 1L << 40);
          case "--token-delay-ms" -> o.tokenDelayMs = number(name, value, 0, 3_600_000);
          case "--max-num-seqs" -> o.maxNumSeqs = (int) number(name, value, 1, 100_000);
          case "--served-model-name" -> o.servedModelName = value;
          case "--model" -> model = value;
          default -> throw new UsageException("unknown option " + name);
        }
      }
      if (positional != null && model != null && !positional.equals(model)) {
        throw new UsageException(
            "MODEL_DIR given twice: '" + positional + "' and --model '" + model + "'");
      }
      String dir = positional != null ? positional : model;
      if (dir == null || dir.isEmpty()) {
        throw new UsageException("MODEL_DIR is required");
      }
      o.modelDir = Path.of(dir);
      return o;
    }

    static long number(String name, String value, long min, long max) throws UsageException {
      long n;
      try {
        n = Long.parseLong(value.trim());
      } catch (NumberFormatException e) {
        throw new UsageException(name + " takes a whole number, not '" + value + "'");
      }
      if (n < min || n > max) {
        throw new UsageException(name + " must be between " + min + " and " + max + ", not " + n);
      }
      return n;
    }
  }

  enum State {
    LOADING,
    READY,
    FAILED
  }

  private final Options options;
  private final String modelId;
  private final String modelRoot;
  private final Semaphore slots;
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicLong requestSuccess = new AtomicLong();
  private final AtomicLong promptTokens = new AtomicLong();
  private final AtomicLong generationTokens = new AtomicLong();
  private final CompletableFuture<ModelFiles.Loaded> loading = new CompletableFuture<>();
  private volatile State state = State.LOADING;
  private volatile ModelFiles.Loaded loaded;
  private HttpServer server;
  private ThreadPoolExecutor pool;

  ModelServer(Options options) {
    this.options = options;
    this.modelRoot = options.modelDir.toString();
    this.modelId =
        options.servedModelName != null
            ? options.servedModelName
            : ModelFiles.modelId(options.modelDir);
    this.slots = new Semaphore(options.maxNumSeqs, true);
  }

  /** Listens at once (answering 503 while loading) and loads the model on a background thread. */
  ModelServer start() throws IOException {
    AtomicInteger threadNumber = new AtomicInteger();
    pool =
        new ThreadPoolExecutor(
            THREADS,
            THREADS,
            10,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "http-" + threadNumber.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    pool.allowCoreThreadTimeOut(true);
    server = HttpServer.create(new InetSocketAddress(options.host, options.port), 1024);
    server.createContext("/", this);
    server.setExecutor(pool);
    server.start();
    Thread loader =
        new Thread(
            () -> {
              try {
                loaded = ModelFiles.load(options.modelDir, options.loadDelayMsPerGib);
                state = State.READY;
                loading.complete(loaded);
              } catch (ModelFiles.LoadException | RuntimeException e) {
                state = State.FAILED;
                loading.completeExceptionally(e);
              }
            },
            "model-loader");
    loader.setDaemon(true);
    loader.start();
    return this;
  }

  int port() {
    return server.getAddress().getPort();
  }

  String modelId() {
    return modelId;
  }

  State state() {
    return state;
  }

  /**
   * Completes when the model is loaded, or exceptionally with a {@link ModelFiles.LoadException}.
   */
  CompletableFuture<ModelFiles.Loaded> loading() {
    return loading;
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop(0);
      pool.shutdownNow();
    }
  }

  public static void main(String[] args) {
    if (args.length > 0 && args[0].equals("load")) {
      System.exit(LoadGenerator.cli(Arrays.copyOfRange(args, 1, args.length)));
    }
    PrintStream err = System.err;
    Options options;
    try {
      options = Options.parse(args);
    } catch (UsageException e) {
      err.println("model-server: " + e.getMessage());
      err.println(USAGE);
      System.exit(2);
      return;
    }
    if (options.help) {
      System.out.println(USAGE);
      System.exit(0);
    }
    ModelServer s = new ModelServer(options);
    try {
      s.start();
    } catch (IOException | RuntimeException e) {
      err.println("model-server: cannot listen on " + options.host + ":" + options.port + ": " + e);
      System.exit(1);
    }
    // SIGTERM: stop accepting and exit at once, with 0 (requests in flight are dropped, as when a
    // pod is
    // killed). A failed load exits through halt(1) below and never gets here.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  s.server.stop(0);
                  Runtime.getRuntime().halt(0);
                },
                "sigterm"));
    log(
        "listening on "
            + options.host
            + ":"
            + s.port()
            + ", loading "
            + s.modelId
            + " from "
            + options.modelDir.toAbsolutePath());
    try {
      ModelFiles.Loaded l = s.loading.join();
      log(
          String.format(
              Locale.ROOT,
              "loaded %s: %d files, %d bytes (%.2f GiB) in %.2f s, digest sha256:%s",
              s.modelId,
              l.files(),
              l.bytes(),
              (double) l.bytes() / ModelFiles.GIB,
              l.seconds(),
              l.digest()));
    } catch (CompletionException e) {
      err.println(
          "model-server: cannot load the model from "
              + options.modelDir
              + ": "
              + e.getCause().getMessage());
      err.flush();
      System.out.flush();
      Runtime.getRuntime().halt(1);
    }
    // The HTTP server's dispatcher thread keeps the JVM running.
  }

  private static void log(String message) {
    System.out.println("model-server: " + message);
    System.out.flush();
  }

  @Override
  public void handle(HttpExchange ex) throws IOException {
    try {
      String path = ex.getRequestURI().getPath();
      String method = ex.getRequestMethod();
      switch (path) {
        case "/health" -> {
          if (allow(ex, method, "GET")) {
            State st = state;
            send(
                ex,
                st == State.READY ? 200 : 503,
                JSON,
                "{\"status\":\""
                    + (st == State.READY ? "ok" : st == State.LOADING ? "loading" : "failed")
                    + "\"}");
          }
        }
        case "/v1/models" -> {
          if (allow(ex, method, "GET")) {
            send(ex, 200, JSON, models());
          }
        }
        case "/v1/completions" -> {
          if (allow(ex, method, "POST")) {
            completion(ex);
          }
        }
        case "/metrics" -> {
          if (allow(ex, method, "GET")) {
            send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics());
          }
        }
        default -> error(ex, 404, "NotFoundError", "no route " + path);
      }
    } catch (IOException e) {
      // The client went away.
    } finally {
      ex.close();
    }
  }

  private String models() {
    return "{\"object\":\"list\",\"data\":[{\"id\":"
        + Json.quote(modelId)
        + ",\"object\":\"model\",\"created\":"
        + System.currentTimeMillis() / 1000
        + ",\"owned_by\":\"warmstart\",\"root\":"
        + Json.quote(modelRoot)
        + ",\"parent\":null}]}";
  }

  private void completion(HttpExchange ex) throws IOException {
    if (state != State.READY) {
      error(
          ex,
          503,
          "ServiceUnavailableError",
          state == State.LOADING ? "the model is loading" : "the model failed to load");
      return;
    }
    byte[] body;
    try (InputStream in = ex.getRequestBody()) {
      body = in.readNBytes(MAX_BODY + 1);
    }
    if (body.length > MAX_BODY) {
      error(ex, 413, "BadRequestError", "request body over " + MAX_BODY + " bytes");
      return;
    }
    Map<?, ?> request;
    try {
      if (!(Json.parse(new String(body, StandardCharsets.UTF_8)) instanceof Map<?, ?> map)) {
        error(ex, 400, "BadRequestError", "the request body must be a JSON object");
        return;
      }
      request = map;
    } catch (Json.ParseException e) {
      error(ex, 400, "BadRequestError", "malformed JSON: " + e.getMessage());
      return;
    }
    Object model = request.get("model");
    if (model != null
        && !(model.equals(modelId)
            || model.equals(modelRoot)
            || model.equals(options.modelDir.toAbsolutePath().normalize().toString()))) {
      error(ex, 404, "NotFoundError", "The model `" + model + "` does not exist.");
      return;
    }
    Object p = request.get("prompt");
    if (p instanceof List<?> list && list.size() == 1) {
      p = list.get(0);
    }
    if (!(p instanceof String prompt)) {
      error(ex, 400, "BadRequestError", "prompt must be a string (or a list of one string)");
      return;
    }
    Object mt = request.get("max_tokens");
    if (mt != null && !(mt instanceof Long n && n >= 1 && n <= MAX_MAX_TOKENS)) {
      error(
          ex,
          400,
          "BadRequestError",
          "max_tokens must be a whole number from 1 to " + MAX_MAX_TOKENS);
      return;
    }
    if (Boolean.TRUE.equals(request.get("stream"))) {
      error(ex, 400, "BadRequestError", "streaming is not supported by this stand-in");
      return;
    }
    int maxTokens = mt == null ? DEFAULT_MAX_TOKENS : ((Long) mt).intValue();
    int promptCount = countTokens(prompt);

    String text;
    waiting.incrementAndGet();
    boolean admitted = false;
    try {
      slots.acquire();
      admitted = true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      waiting.decrementAndGet();
    }
    if (!admitted) {
      error(ex, 503, "ServiceUnavailableError", "the server is stopping");
      return;
    }
    running.incrementAndGet();
    try {
      text = generate(prompt, maxTokens);
    } finally {
      running.decrementAndGet();
      slots.release();
    }
    if (text == null) {
      error(ex, 503, "ServiceUnavailableError", "the server is stopping");
      return;
    }
    requestSuccess.incrementAndGet();
    promptTokens.addAndGet(promptCount);
    String id =
        "cmpl-"
            + Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE)
            + Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    send(
        ex,
        200,
        JSON,
        "{\"id\":\""
            + id
            + "\",\"object\":\"text_completion\",\"created\":"
            + System.currentTimeMillis() / 1000
            + ",\"model\":"
            + Json.quote(modelId)
            + ",\"choices\":[{\"index\":0,\"text\":"
            + Json.quote(text)
            + ",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":"
            + promptCount
            + ",\"total_tokens\":"
            + (promptCount + maxTokens)
            + ",\"completion_tokens\":"
            + maxTokens
            + "}}");
  }

  /**
   * {@code maxTokens} words, one per {@code --token-delay-ms}, chosen by the prompt and the model
   * files' digest (the same prompt on the same files gives the same text). Null when interrupted.
   */
  private String generate(String prompt, int maxTokens) {
    SplittableRandom random = new SplittableRandom(seed(prompt));
    StringBuilder text = new StringBuilder();
    long start = System.nanoTime();
    for (int t = 1; t <= maxTokens; t++) {
      text.append(' ').append(WORDS[random.nextInt(WORDS.length)]);
      long wait = start + t * options.tokenDelayMs * 1_000_000L - System.nanoTime();
      if (wait > 0) {
        try {
          TimeUnit.NANOSECONDS.sleep(wait);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return null;
        }
      }
      generationTokens.incrementAndGet();
    }
    return text.toString();
  }

  private long seed(String prompt) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(loaded.digest().getBytes(StandardCharsets.US_ASCII));
      sha.update((byte) 0);
      sha.update(prompt.getBytes(StandardCharsets.UTF_8));
      return ByteBuffer.wrap(sha.digest()).getLong();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whitespace-separated words: a rough stand-in for a tokenizer. */
  static int countTokens(String prompt) {
    String trimmed = prompt.strip();
    return trimmed.isEmpty() ? 0 : trimmed.split("\\s+").length;
  }

  /** Prometheus text exposition with vLLM's names. */
  String metrics() {
    String label = "{model_name=" + Json.quote(modelId) + "}";
    int run = running.get();
    // Requests the HTTP pool has not yet picked up wait too (beyond the pool's threads).
    int wait = waiting.get() + (pool == null ? 0 : pool.getQueue().size());
    StringBuilder b = new StringBuilder(2048);
    metric(
        b,
        "vllm:num_requests_running",
        "gauge",
        "Number of requests in model execution batches.",
        label,
        run);
    metric(
        b,
        "vllm:num_requests_waiting",
        "gauge",
        "Number of requests waiting to be processed.",
        label,
        wait);
    metric(
        b,
        "vllm:kv_cache_usage_perc",
        "gauge",
        "KV-cache usage. 1 means 100 percent usage.",
        label,
        (double) run / options.maxNumSeqs);
    metric(
        b,
        "vllm:request_success_total",
        "counter",
        "Count of successfully processed requests.",
        label,
        requestSuccess.get());
    metric(
        b,
        "vllm:prompt_tokens_total",
        "counter",
        "Number of prefill tokens processed.",
        label,
        promptTokens.get());
    metric(
        b,
        "vllm:generation_tokens_total",
        "counter",
        "Number of generation tokens processed.",
        label,
        generationTokens.get());
    return b.toString();
  }

  private static void metric(
      StringBuilder b, String name, String type, String help, String label, double value) {
    b.append("# HELP ")
        .append(name)
        .append(' ')
        .append(help)
        .append('\n')
        .append("# TYPE ")
        .append(name)
        .append(' ')
        .append(type)
        .append('\n')
        .append(name)
        .append(label)
        .append(' ')
        .append(
            value == Math.rint(value) && Math.abs(value) < 1e15
                ? Long.toString((long) value)
                : Double.toString(value))
        .append('\n');
  }

  private static boolean allow(HttpExchange ex, String method, String allowed) throws IOException {
    if (method.equals(allowed)) {
      return true;
    }
    ex.getResponseHeaders().set("Allow", allowed);
    error(ex, 405, "MethodNotAllowedError", method + " is not allowed here");
    return false;
  }

  /** An error in the shape vLLM's OpenAI server answers. */
  private static void error(HttpExchange ex, int code, String type, String message)
      throws IOException {
    send(
        ex,
        code,
        JSON,
        "{\"object\":\"error\",\"message\":"
            + Json.quote(message)
            + ",\"type\":\""
            + type
            + "\",\"param\":null,\"code\":"
            + code
            + "}");
  }

  private static void send(HttpExchange ex, int code, String contentType, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", contentType);
    ex.sendResponseHeaders(code, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }
}
