package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The Argo CD health checks in argocd/ run by lua5.1 (Argo CD runs them in gopher-lua, which is Lua
 * 5.1) against the status fixtures and expectations of each kind's health_test.yaml, the format
 * Argo CD's own resource customizations use. lua5.1 comes from e2e/tools.sh.
 */
class ArgoCdHealthE2E {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  @TestFactory
  Stream<DynamicTest> healthChecksMatchTheirFixtures() throws Exception {
    List<DynamicTest> tests = new ArrayList<>();
    List<Path> kinds;
    try (Stream<Path> files = Files.walk(Cluster.repoRoot().resolve("argocd"))) {
      kinds =
          files
              .filter(p -> p.getFileName().toString().equals("health_test.yaml"))
              .sorted()
              .toList();
    }
    assertEquals(2, kinds.size(), "health checks for ImageCache and InferenceEndpoint: " + kinds);
    for (Path testFile : kinds) {
      Path dir = testFile.getParent();
      for (JsonNode test : YAML.readTree(testFile.toFile()).get("tests")) {
        String input = test.get("inputPath").asText();
        tests.add(
            DynamicTest.dynamicTest(
                dir.getFileName() + " " + input,
                () -> {
                  JsonNode obj = YAML.readTree(dir.resolve(input).toFile());
                  List<String> got = runLua(dir.resolve("health.lua"), obj);
                  System.out.printf(
                      "e2e: %s/%s -> %s: %s%n", dir.getFileName(), input, got.get(0), got.get(1));
                  assertEquals(test.get("healthStatus").get("status").asText(), got.get(0));
                  assertEquals(test.get("healthStatus").get("message").asText(), got.get(1));
                }));
      }
    }
    return tests.stream();
  }

  /** The argocd-cm patch users apply carries the tested scripts, byte for byte. */
  @org.junit.jupiter.api.Test
  void configMapPatchEmbedsTheTestedScripts() throws Exception {
    Path argocd = Cluster.repoRoot().resolve("argocd");
    JsonNode data = YAML.readTree(argocd.resolve("argocd-cm-health.yaml").toFile()).get("data");
    for (String kind : List.of("ImageCache", "InferenceEndpoint")) {
      assertEquals(
          Files.readString(argocd.resolve("warmstart.dev/" + kind + "/health.lua")),
          data.get("resource.customizations.health.warmstart.dev_" + kind).asText(),
          kind);
    }
  }

  /** Status and message of {@code health.lua} with the global {@code obj}, as Argo CD calls it. */
  static List<String> runLua(Path script, JsonNode obj) throws Exception {
    String program =
        "obj = "
            + lua(obj)
            + "\n"
            + "local hs = dofile("
            + quote(script.toString())
            + ")\n"
            + "io.write(hs.status, '\\n', hs.message or '', '\\n')\n";
    Process p = new ProcessBuilder("lua5.1", "-").redirectErrorStream(true).start();
    p.getOutputStream().write(program.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "lua5.1 failed:\n" + out);
    List<String> lines = List.of(out.split("\n", -1));
    return List.of(lines.get(0), lines.size() > 1 ? lines.get(1) : "");
  }

  /** A JSON value as a Lua literal (objects and arrays as tables, like Argo CD's conversion). */
  static String lua(JsonNode node) {
    if (node.isObject()) {
      StringBuilder b = new StringBuilder("{");
      for (Map.Entry<String, JsonNode> e : node.properties()) {
        b.append('[').append(quote(e.getKey())).append("]=").append(lua(e.getValue())).append(',');
      }
      return b.append('}').toString();
    }
    if (node.isArray()) {
      StringBuilder b = new StringBuilder("{");
      node.forEach(v -> b.append(lua(v)).append(','));
      return b.append('}').toString();
    }
    if (node.isNumber() || node.isBoolean()) {
      return node.asText();
    }
    return node.isNull() ? "nil" : quote(node.asText());
  }

  private static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
      int u = c & 0xff;
      if (u == '"' || u == '\\') {
        b.append('\\').append((char) u);
      } else if (u < 0x20 || u >= 0x7f) {
        b.append('\\').append(u); // Lua's decimal escape: any byte, UTF-8 kept as is
      } else {
        b.append((char) u);
      }
    }
    return b.append('"').toString();
  }
}
