package dev.warmstart.fetch.source;

import static dev.warmstart.fetch.command.FetchModelSupport.assertError;
import static dev.warmstart.fetch.command.FetchModelSupport.assertFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertNoTempFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertSummary;
import static dev.warmstart.fetch.command.FetchModelSupport.command;
import static dev.warmstart.fetch.command.FetchModelSupport.files;
import static dev.warmstart.fetch.command.FetchModelSupport.randomBytes;
import static dev.warmstart.fetch.command.FetchModelSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.warmstart.fetch.command.FetchModelCommand;
import dev.warmstart.fetch.command.FetchModelSupport;
import dev.warmstart.fetch.command.FetchModelSupport.Run;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * hf:// against a fake Hub on loopback: the model-info API, {@code /resolve/} answering with a 302
 * to a CDN on another origin (as the real Hub does for LFS files) or to a relative path on its own.
 */
class HubSourceTest {
  private static final String TOKEN = "hf_test_token_0123456789";
  private static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** org/model's files at COMMIT. */
  private static final Map<String, byte[]> MODEL = new LinkedHashMap<>();

  private static final byte[] WEIGHTS = randomBytes(2 * 1024 * 1024 + 5, 7);

  private static HttpServer hub;
  private static HttpServer cdn;
  private static ExecutorService executor;
  private static String hubUrl;
  private static String cdnUrl;

  /** Authorization headers seen, as "path -> header or '-'". */
  private static final List<String> seen = Collections.synchronizedList(new ArrayList<>());

  private static final AtomicInteger badDownloads = new AtomicInteger();
  private static final RangedHandler weights = new RangedHandler(WEIGHTS);

  @TempDir Path tmp;
  Path target;
  Path terminationLog;

  @BeforeAll
  static void startHub() throws IOException {
    MODEL.put("config.json", "{\"model_type\":\"qwen3\"}".getBytes(StandardCharsets.UTF_8));
    MODEL.put("model.safetensors", WEIGHTS);
    MODEL.put("tokenizer/tokenizer.json", randomBytes(10_000, 8));

    executor = Executors.newCachedThreadPool();
    cdn = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    cdn.setExecutor(executor);
    cdn.createContext(
        "/blobs/",
        ex -> {
          record(ex);
          String path = ex.getRequestURI().getPath();
          if (path.endsWith("/weights")) {
            weights.handle(ex); // byte ranges, as the Hub's CDN serves them
          } else if (path.endsWith("/bad")) {
            badDownloads.incrementAndGet();
            send(ex, 200, WEIGHTS);
          } else {
            send(ex, 404, new byte[0]);
          }
        });
    cdn.start();
    cdnUrl = "http://127.0.0.1:" + cdn.getAddress().getPort();

    hub = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    hub.setExecutor(executor);
    hub.createContext("/", HubSourceTest::serveHub);
    hub.start();
    hubUrl = "http://127.0.0.1:" + hub.getAddress().getPort();
  }

