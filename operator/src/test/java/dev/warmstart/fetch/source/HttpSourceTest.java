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

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.warmstart.fetch.command.FetchModelCommand;
import dev.warmstart.fetch.command.FetchModelSupport;
import dev.warmstart.fetch.command.FetchModelSupport.Run;
import dev.warmstart.fetch.transfer.FetchSettings;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * https:// against a JDK HttpsServer on loopback with a self-signed certificate made by keytool.
 */
class HttpSourceTest {
  private static final char[] PASSWORD = "changeit".toCharArray();
  private static final byte[] MODEL = randomBytes(3 * 1024 * 1024 + 17, 42);

  private static HttpsServer server;
  private static ExecutorService executor;
  private static SSLContext clientTls;
  private static String base;
  private static final AtomicInteger flakyRequests = new AtomicInteger();
  private static final AtomicInteger truncatedRequests = new AtomicInteger();
  private static final AtomicInteger unavailableRequests = new AtomicInteger();
  private static final AtomicInteger stallingRequests = new AtomicInteger();

  /** MODEL with byte ranges, faults on demand. */
  private static final RangedHandler ranged = new RangedHandler(MODEL);

  private static final RangedHandler empty = new RangedHandler(new byte[0]);
  private static final long PART = 256 * 1024;

  @TempDir Path tmp;
  Path target;
  Path terminationLog;

