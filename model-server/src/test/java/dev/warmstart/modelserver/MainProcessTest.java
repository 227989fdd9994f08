package dev.warmstart.modelserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line as Kubernetes sees it: exit codes and SIGTERM, in a JVM of its own. */
class MainProcessTest {

  @TempDir Path tmp;

  private static ProcessBuilder java(String... args) {
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                "-cp",
                System.getProperty("java.class.path"),
                ModelServer.class.getName()));
    command.addAll(List.of(args));
    return new ProcessBuilder(command);
  }

  private static String run(int expectedExit, String... args) throws Exception {
    Process p = java(args).redirectErrorStream(true).start();
    try {
      assertTrue(p.waitFor(10, TimeUnit.SECONDS), "exits");
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(expectedExit, p.exitValue(), out);
      return out;
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void badArgumentsExit2WithTheUsage() throws Exception {
    String out = run(2, "--port", "eighty", "/models/m");
    assertTrue(out.contains("--port takes a whole number, not 'eighty'"), out);
    assertTrue(out.contains("usage: model-server"), out);
    assertTrue(run(2, "load", "--concurrency", "3").contains("--url is required"));
  }

  @Test
  void aChecksumMismatchOrAnEmptyDirectoryExits1() throws Exception {
    Path dir = ModelServerTest.model(tmp, true);
    Files.writeString(dir.resolve("tokenizer.json"), "{\"vocab\": {\"changed\": 1}}");
    String out = run(1, "--host", "127.0.0.1", "--port", "0", dir.toString());
    assertTrue(out.contains("checksum mismatch for tokenizer.json"), out);
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    assertTrue(
        run(1, "--host", "127.0.0.1", "--port", "0", empty.toString()).contains("holds no files"));
  }

  @Test
  void sigtermStopsTheServerWithin1s() throws Exception {
    Path dir = ModelServerTest.model(tmp, true);
    Process p =
        java("--host", "127.0.0.1", "--port", "0", dir.toString())
            .redirectErrorStream(true)
            .start();
    try {
      BufferedReader out =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String line;
      List<String> lines = new ArrayList<>();
      while ((line = out.readLine()) != null) {
        lines.add(line);
        if (line.contains("loaded Qwen/Qwen3-Tiny: 4 files")) {
          break;
        }
      }
      assertTrue(line != null, String.join("\n", lines));
      Matcher port = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(lines.get(0));
      assertTrue(port.find(), lines.get(0));
      long start = System.nanoTime();
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(1, TimeUnit.SECONDS), "exited within 1 s of SIGTERM");
      assertTrue(System.nanoTime() - start < 1_000_000_000L);
      assertEquals(0, p.exitValue());
    } finally {
      p.destroyForcibly();
    }
  }
}
