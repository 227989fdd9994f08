package dev.warmstart.fetch.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.warmstart.fetch.command.FetchModelCommand;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** fetch-model with --cache-dir, in-process, against a loopback HTTP server. */
class FetchModelThroughCacheTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  record Run(int exit, String out, JsonNode summary) {}

  Run fetch(String... args) throws IOException {
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new FetchModelCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(out, true));
    Path termination = Files.createTempFile(tmp, "termination", ".json");
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--termination-log";
    all[args.length + 1] = termination.toString();
    int exit = cli.execute(all);
    String summary = Files.readString(termination);
    return new Run(exit, out.toString(), summary.isEmpty() ? null : JSON.readTree(summary));
  }

  @Test
  void secondFetchOnTheNodeIsAHitWithNoRequest() throws IOException {
    try (ModelServer server = new ModelServer(8 << 20, 1)) {
      String cache = tmp.resolve("cache").toString();

      Run first =
          fetch("--uri", server.uri(), "--to", tmp.resolve("a").toString(), "--cache-dir", cache);
      Run second =
          fetch(
              "--uri",
              server.uri(),
              "--to",
              tmp.resolve("b").toString(),
              "--cache-dir",
              cache,
              "--cache-max-size",
              "1Gi");

      assertEquals(0, first.exit(), first.out());
      assertEquals(0, second.exit(), second.out());
      assertEquals(1, server.gets.get(), "one download for both");
      assertEquals(false, first.summary().get("cacheHit").asBoolean(), first.summary().toString());
      assertEquals(true, second.summary().get("cacheHit").asBoolean(), second.summary().toString());
      assertEquals(8 << 20, second.summary().get("bytes").asLong());
      assertEquals(1, second.summary().get("files").asInt());
      assertEquals(server.uri(), second.summary().get("source").asText());
      assertArrayEquals(server.model, Files.readAllBytes(tmp.resolve("a/model.bin")));
      assertArrayEquals(server.model, Files.readAllBytes(tmp.resolve("b/model.bin")));
      assertTrue(second.out().contains("node cache: hit"), second.out());
    }
  }

  @Test
  void cacheDirFromTheEnvironmentAndABadSizeMeansNoCache() throws IOException {
    try (ModelServer server = new ModelServer(1 << 20, 2)) {
      Run run =
          fetch(
              "--uri",
              server.uri(),
              "--to",
              tmp.resolve("a").toString(),
              "--cache-dir",
              tmp.resolve("cache").toString(),
              "--cache-max-size",
              "lots");

      assertEquals(0, run.exit(), run.out());
      assertTrue(run.out().contains("--cache-max-size: 'lots' is not a size"), run.out());
      assertTrue(run.out().contains("downloading without the cache"), run.out());
      assertArrayEquals(server.model, Files.readAllBytes(tmp.resolve("a/model.bin")));
    }
  }

  @Test
  void helpListsTheCacheOptions() {
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new FetchModelCommand());
    cli.setOut(new PrintWriter(out, true));
    assertEquals(0, cli.execute("--help"));
    for (String s :
        new String[] {
          "--cache-dir", "--cache-max-size", "MODEL_CACHE_DIR", "MODEL_CACHE_MAX_SIZE", "500Gi"
        }) {
      assertTrue(out.toString().contains(s), s + " in\n" + out);
    }
  }
}
