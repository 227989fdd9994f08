package dev.warmstart.fetch.command;

import static dev.warmstart.fetch.command.FetchModelSupport.assertError;
import static dev.warmstart.fetch.command.FetchModelSupport.assertFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertSummary;
import static dev.warmstart.fetch.command.FetchModelSupport.command;
import static dev.warmstart.fetch.command.FetchModelSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.warmstart.fetch.command.FetchModelSupport.Run;
import dev.warmstart.fetch.transfer.FetchSettings;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FetchModelCommandTest {
  @TempDir Path tmp;

  @Test
  void helpListsTheOptions() {
    Run run = run(command(), "--help");

    assertEquals(0, run.exit());
    for (String option :
        new String[] {
          "--uri",
          "--to",
          "--termination-log",
          "--s3-endpoint",
          "--s3-path-style",
          "--hf-endpoint",
          "--concurrency",
          "--part-size",
          "MODEL_URI",
          "MODEL_PATH",
          "HF_TOKEN",
          "AWS_ENDPOINT_URL_S3",
          "/dev/termination-log"
        }) {
      assertTrue(run.out().contains(option), option + " in\n" + run.out());
    }
  }

  @Test
  void missingUriSaysWhatToSet() throws IOException {
    Path log = tmp.resolve("termination-log");

    Run run =
        run(command(), "--to", tmp.resolve("m").toString(), "--termination-log", log.toString());

    assertEquals(1, run.exit());
    assertEquals("no model URI: set --uri or MODEL_URI", assertError(log));
    assertTrue(run.err().contains("fetch-model: error: no model URI"), run.err());
  }

  @Test
  void missingTargetSaysWhatToSet() throws IOException {
    Path log = tmp.resolve("termination-log");

    Run run = run(command(), "--uri", "s3://b/p/", "--termination-log", log.toString());

    assertEquals(1, run.exit());
    assertEquals("no target directory: set --to or MODEL_PATH", assertError(log));
  }

  @Test
  void unsupportedSchemeIsRejectedWithoutEchoingTheUri() throws IOException {
    Path log = tmp.resolve("termination-log");

    Run run =
        run(
            command(),
            "--uri",
            "gs://user:hunter2@bucket/model/",
            "--to",
            tmp.resolve("m").toString(),
            "--termination-log",
            log.toString());

    assertEquals(1, run.exit());
    String error = assertError(log);
    assertEquals(
        "unsupported model URI (scheme 'gs'): use s3://bucket/prefix/, https://host/path/file or"
            + " hf://org/model[@revision]",
        error);
    assertFalse(run.all().contains("hunter2"));
  }

  @Test
  void uriAndTargetComeFromTheEnvironment() throws IOException {
    byte[] body = "weights".getBytes(StandardCharsets.UTF_8);
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/m/w.bin",
        ex -> {
          ex.sendResponseHeaders(200, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        });
    server.start();
    try {
      String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/m/w.bin";
      Path target = tmp.resolve("model");
      Path log = tmp.resolve("termination-log");
      FetchModelCommand command = command();
      command.env = Map.of("MODEL_URI", url, "MODEL_PATH", target.toString());

      Run run = run(command, "--termination-log", log.toString());

      assertEquals(0, run.exit(), run.all());
      assertFiles(Map.of("w.bin", body), target);
      assertSummary(log, body.length, 1, url);
    } finally {
      server.stop(0);
    }
  }

  @Test
  void pathStyleAcceptsTheUsualSpellings() {
    for (String yes : new String[] {"true", "TRUE", "1", "yes", " true "}) {
      assertTrue(FetchModelCommand.parseBoolean(yes), yes);
    }
    for (String no : new String[] {"false", "0", "", "no"}) {
      assertFalse(FetchModelCommand.parseBoolean(no), no);
    }
    assertFalse(FetchModelCommand.parseBoolean(null));
  }

  @Test
  void transferOptionsSetTheDownloadersSettings() {
    FetchModelCommand defaults = command();
    run(
        defaults,
        "--to",
        tmp.resolve("m").toString(),
        "--termination-log",
        tmp.resolve("log").toString());
    assertEquals(FetchSettings.AUTO, defaults.settings.concurrency(), "adaptive by default");
    assertEquals(8 << 20, defaults.settings.partSize());

    FetchModelCommand command = command();
    run(
        command,
        "--concurrency",
        "7",
        "--part-size",
        "32Mi",
        "--to",
        tmp.resolve("m").toString(),
        "--termination-log",
        tmp.resolve("log").toString());
    assertEquals(7, command.settings.concurrency());
    assertEquals(32 << 20, command.settings.partSize());
    assertEquals(
        Duration.ofSeconds(10), command.settings.stallTimeout(), "the other settings stay");

    FetchModelCommand progress = command();
    run(
        progress,
        "--progress-interval",
        "1",
        "--concurrency",
        "AUTO",
        "--to",
        tmp.resolve("m").toString(),
        "--termination-log",
        tmp.resolve("log").toString());
    assertEquals(Duration.ofSeconds(1), progress.settings.progressInterval());
    assertEquals(FetchSettings.AUTO, progress.settings.concurrency());
  }

  @Test
  void transferOptionsOutOfRangeAreUsageErrors() {
    for (String[] args :
        new String[][] {
          {"--concurrency", "0"},
          {"--concurrency", "5000"},
          {"--part-size", "1Ki"},
          {"--part-size", "lots"}
        }) {
      Run run = run(command(), args);

      assertEquals(2, run.exit(), String.join(" ", args));
      assertTrue(run.err().startsWith(args[0]), run.err());
    }
  }
}