  private static void serveHub(HttpExchange ex) throws IOException {
    record(ex);
    String path = ex.getRequestURI().getRawPath();
    boolean authorized =
        ("Bearer " + TOKEN).equals(ex.getRequestHeaders().getFirst("Authorization"));
    if (!authorized) {
      // The Hub answers 401 for private and gated repositories without a valid token.
      send(
          ex,
          401,
          "{\"error\":\"Invalid username or password.\"}".getBytes(StandardCharsets.UTF_8));
      return;
    }
    switch (path) {
      case "/api/models/org/model/revision/main",
          "/api/models/org/model/revision/refs%2Fpr%2F1" -> {
        if (!"blobs=true".equals(ex.getRequestURI().getRawQuery())) {
          send(ex, 400, new byte[0]);
          return;
        }
        ObjectNode info = JSON.createObjectNode().put("id", "org/model").put("sha", COMMIT);
        ArrayNode siblings = info.putArray("siblings");
        siblings
            .addObject()
            .put("rfilename", "config.json")
            .put("size", MODEL.get("config.json").length);
        ObjectNode weights =
            siblings.addObject().put("rfilename", "model.safetensors").put("size", WEIGHTS.length);
        weights
            .putObject("lfs")
            .put("sha256", sha256(WEIGHTS))
            .put("size", WEIGHTS.length)
            .put("pointerSize", 134);
        siblings
            .addObject()
            .put("rfilename", "tokenizer/tokenizer.json")
            .put("size", MODEL.get("tokenizer/tokenizer.json").length);
        send(ex, 200, JSON.writeValueAsBytes(info));
      }
      case "/api/models/org/bad/revision/main" -> {
        ObjectNode info = JSON.createObjectNode().put("id", "org/bad").put("sha", COMMIT);
        ObjectNode weights =
            info.putArray("siblings")
                .addObject()
                .put("rfilename", "model.safetensors")
                .put("size", WEIGHTS.length);
        weights
            .putObject("lfs")
            .put("sha256", sha256("something else".getBytes(StandardCharsets.UTF_8)));
        send(ex, 200, JSON.writeValueAsBytes(info));
      }
      case "/api/models/org/evil/revision/main" -> {
        ObjectNode info = JSON.createObjectNode().put("id", "org/evil").put("sha", COMMIT);
        ArrayNode siblings = info.putArray("siblings");
        siblings.addObject().put("rfilename", "config.json").put("size", 2);
        siblings.addObject().put("rfilename", "../../.bashrc").put("size", 2);
        send(ex, 200, JSON.writeValueAsBytes(info));
      }
      case "/api/models/org/model/revision/no-such-branch" -> {
        ex.getResponseHeaders().add("X-Error-Code", "RevisionNotFound");
        send(
            ex,
            404,
            "{\"error\":\"Invalid rev id: no-such-branch\"}".getBytes(StandardCharsets.UTF_8));
      }
      case "/org/model/resolve/" + COMMIT + "/config.json" ->
          send(ex, 200, MODEL.get("config.json"));
      case "/org/model/resolve/" + COMMIT + "/model.safetensors" ->
          redirect(ex, cdnUrl + "/blobs/weights?X-Amz-Signature=cdn-secret");
      case "/org/model/resolve/" + COMMIT + "/tokenizer/tokenizer.json" ->
          redirect(ex, "/same-origin/tokenizer");
      case "/same-origin/tokenizer" -> send(ex, 200, MODEL.get("tokenizer/tokenizer.json"));
      case "/org/bad/resolve/" + COMMIT + "/model.safetensors" ->
          redirect(ex, cdnUrl + "/blobs/bad");
      default ->
          send(ex, 404, "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8));
    }
  }

  private static void record(HttpExchange ex) {
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    seen.add(ex.getRequestURI().getRawPath() + " -> " + (auth == null ? "-" : auth));
  }

  private static void redirect(HttpExchange ex, String location) throws IOException {
    ex.getResponseHeaders().add("Location", location);
    ex.sendResponseHeaders(302, -1);
    ex.close();
  }

  private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @AfterAll
  static void stopHub() {
    if (hub != null) {
      hub.stop(0);
    }
    if (cdn != null) {
      cdn.stop(0);
    }
    if (executor != null) {
      executor.shutdownNow();
    }
  }

  @BeforeEach
  void paths() {
    target = tmp.resolve("model");
    terminationLog = tmp.resolve("termination-log");
    seen.clear();
  }

  private Run fetch(String uri, String token) {
    FetchModelCommand command = command();
    FetchModelSupport.withEnv(
        command,
        token == null
            ? Map.of("HF_ENDPOINT", hubUrl)
            : Map.of("HF_ENDPOINT", hubUrl, "HF_TOKEN", token));
    return run(
        command,
        "--uri",
        uri,
        "--to",
        target.toString(),
        "--termination-log",
        terminationLog.toString());
  }

  private static long size(Map<String, byte[]> files) {
    return files.values().stream().mapToLong(b -> b.length).sum();
  }

  @Test
  void fetchesTheRepositoryAtThePinnedCommitWithTheTokenOnlyOnTheHub() throws IOException {
    Run run = fetch("hf://org/model", TOKEN);

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    assertNoTempFiles(target);
    assertSummary(terminationLog, size(MODEL), 3, "hf://org/model");
    assertTrue(run.out().contains("revision main is commit " + COMMIT), run.out());
    List<String> requests = List.copyOf(seen);
    assertTrue(
        requests.contains("/api/models/org/model/revision/main -> Bearer " + TOKEN),
        requests.toString());
    assertTrue(
        requests.contains("/org/model/resolve/" + COMMIT + "/model.safetensors -> Bearer " + TOKEN),
        requests.toString());
    // Redirected to another origin: no token. Redirected on the Hub's own origin: the token.
    assertTrue(requests.contains("/blobs/weights -> -"), requests.toString());
    assertTrue(requests.contains("/same-origin/tokenizer -> Bearer " + TOKEN), requests.toString());
    assertFalse(run.all().contains(TOKEN), "the token is never printed");
    assertFalse(run.all().contains("cdn-secret"), "presigned URLs are never printed");
  }

  @Test
  void revisionAfterAtIsUsedEncoded() throws IOException {
    Run run = fetch("hf://org/model@refs/pr/1", TOKEN);

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    assertSummary(terminationLog, size(MODEL), 3, "hf://org/model@refs/pr/1");
  }

  @Test
  void withoutTokenSaysToSetHfToken() throws IOException {
    Run run = fetch("hf://org/model", null);

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(
        error.startsWith("hf://org/model: repository not found or gated: set HF_TOKEN"), error);
    assertTrue(run.err().contains("set HF_TOKEN"), run.err());
    assertTrue(files(target).isEmpty());
  }

  @Test
  void rejectedTokenIsReportedWithoutPrintingIt() throws IOException {
    Run run = fetch("hf://org/model", "hf_wrong_token");

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(error.contains("HF_TOKEN is invalid or has no access"), error);
    assertFalse(run.all().contains("hf_wrong_token"));
  }

  @Test
  void unknownRevisionIsReported() throws IOException {
    Run run = fetch("hf://org/model@no-such-branch", TOKEN);

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(
        error.startsWith("hf://org/model@no-such-branch: revision 'no-such-branch' not found"),
        error);
  }

  @Test
  void sha256MismatchIsAnErrorAndLeavesNoFile() throws IOException {
    badDownloads.set(0);

    Run run = fetch("hf://org/bad", TOKEN);

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(error.contains("'model.safetensors': sha256 mismatch"), error);
    assertEquals(1, badDownloads.get(), "a checksum mismatch is not retried");
    assertTrue(files(target).isEmpty(), "no file, final or temporary: " + files(target).keySet());
    assertTrue(Files.isDirectory(target));
  }

  @Test
  void listingWithAPathOutsideTheTargetIsRejected() throws IOException {
    Run run = fetch("hf://org/evil", TOKEN);

    assertEquals(1, run.exit(), run.all());
    assertTrue(assertError(terminationLog).contains("refusing file '../../.bashrc'"));
    assertTrue(
        files(tmp).keySet().stream().allMatch(p -> p.equals("termination-log")),
        files(tmp).keySet().toString());
  }

  @Test
  void malformedRepositoryIsAUsageError() throws IOException {
    Run run = fetch("hf://org/model/extra", TOKEN);

    assertEquals(1, run.exit(), run.all());
    assertTrue(
        assertError(terminationLog).contains("write hf://org/model or hf://org/model@revision"));
    assertTrue(seen.isEmpty(), "no request: " + seen);
  }

  @Test
  void partsGoStraightToTheCdnWithoutTheToken() throws IOException {
    FetchModelCommand command = command();
    FetchModelSupport.withEnv(command, Map.of("HF_ENDPOINT", hubUrl, "HF_TOKEN", TOKEN));
    weights.reset();

    Run run =
        run(
            command,
            "--uri",
            "hf://org/model",
            "--to",
            target.toString(),
            "--termination-log",
            terminationLog.toString(),
            "--part-size",
            "256Ki",
            "--concurrency",
            "4");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    List<String> requests = List.copyOf(seen);
    int parts = (WEIGHTS.length + 256 * 1024 - 1) / (256 * 1024);
    assertEquals(
        1,
        requests.stream()
            .filter(r -> r.contains("/resolve/" + COMMIT + "/model.safetensors"))
            .count(),
        "the Hub resolves the file once: " + requests);
    assertTrue(
        requests.contains(
            "/org/model/resolve/" + COMMIT + "/model.safetensors -> Bearer " + TOKEN));
    assertTrue(
        requests.stream()
            .filter(r -> r.startsWith("/blobs/weights"))
            .allMatch(r -> r.equals("/blobs/weights -> -")),
        "every part from the CDN, none with the token: " + requests);
    assertEquals(parts, weights.partRequests(256 * 1024));
    assertFalse(weights.requests.containsKey("whole"));
  }

  @Test
  void expiredCdnUrlIsResolvedAgainThroughTheHub() throws IOException {
    FetchModelCommand command = command();
    FetchModelSupport.withEnv(command, Map.of("HF_ENDPOINT", hubUrl, "HF_TOKEN", TOKEN));
    weights.reset();
    long part = 256 * 1024;
    weights.faults =
        (offset, attempt) ->
            offset == 3 * part && attempt == 1
                ? RangedHandler.Fault.FORBIDDEN
                : RangedHandler.Fault.NONE;

    Run run =
        run(
            command,
            "--uri",
            "hf://org/model",
            "--to",
            target.toString(),
            "--termination-log",
            terminationLog.toString(),
            "--part-size",
            "256Ki",
            "--concurrency",
            "2");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    List<String> requests = List.copyOf(seen);
    // Resolved again after the CDN refused (by each part in flight until a new CDN URL is known).
    assertTrue(
        requests.stream()
                .filter(
                    r ->
                        r.equals(
                            "/org/model/resolve/"
                                + COMMIT
                                + "/model.safetensors -> Bearer "
                                + TOKEN))
                .count()
            >= 2,
        requests.toString());
    assertFalse(
        requests.stream().anyMatch(r -> r.startsWith("/blobs/") && !r.endsWith("-> -")),
        requests.toString());
    assertTrue(
        run.out()
            .contains(
                "refused the request (HTTP 403); it may have expired, asking "
                    + hubUrl
                    + "/org/model/resolve/"
                    + COMMIT
                    + "/model.safetensors again"),
        run.out());
    assertFalse(run.all().contains("cdn-secret"), "presigned URLs are never printed");
  }
}
