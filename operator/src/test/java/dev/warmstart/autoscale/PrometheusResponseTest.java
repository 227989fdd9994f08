package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PrometheusResponseTest {
  private static String vector(String... values) {
    StringBuilder result = new StringBuilder();
    for (int i = 0; i < values.length; i++) {
      result
          .append(i == 0 ? "" : ",")
          .append("{\"metric\":{\"pod\":\"p")
          .append(i)
          .append("\"},\"value\":[1700000000.5,\"")
          .append(values[i])
          .append("\"]}");
    }
    return "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
        + result
        + "]}}";
  }

  @Test
  void oneSampleOrAScalarIsTheValue() throws MetricException {
    assertEquals(42.5, PrometheusResponse.value(vector("42.5")));
    assertEquals(
        3,
        PrometheusResponse.value(
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1700000000,\"3\"]}}"));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      no series                | EMPTY    | EmptyQueryResult
      several series           | SEVERAL  | AmbiguousQueryResult
      NaN                      | NaN      | InvalidMetricValue
      +Inf                     | +Inf     | InvalidMetricValue
      -Inf                     | -Inf     | InvalidMetricValue
      not a number             | forty    | FailedPrometheusQuery
      """)
  void badAnswersAreErrorsNotZero(String what, String value, String reason) {
    String body =
        switch (value) {
          case "EMPTY" -> vector();
          case "SEVERAL" -> vector("1", "2");
          default -> vector(value);
        };
    assertEquals(
        reason, assertThrows(MetricException.class, () -> PrometheusResponse.value(body)).reason());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
      error status      | '{"status":"error","errorType":"bad_data","error":"parse error at char 5"}'
      matrix result     | '{"status":"success","data":{"resultType":"matrix","result":[]}}'
      string result     | '{"status":"success","data":{"resultType":"string","result":[1,"x"]}}'
      not JSON          | '<html>502 Bad Gateway</html>'
      JSON array        | '[]'
      sample w/o value  | '{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}'
      numeric value     | '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}'
      """)
  void malformedAnswersAreErrors(String what, String body) {
    MetricException e = assertThrows(MetricException.class, () -> PrometheusResponse.value(body));
    assertEquals("FailedPrometheusQuery", e.reason(), e.getMessage());
  }

  @Test
  void prometheusErrorMessageReachesTheUser() {
    MetricException e =
        assertThrows(
            MetricException.class,
            () ->
                PrometheusResponse.value(
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error at char 5\"}"));
    assertEquals("Prometheus says bad_data: parse error at char 5", e.getMessage());
  }
}
