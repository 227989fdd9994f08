package dev.warmstart.modelserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoadGeneratorTest {

  @TempDir Path tmp;

  @Test
  void keepsRequestsInFlightAndReportsEverySecond() throws Exception {
    try (ModelServer s =
        new ModelServer(
                ModelServer.Options.parse(
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--token-delay-ms",
                    "10",
                    "--max-num-seqs",
                    "2",
                    ModelServerTest.model(tmp, false).toString()))
            .start()) {
      s.loading().get(5, TimeUnit.SECONDS);
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      LoadGenerator load =
          new LoadGenerator(
              LoadGenerator.Options.parse(
                  "--url",
                  "http://127.0.0.1:" + s.port(),
                  "--concurrency",
                  "3",
                  "--duration",
                  "1500ms",
                  "--max-tokens",
                  "5"),
              new PrintStream(bytes, true, StandardCharsets.UTF_8));
      long start = System.nanoTime();
      load.run();
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertTrue(ms >= 1400 && ms < 3000, "ran " + ms + " ms");
      String out = bytes.toString(StandardCharsets.UTF_8);
      assertTrue(out.contains("load: t=1s sent="), out);
      assertTrue(
          out.lines()
              .anyMatch(
                  l -> l.matches("load: t=2s sent=\\d+ ok=\\d+ failed=0 in_flight=\\d+ done")),
          out);
      // Two slots of 50 ms requests for 1.5 s: some 60 answers; 3 clients keep one waiting.
      assertTrue(load.ok() >= 20, out);
      assertEquals(0, load.failed(), out);
      assertTrue(
          s.metrics().contains("vllm:request_success_total{model_name=\"Qwen/Qwen3-Tiny\"} "));
    }
  }

  @Test
  void parsesItsOptions() throws Exception {
    assertEquals(
        "http://svc:8000/v1/completions",
        LoadGenerator.Options.parse("--url", "http://svc:8000").url.toString());
    assertEquals(
        "http://svc:8000/v1/completions",
        LoadGenerator.Options.parse("--url=http://svc:8000/v1/").url.toString());
    assertEquals(
        "http://svc/x/completions",
        LoadGenerator.Options.parse("--url", "http://svc/x/completions").url.toString());
    assertEquals(60_000, LoadGenerator.Options.durationMs("60s"));
    assertEquals(120_000, LoadGenerator.Options.durationMs("2m"));
    assertEquals(250, LoadGenerator.Options.durationMs("250ms"));
    assertEquals(0, LoadGenerator.Options.durationMs("0"));
    assertEquals(7_000, LoadGenerator.Options.durationMs("7"));
    for (String[] bad :
        new String[][] {
          {"--url", "svc:8000"},
          {"--url", "http://x", "--duration", "soon"},
          {"--url", "http://x", "--concurrency", "0"},
          {"--url"},
          {"--url", "http://x", "extra"},
          {}
        }) {
      assertThrows(
          ModelServer.UsageException.class,
          () -> LoadGenerator.Options.parse(bad),
          String.join(" ", bad));
    }
  }
}
