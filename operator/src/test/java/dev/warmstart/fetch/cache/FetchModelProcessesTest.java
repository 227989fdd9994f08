package dev.warmstart.fetch.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two fetch-model processes on one "node" (one cache directory), as two pods' init containers would
 * be: the file lock makes the second wait for the first's download instead of downloading too, and
 * a first process killed mid-download leaves the entry to the second.
 */
class FetchModelProcessesTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private final List<Fetch> started = new ArrayList<>();

  /** One fetch-model process and its output. */
  final class Fetch {
    final Process process;
    final List<String> lines = Collections.synchronizedList(new ArrayList<>());
    final Path target;
    final Path termination;

    Fetch(String uri, String name) throws IOException {
      target = tmp.resolve(name);
      termination = tmp.resolve(name + ".termination-log");
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      String classpath =
          System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
      process =
          new ProcessBuilder(
                  java,
                  "-XX:TieredStopAtLevel=1",
                  "-Xshare:auto",
                  "-cp",
                  classpath,
                  "dev.warmstart.Main",
                  "fetch-model",
                  "--uri",
                  uri,
                  "--to",
                  target.toString(),
                  "--cache-dir",
                  tmp.resolve("cache").toString(),
                  "--termination-log",
                  termination.toString())
              .redirectErrorStream(true)
              .start();
      started.add(this);
      Thread reader =
          new Thread(
              () -> {
                try (BufferedReader r =
                    new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                  for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                  }
                } catch (IOException ignored) {
                  // the process ended
                }
              });
      reader.setDaemon(true);
      reader.start();
    }

    void awaitLine(String text) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (lines.stream().noneMatch(l -> l.contains(text))) {
        if (System.nanoTime() > deadline
            || (!process.isAlive() && lines.stream().noneMatch(l -> l.contains(text)))) {
          throw new AssertionError("no line with '" + text + "' in " + lines);
        }
        Thread.sleep(10);
      }
    }

    /** Waits for {@code latch} while this process runs. */
    void await(CountDownLatch latch, String what) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!latch.await(10, TimeUnit.MILLISECONDS)) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          throw new AssertionError(what + ": " + String.join("\n", lines));
        }
      }
    }

    JsonNode finish() throws Exception {
      assertTrue(process.waitFor(60, TimeUnit.SECONDS), "fetch-model did not finish: " + lines);
      assertEquals(0, process.exitValue(), () -> String.join("\n", lines));
      return JSON.readTree(Files.readString(termination));
    }
  }

  @AfterEach
  void stop() {
    started.forEach(f -> f.process.destroyForcibly());
  }

  @Test
  void twoProcessesDownloadOnce() throws Exception {
    try (ModelServer server = new ModelServer(16 << 20, 3)) {
      server.holdFirst = new CountDownLatch(1);
      Fetch first = new Fetch(server.uri(), "a");
      first.await(server.firstHalfSent, "the first process downloads");
      Fetch second = new Fetch(server.uri(), "b");
      second.awaitLine("waiting for it");
      server.holdFirst.countDown();

      JsonNode a = first.finish();
      JsonNode b = second.finish();

      assertEquals(1, server.gets.get(), "downloaded once");
      assertFalse(a.get("cacheHit").asBoolean(), a.toString());
      assertTrue(b.get("cacheHit").asBoolean(), b.toString());
      assertArrayEquals(server.model, Files.readAllBytes(first.target.resolve("model.bin")));
      assertArrayEquals(server.model, Files.readAllBytes(second.target.resolve("model.bin")));
    }
  }

  @Test
  void aProcessKilledMidDownloadLeavesTheDownloadToTheNext() throws Exception {
    try (ModelServer server = new ModelServer(16 << 20, 4)) {
      server.holdFirst = new CountDownLatch(1);
      Fetch first = new Fetch(server.uri(), "a");
      first.await(server.firstHalfSent, "the first process downloads");
      Fetch second = new Fetch(server.uri(), "b");
      second.awaitLine("waiting for it");

      first.process.destroyForcibly(); // SIGKILL: no cleanup, the kernel drops its lock
      first.process.waitFor(10, TimeUnit.SECONDS);
      JsonNode b = second.finish();

      assertEquals(2, server.gets.get(), "the second process downloaded the model itself");
      assertFalse(b.get("cacheHit").asBoolean(), b.toString());
      assertArrayEquals(server.model, Files.readAllBytes(second.target.resolve("model.bin")));
      Fetch third = new Fetch(server.uri(), "c");
      assertTrue(third.finish().get("cacheHit").asBoolean(), "the entry is complete now");
      assertEquals(2, server.gets.get());
    }
  }
}
