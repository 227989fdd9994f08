package dev.warmstart.fetch.command;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.fetch.transfer.Downloader;
import dev.warmstart.fetch.transfer.FetchSettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import picocli.CommandLine;

/**
 * Runs fetch-model in-process and checks what it left behind: for the tests of each fetch package.
 */
public final class FetchModelSupport {
  private static final ObjectMapper JSON = new ObjectMapper();

  private FetchModelSupport() {}

  /** One run: exit code, stdout (the log) and stderr. */
  public record Run(int exit, String out, String err) {
    public String all() {
      return out + err;
    }
  }

  /** A command with an empty environment and retry/progress timings short enough for tests. */
  public static FetchModelCommand command() {
    FetchModelCommand command = new FetchModelCommand();
    command.env = Map.of();
    command.settings =
        new FetchSettings(3, Duration.ofMillis(20), Duration.ofMillis(100), Duration.ofSeconds(10));
    return command;
  }

  /** The command's seams, for the tests of the other fetch packages. */
  public static FetchModelCommand withEnv(FetchModelCommand command, Map<String, String> env) {
    command.env = env;
    return command;
  }

  public static FetchModelCommand withHttpClient(FetchModelCommand command, HttpClient client) {
    command.httpClient = client;
    return command;
  }

  public static FetchModelCommand withSettings(FetchModelCommand command, FetchSettings settings) {
    command.settings = settings;
    return command;
  }

  public static Run run(FetchModelCommand command, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(command);
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  public static byte[] randomBytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Every regular file under {@code dir}, by '/'-separated relative path. */
  public static Map<String, byte[]> files(Path dir) throws IOException {
    Map<String, byte[]> files = new TreeMap<>();
    if (!Files.exists(dir)) {
      return files;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) walk.filter(Files::isRegularFile)::iterator) {
        files.put(dir.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
      }
    }
    return files;
  }

  public static void assertFiles(Map<String, byte[]> expected, Path dir) throws IOException {
    Map<String, byte[]> actual = files(dir);
    assertEquals(expected.keySet(), actual.keySet(), "files under " + dir);
    for (Map.Entry<String, byte[]> e : expected.entrySet()) {
      assertArrayEquals(e.getValue(), actual.get(e.getKey()), "content of " + e.getKey());
    }
  }

  /** The success summary: parses, one line, under the kubelet's limit, with the right counts. */
  public static JsonNode assertSummary(Path terminationLog, long bytes, int files, String source)
      throws IOException {
    String text = Files.readString(terminationLog, StandardCharsets.UTF_8);
    assertFalse(text.contains("\n"), "one line: " + text);
    assertTrue(text.getBytes(StandardCharsets.UTF_8).length < 4096, "under 4096 bytes");
    JsonNode json = JSON.readTree(text);
    assertEquals(bytes, json.get("bytes").asLong(), text);
    assertTrue(json.get("bytes").isIntegralNumber(), text);
    assertEquals(files, json.get("files").asInt(), text);
    assertEquals(source, json.get("source").asText(), text);
    assertTrue(json.get("cacheHit").isBoolean() && !json.get("cacheHit").asBoolean(), text);
    assertTrue(json.get("seconds").isNumber() && json.get("seconds").asDouble() >= 0, text);
    assertTrue(text.matches(".*\"seconds\":[0-9]+\\.[0-9]+.*"), "seconds as a decimal: " + text);
    assertEquals(5, json.size(), text);
    return json;
  }

  /** The failure summary: {"error": message}; returns the message. */
  public static String assertError(Path terminationLog) throws IOException {
    String text = Files.readString(terminationLog, StandardCharsets.UTF_8);
    assertTrue(text.getBytes(StandardCharsets.UTF_8).length < 4096, "under 4096 bytes");
    JsonNode json = JSON.readTree(text);
    assertEquals(1, json.size(), text);
    assertTrue(json.get("error").isTextual(), text);
    return json.get("error").asText();
  }

  /**
   * No temporary (hidden ".partial") file or resume state (".partial.state") was left anywhere
   * under {@code dir}.
   */
  public static void assertNoTempFiles(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      assertEquals(
          0,
          walk.filter(p -> p.getFileName().toString().contains(Downloader.TEMP_SUFFIX)).count(),
          "temporary files left under " + dir);
    }
  }
}
