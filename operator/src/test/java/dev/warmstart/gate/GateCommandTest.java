package dev.warmstart.gate;

import static dev.warmstart.gate.GateDeciderTest.IMAGE;
import static dev.warmstart.gate.GateDeciderTest.NODE;
import static dev.warmstart.gate.TestPods.cache;
import static dev.warmstart.gate.TestPods.cacheRunning;
import static dev.warmstart.gate.TestPods.serving;
import static dev.warmstart.gate.TestPods.uid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The in-pod gate: at least one real JVM per behaviour that matters to a pod's start. */
class GateCommandTest {
  private static final GateSettings SETTINGS =
      GateSettings.DEFAULTS.withVerifyGrace(Duration.ofMillis(100));
  private final FakePods pods = new FakePods();
  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (AutoCloseable c : cleanup) {
      c.close();
    }
  }

  @Test
  void proceedsAtItsDeadlineWhenNothingListens() throws Exception {
    Gate gate = launch(freePort(), "model", "2s");
    assertEquals(0, gate.exitWithin(Duration.ofSeconds(20)), gate.output());
    assertTrue(gate.output().contains("unreachable"), gate.output());
    assertTrue(gate.output().contains("gate timed out after 2s, proceeding"), gate.output());
    assertTrue(
        gate.elapsed().compareTo(Duration.ofSeconds(2)) >= 0,
        "not before its deadline: " + gate.elapsed());
  }

  @Test
  void opensWhenTheOperatorSaysGo() throws Exception {
    pods.put(cacheRunning(cache("c", NODE, IMAGE))).put(serving("p", NODE, IMAGE, true));
    GateServer server = server(0);
    Gate gate = launch(server.port(), "model", "1m");
    assertEquals(0, gate.exitWithin(Duration.ofSeconds(20)), gate.output());
    assertTrue(gate.output().contains("gate open after"), gate.output());
    assertTrue(gate.output().contains(GatePolicy.IMAGE_CACHED), gate.output());
  }

  @Test
  void keepsWaitingAcrossAnOperatorRestartThenOpens() throws Exception {
    pods.put(cache("c", NODE, IMAGE))
        .put(serving("p", NODE, IMAGE, true)); // the image's pull not started yet
    GateServer first = server(0);
    int port = first.port();
    Gate gate = launch(port, "model", "1m");
    gate.awaitLine(GatePolicy.IMAGE_NOT_CACHED, Duration.ofSeconds(15));

    first.close();
    gate.awaitLine("unreachable", Duration.ofSeconds(5));
    Thread.sleep(500);
    pods.put(cacheRunning(cache("c", NODE, IMAGE)));
    server(port);

    assertEquals(0, gate.exitWithin(Duration.ofSeconds(20)), gate.output());
    assertTrue(gate.output().contains("gate open after"), gate.output());
    assertTrue(
        gate.elapsed().compareTo(Duration.ofSeconds(30)) < 0,
        "opened, did not time out: " + gate.output());
  }

  @Test
  void refusalIsLoggedAndTheGateProceeds() throws Exception {
    GateServer server = server(0);
    StringWriter out = new StringWriter();
    int code =
        inProcess(
            out,
            "--url",
            "http://127.0.0.1:" + server.port(),
            "--kind",
            "model",
            "--timeout",
            "1m",
            "--namespace",
            TestPods.NAMESPACE,
            "--pod",
            "ghost",
            "--uid",
            uid("ghost"),
            "--node",
            NODE);
    assertEquals(0, code);
    assertTrue(
        out.toString().contains("refused by the operator (HTTP 403 UnknownPod"), out.toString());
  }

  @Test
  void nonLeaderIsRetriedUntilTheDeadline() throws Exception {
    pods.put(serving("p", NODE, IMAGE, true));
    GateServer server =
        new GateServer(
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
            pods,
            () -> false,
            new SimpleMeterRegistry(),
            Clock.systemUTC(),
            SETTINGS);
    server.start();
    cleanup.add(server);
    StringWriter out = new StringWriter();
    long start = System.nanoTime();
    int code =
        inProcess(
            out,
            "--url",
            "http://127.0.0.1:" + server.port(),
            "--kind",
            "model",
            "--timeout",
            "1500ms",
            "--namespace",
            TestPods.NAMESPACE,
            "--pod",
            "p",
            "--uid",
            uid("p"),
            "--node",
            NODE);
    assertEquals(0, code);
    assertTrue(out.toString().contains("HTTP 503 NotLeader"), out.toString());
    assertTrue(out.toString().contains("gate timed out after 1500ms, proceeding"), out.toString());
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(1500), out.toString());
  }

  @Test
  void missingOrBadSettingsProceedAtOnce() {
    StringWriter out = new StringWriter();
    assertEquals(
        0,
        inProcess(
            out,
            "--url",
            "http://127.0.0.1:1",
            "--kind",
            "prepull",
            "--namespace",
            "",
            "--pod",
            "",
            "--uid",
            "",
            "--node",
            ""));
    assertTrue(out.toString().contains("missing --namespace (POD_NAMESPACE)"), out.toString());
    StringWriter badUrl = new StringWriter();
    assertEquals(
        0,
        inProcess(
            badUrl,
            "--url",
            "warmstart-gate:8081",
            "--kind",
            "model",
            "--namespace",
            "ml",
            "--pod",
            "p",
            "--uid",
            "u",
            "--node",
            "n"));
    assertTrue(badUrl.toString().contains("is not an http(s) URL"), badUrl.toString());
    StringWriter badKind = new StringWriter();
    assertEquals(0, inProcess(badKind, "--url", "http://127.0.0.1:1", "--kind", "copy"));
    assertTrue(badKind.toString().contains("unknown gate kind"), badKind.toString());
  }

  // ---- helpers ------------------------------------------------------------------------------

  private GateServer server(int port) throws IOException {
    GateServer server =
        new GateServer(
            new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
            pods,
            () -> true,
            new SimpleMeterRegistry(),
            Clock.systemUTC(),
            SETTINGS);
    server.start();
    cleanup.add(server);
    return server;
  }

  private static int inProcess(StringWriter out, String... args) {
    CommandLine cl = new CommandLine(new GateCommand());
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(out, true));
    return cl.execute(args);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /**
   * The gate as the init container runs it: its own small JVM, identity from the downward-API
   * variables.
   */
  private Gate launch(int port, String kind, String timeout) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb =
        new ProcessBuilder(
                java,
                "-XX:+UseSerialGC",
                "-Xmx16m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                testClassPath(),
                GateCommandMain.class.getName(),
                "--kind",
                kind,
                "--timeout",
                timeout)
            .redirectErrorStream(true);
    Map<String, String> env = pb.environment();
    env.put("WARMSTART_GATE_URL", "http://127.0.0.1:" + port);
    env.put("POD_NAMESPACE", TestPods.NAMESPACE);
    env.put("POD_NAME", "p");
    env.put("POD_UID", uid("p"));
    env.put("NODE_NAME", NODE);
    Gate gate = new Gate(pb.start(), System.nanoTime());
    cleanup.add(gate);
    return gate;
  }

  /**
   * The class path this test runs with, also under launchers that load it in a class loader of
   * their own.
   */
  private static String testClassPath() {
    Set<String> entries = new LinkedHashSet<>();
    for (ClassLoader l = GateCommandMain.class.getClassLoader(); l != null; l = l.getParent()) {
      if (l instanceof URLClassLoader urls) {
        for (URL url : urls.getURLs()) {
          try {
            entries.add(Path.of(url.toURI()).toString());
          } catch (URISyntaxException | IllegalArgumentException ignored) {
            // Not a file: not for a class path.
          }
        }
      }
    }
    entries.addAll(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
    return String.join(File.pathSeparator, entries);
  }

  private static final class Gate implements AutoCloseable {
    final Process process;
    final long started;
    final List<String> lines = new CopyOnWriteArrayList<>();
    volatile long ended;

    Gate(Process process, long started) {
      this.process = process;
      this.started = started;
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
                  // The process is gone.
                }
              },
              "gate-output");
      reader.setDaemon(true);
      reader.start();
    }

    int exitWithin(Duration d) throws InterruptedException {
      if (!process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        throw new AssertionError("gate still running after " + d + ": " + output());
      }
      ended = System.nanoTime();
      Thread.sleep(100);
      return process.exitValue();
    }

    void awaitLine(String text, Duration d) throws InterruptedException {
      long until = System.nanoTime() + d.toNanos();
      while (System.nanoTime() < until) {
        if (lines.stream().anyMatch(l -> l.contains(text))) {
          return;
        }
        Thread.sleep(20);
      }
      throw new AssertionError("no line with '" + text + "' within " + d + ": " + output());
    }

    Duration elapsed() {
      return Duration.ofNanos(ended - started);
    }

    String output() {
      return String.join("\n", lines);
    }

    @Override
    public void close() {
      process.destroyForcibly();
    }
  }
}
