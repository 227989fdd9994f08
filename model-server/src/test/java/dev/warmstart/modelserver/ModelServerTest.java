package dev.warmstart.modelserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelServerTest {

  @TempDir Path tmp;

  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();
  private final List<ModelServer> servers = new ArrayList<>();

  @AfterEach
  void stopServers() {
    servers.forEach(ModelServer::close);
  }

  /**
   * A model directory: config.json naming the model, a 1 MiB weights file in a subdirectory, a
   * tokenizer.
   */
  static Path model(Path parent, boolean withChecksums) throws Exception {
    Path dir = Files.createDirectories(parent.resolve("qwen3-tiny"));
    Files.writeString(
        dir.resolve("config.json"),
        "{\"_name_or_path\": \"Qwen/Qwen3-Tiny\", \"hidden_size\": 64}");
    byte[] weights = new byte[1 << 20];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (byte) (i * 31 + (i >> 8));
    }
    Files.createDirectories(dir.resolve("weights"));
    Files.write(dir.resolve("weights/model-00001.safetensors"), weights);
    Files.writeString(dir.resolve("tokenizer.json"), "{\"vocab\": {}}");
    if (withChecksums) {
      StringBuilder sums = new StringBuilder();
      for (String f : List.of("config.json", "weights/model-00001.safetensors", "tokenizer.json")) {
        sums.append(sha256(dir.resolve(f))).append("  ").append(f).append('\n');
      }
      Files.writeString(dir.resolve(ModelFiles.CHECKSUMS), sums);
    }
    return dir;
  }

  static String sha256(Path file) throws Exception {
    return HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }

  private ModelServer start(String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of("--host", "127.0.0.1", "--port", "0"));
    all.addAll(List.of(args));
    ModelServer s = new ModelServer(ModelServer.Options.parse(all.toArray(String[]::new))).start();
    servers.add(s);
    return s;
  }

  private HttpResponse<String> get(ModelServer s, String path)
      throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpRequest post(ModelServer s, String body) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/completions"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body))
        .build();
  }

  private HttpResponse<String> complete(ModelServer s, String body)
      throws IOException, InterruptedException {
    return http.send(post(s, body), HttpResponse.BodyHandlers.ofString());
  }

  private static double metric(String exposition, String name) {
    Matcher m =
        Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{model_name=\"[^\"]*\"} (\\S+)$")
            .matcher(exposition);
    assertTrue(m.find(), name + " missing from\n" + exposition);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void healthAnswers503WhileLoadingThen200() throws Exception {
    Path dir = model(tmp, true);
    // 1 MiB at 600,000 ms per GiB: about 0.6 s of loading.
    ModelServer s = start("--load-delay-ms-per-gib", "600000", dir.toString());
    long start = System.nanoTime();
    HttpResponse<String> loading = get(s, "/health");
    assertEquals(503, loading.statusCode());
    assertEquals("{\"status\":\"loading\"}", loading.body());
    assertEquals(
        503, complete(s, "{\"prompt\":\"hi\"}").statusCode(), "no completions while loading");

    HttpResponse<String> health;
    do {
      Thread.sleep(20);
      health = get(s, "/health");
    } while (health.statusCode() == 503 && System.nanoTime() - start < 5_000_000_000L);
    assertEquals(200, health.statusCode());
    assertEquals("{\"status\":\"ok\"}", health.body());
    assertTrue(
        System.nanoTime() - start >= 500_000_000L, "loading honours --load-delay-ms-per-gib");
    ModelFiles.Loaded loaded = s.loading().get();
    assertEquals(4, loaded.files());
    assertEquals(
        (1 << 20)
            + Files.size(dir.resolve("config.json"))
            + Files.size(dir.resolve("tokenizer.json"))
            + Files.size(dir.resolve(ModelFiles.CHECKSUMS)),
        loaded.bytes());
  }

  @Test
  void checksumMismatchFailsTheLoad() throws Exception {
    Path dir = model(tmp, true);
    Files.write(
        dir.resolve("weights/model-00001.safetensors"),
        new byte[] {1, 2, 3},
        StandardOpenOption.APPEND);
    ModelServer s = start(dir.toString());
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> s.loading().get(5, TimeUnit.SECONDS));
    assertInstanceOf(ModelFiles.LoadException.class, e.getCause());
    assertTrue(
        e.getCause().getMessage().contains("checksum mismatch for weights/model-00001.safetensors"),
        e.getCause().getMessage());
    assertEquals(ModelServer.State.FAILED, s.state());
    assertEquals(503, get(s, "/health").statusCode());
  }

  @Test
  void aMissingListedFileFailsTheLoad() throws Exception {
    Path dir = model(tmp, true);
    Files.delete(dir.resolve("tokenizer.json"));
    ModelFiles.LoadException e =
        assertThrows(ModelFiles.LoadException.class, () -> ModelFiles.load(dir, 0));
    assertTrue(
        e.getMessage().contains("tokenizer.json is listed in checksums.sha256 but missing"),
        e.getMessage());
  }

  @Test
  void emptyOrMissingDirectoriesFailTheLoad() throws Exception {
    Path empty = Files.createDirectories(tmp.resolve("empty/sub"));
    assertTrue(
        assertThrows(ModelFiles.LoadException.class, () -> ModelFiles.load(empty.getParent(), 0))
            .getMessage()
            .contains("holds no files"));
    assertTrue(
        assertThrows(ModelFiles.LoadException.class, () -> ModelFiles.load(tmp.resolve("nope"), 0))
            .getMessage()
            .contains("does not exist"));
  }

  @Test
  void checksumsAcceptSha256sumsFormats() throws Exception {
    Path dir = model(tmp, false);
    String w = sha256(dir.resolve("weights/model-00001.safetensors"));
    Files.writeString(
        dir.resolve(ModelFiles.CHECKSUMS),
        w.toUpperCase() + " *./weights/model-00001.safetensors\n\n");
    assertEquals(4, ModelFiles.load(dir, 0).files());
    Files.writeString(dir.resolve(ModelFiles.CHECKSUMS), "not a checksum line\n");
    assertThrows(ModelFiles.LoadException.class, () -> ModelFiles.load(dir, 0));
  }

  @Test
  void symbolicLinksAreFollowedAsInAHuggingFaceSnapshot() throws Exception {
    Path dir = model(tmp, true);
    Path snapshot = Files.createDirectories(tmp.resolve("snapshot"));
    Files.createSymbolicLink(snapshot.resolve("model"), dir);
    Files.createSymbolicLink(snapshot.resolve("config.json"), dir.resolve("config.json"));
    ModelFiles.Loaded loaded = ModelFiles.load(snapshot, 0);
    assertEquals(5, loaded.files());
    assertEquals("Qwen/Qwen3-Tiny", ModelFiles.modelId(snapshot));
  }

  @Test
  void completionsAnswerInOpenAiShapeAfterMaxTokensTimesTheTokenDelay() throws Exception {
    Path dir = model(tmp, false);
    ModelServer s = start("--token-delay-ms", "25", dir.toString());
    s.loading().get(5, TimeUnit.SECONDS);

    HttpResponse<String> models = get(s, "/v1/models");
    assertEquals(200, models.statusCode());
    Map<?, ?> list = (Map<?, ?>) Json.parse(models.body());
    assertEquals("list", list.get("object"));
    assertEquals("Qwen/Qwen3-Tiny", ((Map<?, ?>) ((List<?>) list.get("data")).get(0)).get("id"));

    long start = System.nanoTime();
    HttpResponse<String> r =
        complete(
            s,
            "{\"model\": \"Qwen/Qwen3-Tiny\", \"prompt\": \"The capital of France is\", \"max_tokens\": 8}");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(ms >= 200, "8 tokens at 25 ms took " + ms + " ms");
    Map<?, ?> c = (Map<?, ?>) Json.parse(r.body());
    assertEquals("text_completion", c.get("object"));
    assertEquals("Qwen/Qwen3-Tiny", c.get("model"));
    assertTrue(((String) c.get("id")).startsWith("cmpl-"));
    assertInstanceOf(Long.class, c.get("created"));
    Map<?, ?> choice = (Map<?, ?>) ((List<?>) c.get("choices")).get(0);
    assertEquals(0L, choice.get("index"));
    assertEquals("length", choice.get("finish_reason"));
    String text = (String) choice.get("text");
    assertEquals(8, text.strip().split(" ").length, text);
    Map<?, ?> usage = (Map<?, ?>) c.get("usage");
    assertEquals(5L, usage.get("prompt_tokens"));
    assertEquals(8L, usage.get("completion_tokens"));
    assertEquals(13L, usage.get("total_tokens"));

    // Deterministic for a prompt; another prompt gives other words; max_tokens defaults to 16.
    Map<?, ?> again =
        (Map<?, ?>)
            Json.parse(
                complete(
                        s,
                        "{\"prompt\": \"The capital of France is\", \"max_tokens\": 8, \"temperature\": 0.7}")
                    .body());
    assertEquals(text, ((Map<?, ?>) ((List<?>) again.get("choices")).get(0)).get("text"));
    Map<?, ?> other =
        (Map<?, ?>) Json.parse(complete(s, "{\"prompt\": [\"Something else\"]}").body());
    String otherText = (String) ((Map<?, ?>) ((List<?>) other.get("choices")).get(0)).get("text");
    assertEquals(16, otherText.strip().split(" ").length);
    assertNotEquals(text, otherText.substring(0, Math.min(otherText.length(), text.length())));

    String metrics = get(s, "/metrics").body();
    assertEquals(3, metric(metrics, "vllm:request_success_total"));
    assertEquals(5 + 5 + 2, metric(metrics, "vllm:prompt_tokens_total"));
    assertEquals(8 + 8 + 16, metric(metrics, "vllm:generation_tokens_total"));
    assertTrue(metrics.contains("# TYPE vllm:num_requests_running gauge\n"));
    assertTrue(metrics.contains("# TYPE vllm:request_success_total counter\n"));
    assertTrue(metrics.contains("# HELP vllm:kv_cache_usage_perc "));
  }

  @Test
  void badRequestsAre4xx() throws Exception {
    ModelServer s = start("--token-delay-ms", "0", model(tmp, false).toString());
    s.loading().get(5, TimeUnit.SECONDS);
    assertEquals(400, complete(s, "{\"prompt\": \"unterminated").statusCode());
    assertEquals(400, complete(s, "not json").statusCode());
    assertEquals(400, complete(s, "[\"an array\"]").statusCode());
    assertEquals(400, complete(s, "{\"max_tokens\": 3}").statusCode(), "no prompt");
    assertEquals(400, complete(s, "{\"prompt\": \"x\", \"max_tokens\": \"3\"}").statusCode());
    assertEquals(400, complete(s, "{\"prompt\": \"x\", \"max_tokens\": 0}").statusCode());
    assertEquals(400, complete(s, "{\"prompt\": \"x\", \"max_tokens\": 2.5}").statusCode());
    HttpResponse<String> bad = complete(s, "{\"prompt\": \"x\",}");
    assertEquals(400, bad.statusCode());
    assertTrue(bad.body().contains("\"type\":\"BadRequestError\""), bad.body());
    assertEquals(404, complete(s, "{\"model\": \"other\", \"prompt\": \"x\"}").statusCode());
    assertEquals(404, get(s, "/v2/nothing").statusCode());
    assertEquals(405, get(s, "/v1/completions").statusCode());
    assertEquals(200, complete(s, "{\"prompt\": \"x\", \"max_tokens\": 1}").statusCode());
    assertEquals(1, metric(get(s, "/metrics").body(), "vllm:request_success_total"));
  }

  @Test
  void metricsShowRequestsRunningAndWaitingBeyondMaxNumSeqs() throws Exception {
    // 6 requests of 20 tokens at 40 ms (0.8 s each) against 4 slots: 4 run while 2 wait, then 2
    // run.
    ModelServer s =
        start("--max-num-seqs", "4", "--token-delay-ms", "40", model(tmp, false).toString());
    s.loading().get(5, TimeUnit.SECONDS);
    List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      inFlight.add(
          http.sendAsync(
              post(s, "{\"prompt\": \"request " + i + "\", \"max_tokens\": 20}"),
              HttpResponse.BodyHandlers.ofString()));
    }
    String metrics;
    long deadline = System.nanoTime() + 2_000_000_000L;
    do {
      metrics = get(s, "/metrics").body();
    } while (metric(metrics, "vllm:num_requests_running")
                + metric(metrics, "vllm:num_requests_waiting")
            < 6
        && System.nanoTime() < deadline);
    assertEquals(4, metric(metrics, "vllm:num_requests_running"), metrics);
    assertEquals(2, metric(metrics, "vllm:num_requests_waiting"), metrics);
    assertEquals(1.0, metric(metrics, "vllm:kv_cache_usage_perc"), metrics);
    assertEquals(0, metric(metrics, "vllm:request_success_total"), metrics);

    // Once the first four finish the last two run (their generation takes another 0.8 s).
    deadline = System.nanoTime() + 2_000_000_000L;
    do {
      Thread.sleep(20);
      metrics = get(s, "/metrics").body();
    } while (metric(metrics, "vllm:request_success_total") < 4 && System.nanoTime() < deadline);
    assertEquals(0, metric(metrics, "vllm:num_requests_waiting"), metrics);
    assertEquals(2, metric(metrics, "vllm:num_requests_running"), metrics);
    assertEquals(0.5, metric(metrics, "vllm:kv_cache_usage_perc"), metrics);

    for (CompletableFuture<HttpResponse<String>> f : inFlight) {
      assertEquals(200, f.get(5, TimeUnit.SECONDS).statusCode());
    }
    metrics = get(s, "/metrics").body();
    assertEquals(0, metric(metrics, "vllm:num_requests_running"));
    assertEquals(0, metric(metrics, "vllm:num_requests_waiting"));
    assertEquals(6, metric(metrics, "vllm:request_success_total"));
    assertEquals(120, metric(metrics, "vllm:generation_tokens_total"));
  }

  @Test
  void badArgumentsAreUsageErrors() throws Exception {
    String[][] bad = {
      {},
      {"--port", "x", "dir"},
      {"--port", "70000", "dir"},
      {"--token-delay-ms", "-1", "dir"},
      {"--max-num-seqs", "0", "dir"},
      {"--nope", "1", "dir"},
      {"dir", "other"},
      {"dir", "--port"},
      {"--model", "a", "b"},
      {"-p", "8000", "dir"},
    };
    for (String[] args : bad) {
      assertThrows(
          ModelServer.UsageException.class,
          () -> ModelServer.Options.parse(args),
          String.join(" ", args));
    }
    ModelServer.Options o =
        ModelServer.Options.parse("--port=9000", "--max-num-seqs", "8", "--model", "/models/m");
    assertEquals(9000, o.port);
    assertEquals(8, o.maxNumSeqs);
    assertEquals(Path.of("/models/m"), o.modelDir);
    assertEquals(20, o.tokenDelayMs);
    assertTrue(ModelServer.Options.parse("--help").help);
    assertFalse(ModelServer.Options.parse("d").help);
    assertEquals(
        Path.of("--odd"), ModelServer.Options.parse("--port", "1", "--", "--odd").modelDir);
  }

  @Test
  void theModelIdComesFromConfigJsonOrTheDirectoryName() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("llama-3"));
    assertEquals("llama-3", ModelFiles.modelId(dir));
    Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llama\"}");
    assertEquals("llama-3", ModelFiles.modelId(dir));
    Files.writeString(dir.resolve("config.json"), "{\"_name_or_path\": \"meta/Llama-3\"}");
    assertEquals("meta/Llama-3", ModelFiles.modelId(dir));
    Files.writeString(dir.resolve("config.json"), "{broken");
    assertEquals("llama-3", ModelFiles.modelId(dir));
  }
}
