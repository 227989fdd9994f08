package dev.warmstart.fetch.command;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class TerminationLogTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void successIsOneLineOfJsonWithDecimalSeconds() throws Exception {
    String s =
        TerminationLog.success(
            16_389_210_112L, Duration.ofMillis(77_250), 9, "s3://models/qwen3-8b/");

    assertEquals(
        "{\"bytes\":16389210112,\"seconds\":77.250,\"files\":9,\"source\":\"s3://models/qwen3-8b/\","
            + "\"cacheHit\":false}",
        s);
    JsonNode json = JSON.readTree(s);
    assertEquals(16_389_210_112L, json.get("bytes").longValue());
    assertEquals(77.25, json.get("seconds").doubleValue());
  }

  @Test
  void zeroSecondsIsStillADecimal() {
    assertTrue(TerminationLog.success(0, Duration.ZERO, 1, "x").contains("\"seconds\":0.000,"));
  }

  @Test
  void longSourceAndErrorStayUnderTheKubeletLimit() throws Exception {
    String huge = "é\"\\\n".repeat(5000);

    String success = TerminationLog.success(1, Duration.ofSeconds(1), 1, huge);
    String failure = TerminationLog.failure(huge);

    for (String s : new String[] {success, failure}) {
      assertTrue(
          s.getBytes(StandardCharsets.UTF_8).length < TerminationLog.LIMIT, s.length() + " chars");
      assertTrue(!s.contains("\n"), "one line");
      JSON.readTree(s);
    }
    assertTrue(JSON.readTree(failure).get("error").asText().startsWith("é\"\\\n"));
  }

  @Test
  void errorEscapesQuotes() throws Exception {
    String s = TerminationLog.failure("no objects under s3://b/\"p\"/");

    assertEquals("no objects under s3://b/\"p\"/", JSON.readTree(s).get("error").asText());
    assertEquals(1, JSON.readTree(s).size());
  }
}
