package dev.warmstart.modelserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {

  @Test
  void parsesTheValuesARequestHolds() throws Exception {
    Map<?, ?> m =
        (Map<?, ?>)
            Json.parse(
                " {\"prompt\": \"a \\\"b\\\"\\n\\u00e9\", \"max_tokens\": 12, \"t\": -0.5e1, \"s\": true, \"n\": null,"
                    + " \"l\": [1, [], {}], \"big\": 123456789012345678901234567890}\n");
    assertEquals("a \"b\"\né", m.get("prompt"));
    assertEquals(12L, m.get("max_tokens"));
    assertEquals(-5.0, m.get("t"));
    assertEquals(true, m.get("s"));
    assertNull(m.get("n"));
    assertEquals(List.of(1L, List.of(), Map.of()), m.get("l"));
    assertEquals(1.2345678901234568e29, m.get("big"));
  }

  @Test
  void rejectsWhatIsNotJson() {
    for (String bad :
        new String[] {
          "",
          "{",
          "{\"a\":}",
          "{\"a\":1,}",
          "[1 2]",
          "{a:1}",
          "01",
          "1.",
          "-",
          "tru",
          "\"open",
          "{\"a\":1} x",
          "\"tab\there\"",
          "\"\\x\"",
          "[".repeat(100) + "]".repeat(100)
        }) {
      assertThrows(Json.ParseException.class, () -> Json.parse(bad), bad);
    }
  }

  @Test
  void quotesStrings() {
    assertEquals("\"a\\\"b\\\\c\\n\\u0001é\"", Json.quote("a\"b\\c\n\u0001é"));
  }
}