  @BeforeAll
  static void startServer(@TempDir Path keys) throws Exception {
    Path keystore = keys.resolve("server.p12");
    Process keytool =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair",
                "-alias",
                "server",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=localhost",
                "-ext",
                "SAN=ip:127.0.0.1,dns:localhost",
                "-validity",
                "2",
                "-storetype",
                "PKCS12",
                "-keystore",
                keystore.toString(),
                "-storepass",
                new String(PASSWORD),
                "-keypass",
                new String(PASSWORD))
            .redirectErrorStream(true)
            .start();
    String keytoolOutput = new String(keytool.getInputStream().readAllBytes());
    assertTrue(keytool.waitFor(60, TimeUnit.SECONDS) && keytool.exitValue() == 0, keytoolOutput);

    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keystore)) {
      ks.load(in, PASSWORD);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, PASSWORD);
    SSLContext serverTls = SSLContext.getInstance("TLS");
    serverTls.init(kmf.getKeyManagers(), null, null);
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    clientTls = SSLContext.getInstance("TLS");
    clientTls.init(null, tmf.getTrustManagers(), null);

    server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(serverTls));
    server.createContext("/models/", ex -> send(ex, MODEL, MODEL.length));
    server.createContext(
        "/redirect/",
        ex -> {
          ex.getResponseHeaders()
              .add("Location", "/models/model.safetensors?X-Amz-Signature=redirected-secret");
          ex.sendResponseHeaders(302, -1);
          ex.close();
        });
    // The first response announces the full length but ends halfway; the next is complete.
    server.createContext(
        "/flaky/",
        ex -> {
          if (flakyRequests.incrementAndGet() == 1) {
            cutShort(ex);
          }
          send(ex, MODEL, MODEL.length);
        });
    server.createContext(
        "/truncated/",
        ex -> {
          truncatedRequests.incrementAndGet();
          cutShort(ex);
        });
    server.createContext(
        "/unavailable/",
        ex -> {
          unavailableRequests.incrementAndGet();
          byte[] body = "overloaded".getBytes();
          send(ex, 503, body);
        });
    server.createContext("/missing/", ex -> send(ex, 404, "no such file".getBytes()));
    server.createContext(
        "/stalling/",
        ex -> {
          if (stallingRequests.incrementAndGet() == 1) {
            ex.sendResponseHeaders(200, MODEL.length);
            ex.getResponseBody().write(MODEL, 0, 1000);
            ex.getResponseBody().flush();
            sleep(5_000);
            throw new IOException("test: gave up on the stalled response");
          }
          send(ex, MODEL, MODEL.length);
        });
    // 3 MiB in 64 KiB pieces over about a second: long enough for progress lines every 100 ms.
    server.createContext(
        "/slow/",
        ex -> {
          ex.sendResponseHeaders(200, MODEL.length);
          try (OutputStream out = ex.getResponseBody()) {
            for (int off = 0; off < MODEL.length; off += 65536) {
              out.write(MODEL, off, Math.min(65536, MODEL.length - off));
              out.flush();
              sleep(20);
            }
          }
        });
    server.createContext("/ranged/", ranged);
    server.createContext("/empty/", empty);
    executor = Executors.newCachedThreadPool();
    server.setExecutor(executor);
    server.start();
    base = "https://127.0.0.1:" + server.getAddress().getPort();
  }

  private static void send(HttpExchange ex, byte[] body, int length) throws IOException {
    ex.sendResponseHeaders(200, length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
    ex.sendResponseHeaders(status, body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  /** Content-Length of the whole model, half the bytes, then the connection drops. */
  private static void cutShort(HttpExchange ex) throws IOException {
    ex.sendResponseHeaders(200, MODEL.length);
    OutputStream out = ex.getResponseBody();
    out.write(MODEL, 0, MODEL.length / 2);
    out.flush();
    // An exception out of the handler makes the JDK server close the connection.
    throw new IOException("test: connection cut short");
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @AfterAll
  static void stopServer() {
    if (server != null) {
      server.stop(0);
    }
    if (executor != null) {
      executor.shutdownNow();
    }
  }

  @BeforeEach
  void paths() {
    target = tmp.resolve("model");
    terminationLog = tmp.resolve("termination-log");
    ranged.reset();
    empty.reset();
  }

  /** A command whose client trusts the test certificate. */
  private static FetchModelCommand trusting() {
    FetchModelCommand command = command();
    FetchModelSupport.withHttpClient(
        command, HttpClient.newBuilder().sslContext(clientTls).build());
    return command;
  }

  private Run fetch(FetchModelCommand command, String url) {
    return run(
        command,
        "--uri",
        url,
        "--to",
        target.toString(),
        "--termination-log",
        terminationLog.toString());
  }

  @Test
  void fetchesOneFileNamedAfterTheUrl() throws IOException {
    Run run = fetch(trusting(), base + "/models/model.safetensors");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertSummary(terminationLog, MODEL.length, 1, base + "/models/model.safetensors");
  }

  @Test
  void followsRedirectsAndNeverPrintsQueryStrings() throws IOException {
    Run run = fetch(trusting(), base + "/redirect/weights.bin?X-Amz-Signature=first-secret");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("weights.bin", MODEL), target);
    String summary = Files.readString(terminationLog);
    assertSummary(terminationLog, MODEL.length, 1, base + "/redirect/weights.bin");
    for (String text : List.of(run.all(), summary)) {
      assertFalse(text.contains("secret"), text);
    }
  }

  @Test
  void truncatedResponseIsRetriedAndNeverLeftUnderTheFinalName() throws IOException {
    flakyRequests.set(0);

    Run run = fetch(trusting(), base + "/flaky/model.safetensors");

    assertEquals(0, run.exit(), run.all());
    assertEquals(2, flakyRequests.get(), "one retry");
    assertTrue(run.out().contains("attempt 1 of 3 failed"), run.out());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertSummary(terminationLog, MODEL.length, 1, base + "/flaky/model.safetensors");
  }

  @Test
  void alwaysTruncatedResponseFailsAfterThreeAttemptsLeavingNoFile() throws IOException {
    truncatedRequests.set(0);

    Run run = fetch(trusting(), base + "/truncated/model.safetensors");

    assertEquals(1, run.exit(), run.all());
    assertEquals(3, truncatedRequests.get());
    assertTrue(files(target).isEmpty(), "no file, final or temporary: " + files(target).keySet());
    String error = assertError(terminationLog);
    assertTrue(error.contains("failed 3 times"), error);
  }

  @Test
  void serverErrorsAreRetriedThenReported() throws IOException {
    unavailableRequests.set(0);

    Run run = fetch(trusting(), base + "/unavailable/model.safetensors");

    assertEquals(1, run.exit(), run.all());
    assertEquals(3, unavailableRequests.get());
    String error = assertError(terminationLog);
    assertTrue(error.contains("HTTP 503") && error.contains("overloaded"), error);
    assertTrue(files(target).isEmpty());
  }

  @Test
  void notFoundIsNotRetried() throws IOException {
    Run run = fetch(trusting(), base + "/missing/model.safetensors");

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertEquals(
        base + "/missing/model.safetensors: not found (HTTP 404): check the URL (no such file)",
        error);
    assertFalse(run.out().contains("retrying"), run.out());
  }

  @Test
  void stalledTransferIsAbortedAndRetried() throws IOException {
    stallingRequests.set(0);
    FetchModelCommand command = trusting();
    FetchModelSupport.withSettings(
        command,
        new FetchSettings(3, Duration.ofMillis(20), Duration.ofSeconds(5), Duration.ofMillis(500)));

    Run run = fetch(command, base + "/stalling/model.safetensors");

    assertEquals(0, run.exit(), run.all());
    assertTrue(run.out().contains("no data received for"), run.out());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertNoTempFiles(target);
  }

  @Test
  void logsProgressWhileDownloading() throws IOException {
    Run run = fetch(trusting(), base + "/slow/model.safetensors");

    assertEquals(0, run.exit(), run.all());
    assertTrue(
        run.out()
            .matches(
                "(?s).*fetch-model: [0-9.]+ [KM]iB of 3\\.0 MiB \\([0-9.]+%\\), 0 of 1 files,"
                    + " [0-9.]+ [KM]?i?B/s \\(average [0-9.]+ [KM]?i?B/s\\), ETA [0-9]+s.*"),
        run.out());
    assertTrue(run.out().contains("fetch-model: done: 1 files, 3.0 MiB in "), run.out());
  }

  @Test
  void certificateIsVerified() throws IOException {
    Run run =
        fetch(command(), base + "/models/model.safetensors"); // the default client: JDK trust store

    assertEquals(1, run.exit(), run.all());
    assertTrue(assertError(terminationLog).contains("failed 3 times"));
    assertTrue(files(target).isEmpty());
  }

  @Test
  void urlWithoutAFileNameIsRejected() throws IOException {
    Run run = fetch(trusting(), base + "/models/");

    assertEquals(1, run.exit(), run.all());
    assertTrue(assertError(terminationLog).contains("the URL must name a file"));
  }

  // ---- ranged, parallel downloads ----

  private Run fetchRanged(String url, String... options) {
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "--uri",
                url,
                "--to",
                target.toString(),
                "--termination-log",
                terminationLog.toString(),
                "--part-size",
                "256Ki"));
    args.addAll(List.of(options));
    return run(trusting(), args.toArray(String[]::new));
  }

  /** The number of parts of MODEL at 256 KiB. */
  private static int parts() {
    return (int) ((MODEL.length + PART - 1) / PART);
  }

  @Test
  void partsFetchedInParallelMakeTheSameBytes() throws IOException {
    Run run = fetchRanged(base + "/ranged/model.safetensors", "--concurrency", "4");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertNoTempFiles(target);
    assertSummary(terminationLog, MODEL.length, 1, base + "/ranged/model.safetensors");
    assertEquals(parts(), ranged.partRequests(PART), "one request per part: " + ranged.requests);
    assertFalse(ranged.requests.containsKey("whole"), ranged.requests.toString());
    assertTrue(ranged.maxInFlight.get() <= 4, "at most 4 at once: " + ranged.maxInFlight.get());
  }

  @Test
  void concurrencyCapIsRespected() throws IOException {
    ranged.delayMillis = 40;
    // Without tail sharing: a slot taking over a share closes its connection while the server may
    // still be
    // writing to it, so the server would briefly count one request more than the slots in use.
    FetchModelCommand command =
        FetchModelSupport.withSettings(trusting(), FetchSettings.defaults().withoutTailSharing());
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "--uri",
                base + "/ranged/model.safetensors",
                "--to",
                target.toString(),
                "--termination-log",
                terminationLog.toString(),
                "--part-size",
                "256Ki",
                "--concurrency",
                "3"));
    Run run = run(command, args.toArray(String[]::new));

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertEquals(3, ranged.maxInFlight.get(), "3 requests in flight at once, never more");
  }

  @Test
  void emptyFileIsFetched() throws IOException {
    Run run = fetchRanged(base + "/empty/empty.txt");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("empty.txt", new byte[0]), target);
    assertSummary(terminationLog, 0, 1, base + "/empty/empty.txt");
  }

  @Test
  void droppedAndShortPartsAreRetriedAlone() throws IOException {
    ranged.faults =
        (offset, attempt) ->
            attempt > 1
                ? RangedHandler.Fault.NONE
                : offset == PART
                    ? RangedHandler.Fault.DROP_MIDWAY
                    : offset == 4 * PART
                        ? RangedHandler.Fault.SHORT_BODY
                        : RangedHandler.Fault.NONE;

    Run run = fetchRanged(base + "/ranged/model.safetensors", "--concurrency", "4");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertEquals(2, ranged.count(PART, 2 * PART - 1), ranged.requests.toString());
    assertEquals(2, ranged.count(4 * PART, 5 * PART - 1), ranged.requests.toString());
    assertEquals(
        parts() + 2, ranged.partRequests(PART), "the other parts once: " + ranged.requests);
    assertTrue(
        run.out()
            .contains(
                "(bytes 1048576-1310719, part 5 of 13): attempt 1 of 3 failed:"
                    + " 'model.safetensors' (bytes 1048576-1310719, part 5 of 13): got 131072 of 262144 bytes;"
                    + " the connection ended early"),
        run.out());
  }

  @Test
  void serverIgnoringRangeIsReadAsOneStream() throws IOException {
    ranged.ignoreRange = true;

    Run run = fetchRanged(base + "/ranged/model.safetensors");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertEquals(1, ranged.total());
    assertEquals(1, ranged.requests.get("whole").get(), "the one request was answered whole");
  }

  @Test
  void fileChangingMidDownloadIsAnErrorAndNotMixed() throws IOException {
    ranged.faults =
        (offset, attempt) -> {
          ranged.etag = "\"v2\""; // changes right after the first part was served
          return RangedHandler.Fault.NONE;
        };

    Run run = fetchRanged(base + "/ranged/model.safetensors", "--concurrency", "2");

    assertEquals(1, run.exit(), run.all());
    assertEquals(
        "'model.safetensors' changed during the download (the server sent the whole file for a range"
            + " request); run again to fetch the new version",
        assertError(terminationLog));
    assertFalse(Files.exists(target.resolve("model.safetensors")));
  }

  @Test
  void restartedRunFetchesOnlyTheMissingParts() throws IOException {
    // The first run: 5 parts, then the server fails for good (503), as if the pod were killed
    // there.
    ranged.failAfter = 5;
    Run first = fetchRanged(base + "/ranged/model.safetensors", "--concurrency", "1");

    assertEquals(1, first.exit(), first.all());
    assertTrue(
        assertError(terminationLog)
            .contains(
                "(bytes 1310720-1572863, part 6 of 13) failed 3 times;"
                    + " last error: "
                    + base
                    + "/ranged/model.safetensors: HTTP 503 (overloaded)"),
        first.err());
    assertFalse(Files.exists(target.resolve("model.safetensors")));
    assertTrue(Files.exists(target.resolve(".model.safetensors.partial.state")));

    ranged.reset();
    Run second = fetchRanged(base + "/ranged/model.safetensors");

    assertEquals(0, second.exit(), second.all());
    assertFiles(Map.of("model.safetensors", MODEL), target);
    assertNoTempFiles(target);
    for (int p = 0; p < parts(); p++) {
      long first0 = p * PART;
      long last = Math.min(first0 + PART, MODEL.length) - 1;
      assertEquals(p < 5 ? 0 : 1, ranged.count(first0, last), "part " + p + ": " + ranged.requests);
    }
    assertEquals(
        parts() - 5, ranged.partRequests(PART), "only the missing parts: " + ranged.requests);
    assertSummary(terminationLog, MODEL.length - 5 * PART, 1, base + "/ranged/model.safetensors");
    assertTrue(
        second.out().contains("resuming: 5 of 13 parts (1.3 MiB) are on disk"), second.out());
  }
}
