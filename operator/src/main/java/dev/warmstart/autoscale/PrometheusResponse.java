package dev.warmstart.autoscale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Reads the answer of Prometheus' instant query API (/api/v1/query): exactly one element, a vector
 * sample or a scalar, with a finite value. Anything else is an error, never a zero: an empty result
 * read as zero is how autoscalers scale to the minimum during an outage (kedacore/keda#3065).
 */
public final class PrometheusResponse {
  static final String FAILED = "FailedPrometheusQuery";
  private static final ObjectMapper JSON = new ObjectMapper();

  private PrometheusResponse() {}

  public static double value(String body) throws MetricException {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (Exception e) {
      throw new MetricException(FAILED, "the answer is not JSON: " + e.getMessage());
    }
    if (root == null || !root.isObject()) {
      throw new MetricException(FAILED, "the answer is not a JSON object");
    }
    if (!"success".equals(root.path("status").asText())) {
      throw new MetricException(
          FAILED,
          "Prometheus says "
              + root.path("errorType").asText("error")
              + ": "
              + root.path("error").asText("(no message)"));
    }
    JsonNode data = root.path("data");
    String type = data.path("resultType").asText();
    JsonNode result = data.path("result");
    JsonNode value;
    switch (type) {
      case "vector" -> {
        if (!result.isArray()) {
          throw new MetricException(FAILED, "vector result is not an array");
        }
        if (result.size() == 0) {
          throw new MetricException("EmptyQueryResult", "the query returned no series");
        }
        if (result.size() > 1) {
          throw new MetricException(
              "AmbiguousQueryResult",
              "the query returned "
                  + result.size()
                  + " series; aggregate it (for example sum(...)) so that it returns one");
        }
        value = result.get(0).path("value");
      }
      case "scalar" -> value = result;
      default ->
          throw new MetricException(
              FAILED,
              "the query returned a "
                  + (type.isEmpty() ? "missing" : type)
                  + " result; an instant vector of one element or a scalar is needed");
    }
    if (!value.isArray() || value.size() != 2 || !value.get(1).isTextual()) {
      throw new MetricException(FAILED, "malformed sample " + value);
    }
    String text = value.get(1).asText();
    double v;
    try {
      v =
          switch (text) {
            case "NaN" -> Double.NaN;
            case "+Inf", "Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(text);
          };
    } catch (NumberFormatException e) {
      throw new MetricException(FAILED, "the value '" + text + "' is not a number");
    }
    if (!Double.isFinite(v)) {
      throw new MetricException("InvalidMetricValue", "the query returned " + text);
    }
    return v;
  }
}
