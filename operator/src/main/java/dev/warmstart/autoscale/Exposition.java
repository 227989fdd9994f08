package dev.warmstart.autoscale;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A strict reader of the Prometheus text exposition format 0.0.4 and of OpenMetrics 1.0 text, the
 * two formats inference servers (vLLM, TGI, Triton) serve on their metrics endpoints.
 *
 * <p>Strict on purpose: a scaling decision made from half an exposition is worse than none, so any
 * line that does not parse fails the whole read (OpenMetrics demands this; for 0.0.4 it is our
 * choice). Only the samples are returned; exemplars, HELP and UNIT are checked and dropped.
 */
public final class Exposition {
  /**
   * One line of a metric family: its full name (with _total, _bucket... suffixes), labels and
   * value.
   */
  public record Sample(String name, Map<String, String> labels, double value) {}

  public enum Format {
    PROMETHEUS_TEXT,
    OPENMETRICS
  }

  private static final Set<String> TEXT_TYPES =
      Set.of("counter", "gauge", "histogram", "summary", "untyped");
  private static final Set<String> OM_TYPES =
      Set.of(
          "counter",
          "gauge",
          "histogram",
          "gaugehistogram",
          "stateset",
          "info",
          "summary",
          "unknown");

  private Exposition() {}

  /**
   * The format a Content-Type header announces; Prometheus text when absent or unknown, as
   * Prometheus does.
   */
  public static Format formatOf(String contentType) {
    return contentType != null
            && contentType.toLowerCase(Locale.ROOT).startsWith("application/openmetrics-text")
        ? Format.OPENMETRICS
        : Format.PROMETHEUS_TEXT;
  }

  public static List<Sample> parse(String body, Format format) {
    return new Reader(body, format == Format.OPENMETRICS).read();
  }

  /** Thrown for anything that is not a valid exposition; the message names the line. */
  public static final class MalformedException extends RuntimeException {
    MalformedException(int line, String message) {
      super("line " + line + ": " + message);
    }

    MalformedException(String message) {
      super(message);
    }
  }

  private static final class Reader {
    private final String body;
    private final boolean om;
    private final List<Sample> samples = new ArrayList<>();

    /**
     * Families whose TYPE or samples were seen and that another family has followed (OpenMetrics
     * forbids interleaving).
     */
    private final Set<String> closed = new HashSet<>();

    private final Map<String, String> types = new HashMap<>();
    private final Set<String> helps = new HashSet<>();
    private final Set<String> units = new HashSet<>();
    private final Set<String> sampled = new HashSet<>();
    private String currentFamily;
    private int lineNo;
    private String line;
    private int pos;

    Reader(String body, boolean om) {
      this.body = body;
      this.om = om;
    }

    List<Sample> read() {
      if (body.isEmpty()) {
        if (om) {
          throw new MalformedException("empty OpenMetrics exposition: it must end with # EOF");
        }
        return samples;
      }
      if (om && body.indexOf('\r') >= 0) {
        throw new MalformedException("OpenMetrics lines end with \\n, not \\r\\n");
      }
      if (!body.endsWith("\n") && !(om && body.endsWith("# EOF"))) {
        throw new MalformedException("the exposition does not end with a newline (truncated?)");
      }
      String[] lines = body.split("\n", -1);
      boolean eof = false;
      // split leaves one empty string after the final newline.
      int count = body.endsWith("\n") ? lines.length - 1 : lines.length;
      for (int i = 0; i < count; i++) {
        lineNo = i + 1;
        line = lines[i];
        if (eof) {
          throw fail("content after # EOF");
        }
        if (om && line.equals("# EOF")) {
          eof = true;
          continue;
        }
        if (line.isEmpty() || (!om && line.isBlank())) {
          if (om) {
            throw fail("blank line");
          }
          continue;
        }
        if (line.startsWith("#")) {
          comment();
        } else {
          sample();
        }
      }
      if (om && !eof) {
        throw new MalformedException("OpenMetrics exposition without # EOF (truncated?)");
      }
      return samples;
    }

    private MalformedException fail(String message) {
      return new MalformedException(lineNo, message + ": " + abbreviate(line));
    }

    private static String abbreviate(String s) {
      return s.length() > 120 ? s.substring(0, 117) + "..." : s;
    }

    private void comment() {
      String[] parts = om ? line.split(" ", 4) : line.substring(1).trim().split("[ \t]+", 3);
      if (om) {
        // "# TYPE name type": parts = ["#", "TYPE", name, rest]
        if (parts.length < 3 || !parts[0].equals("#")) {
          throw fail("OpenMetrics allows no comments other than TYPE, UNIT and HELP");
        }
        parts = new String[] {parts[1], parts[2], parts.length > 3 ? parts[3] : null};
      }
      String keyword = parts[0];
      if (!keyword.equals("TYPE") && !keyword.equals("HELP") && !(om && keyword.equals("UNIT"))) {
        if (om) {
          throw fail("OpenMetrics allows no comments other than TYPE, UNIT and HELP");
        }
        return; // a plain comment in the text format
      }
      if (parts.length < 2) {
        throw fail(keyword + " without a metric name");
      }
      String name = parts[1];
      if (!validName(name)) {
        throw fail("invalid metric name '" + name + "'");
      }
      String rest = parts.length > 2 && parts[2] != null ? parts[2] : "";
      enterFamily(name);
      switch (keyword) {
        case "TYPE" -> {
          String type = rest.trim();
          if (!(om ? OM_TYPES : TEXT_TYPES).contains(type)) {
            throw fail("unknown metric type '" + type + "'");
          }
          if (types.putIfAbsent(name, type) != null) {
            throw fail("second TYPE for " + name);
          }
          if (sampled.contains(name)) {
            throw fail("TYPE for " + name + " after its samples");
          }
        }
        case "HELP" -> {
          if (!helps.add(name)) {
            throw fail("second HELP for " + name);
          }
          checkHelpEscapes(rest);
        }
        default -> { // UNIT
          if (!units.add(name)) {
            throw fail("second UNIT for " + name);
          }
          if (!rest.isEmpty() && !name.endsWith("_" + rest)) {
            throw fail("the unit '" + rest + "' must be the suffix of the metric name");
          }
        }
      }
    }

    private void checkHelpEscapes(String help) {
      for (int i = 0; i < help.length(); i++) {
        if (help.charAt(i) == '\\') {
          char next = i + 1 < help.length() ? help.charAt(i + 1) : 0;
          if (next != '\\' && next != 'n' && !(om && next == '"')) {
            throw fail("invalid escape in HELP");
          }
          i++;
        }
      }
    }

    /**
     * Marks {@code family} as the one being read; OpenMetrics families must not come back once
     * left.
     */
    private void enterFamily(String family) {
      if (family.equals(currentFamily)) {
        return;
      }
      if (om && closed.contains(family)) {
        throw fail("metric family " + family + " interleaved with another");
      }
      if (currentFamily != null) {
        closed.add(currentFamily);
      }
      currentFamily = family;
    }

    private void sample() {
      pos = 0;
      String name = name();
      Map<String, String> labels = new LinkedHashMap<>();
      if (pos < line.length() && line.charAt(pos) == '{') {
        labels = labels();
      }
      if (pos >= line.length() || line.charAt(pos) != ' ' && (om || line.charAt(pos) != '\t')) {
        throw fail("expected a space before the value");
      }
      skipBlanks();
      String valueText = token();
      double value = value(valueText);
      if (pos < line.length()) {
        skipBlanks();
        if (pos < line.length() && !(om && line.startsWith("# ", pos))) {
          timestamp(token());
          if (pos < line.length()) {
            skipBlanks();
          }
        }
        if (pos < line.length()) {
          if (om && line.startsWith("# ", pos)) {
            exemplar();
          } else {
            throw fail("unexpected text after the value");
          }
        }
      }
      String family = family(name);
      enterFamily(family);
      sampled.add(family);
      if (om) {
        checkOpenMetricsSuffix(name, family);
      }
      samples.add(new Sample(name, Map.copyOf(labels), value));
    }

    /**
     * The family a sample belongs to: the name of its TYPE line when a suffix (_total, _bucket...)
     * names it.
     */
    private String family(String name) {
      if (types.containsKey(name) || name.equals(currentFamily) && !om) {
        return name;
      }
      for (String suffix :
          new String[] {
            "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info"
          }) {
        if (name.endsWith(suffix)) {
          String base = name.substring(0, name.length() - suffix.length());
          if (types.containsKey(base)) {
            return base;
          }
        }
      }
      return name;
    }

    private void checkOpenMetricsSuffix(String name, String family) {
      String type = types.getOrDefault(family, "unknown");
      String suffix = name.substring(family.length());
      boolean ok =
          switch (type) {
            case "counter" -> suffix.equals("_total") || suffix.equals("_created");
            case "histogram" -> List.of("_bucket", "_count", "_sum", "_created").contains(suffix);
            case "gaugehistogram" -> List.of("_bucket", "_gcount", "_gsum").contains(suffix);
            case "summary" -> List.of("", "_count", "_sum", "_created").contains(suffix);
            case "info" -> suffix.equals("_info");
            default -> suffix.isEmpty();
          };
      if (!ok) {
        throw fail("sample " + name + " does not fit its " + type + " family " + family);
      }
    }

    private String name() {
      int start = pos;
      while (pos < line.length() && nameChar(line.charAt(pos), pos == start)) {
        pos++;
      }
      if (pos == start) {
        throw fail("expected a metric name");
      }
      return line.substring(start, pos);
    }

    private Map<String, String> labels() {
      Map<String, String> labels = new LinkedHashMap<>();
      pos++; // '{'
      while (true) {
        skipBlanksInLabels();
        if (pos < line.length() && line.charAt(pos) == '}') {
          pos++;
          return labels;
        }
        int start = pos;
        while (pos < line.length() && labelChar(line.charAt(pos), pos == start)) {
          pos++;
        }
        if (pos == start) {
          throw fail("expected a label name");
        }
        String label = line.substring(start, pos);
        skipBlanksInLabels();
        expect('=');
        skipBlanksInLabels();
        expect('"');
        String value = labelValue();
        if (labels.put(label, value) != null) {
          throw fail("label " + label + " appears twice");
        }
        skipBlanksInLabels();
        if (pos < line.length() && line.charAt(pos) == ',') {
          pos++;
          if (om && pos < line.length() && line.charAt(pos) == '}') {
            throw fail("trailing comma in labels");
          }
          continue;
        }
        if (pos < line.length() && line.charAt(pos) == '}') {
          pos++;
          return labels;
        }
        throw fail("expected , or } in labels");
      }
    }

    private String labelValue() {
      StringBuilder out = new StringBuilder();
      while (pos < line.length()) {
        char c = line.charAt(pos++);
        if (c == '"') {
          return out.toString();
        }
        if (c == '\\') {
          if (pos >= line.length()) {
            break;
          }
          char e = line.charAt(pos++);
          switch (e) {
            case '\\' -> out.append('\\');
            case '"' -> out.append('"');
            case 'n' -> out.append('\n');
            default -> throw fail("invalid escape \\" + e + " in a label value");
          }
        } else {
          out.append(c);
        }
      }
      throw fail("unterminated label value");
    }

    private void exemplar() {
      pos += 2; // "# "
      if (pos >= line.length() || line.charAt(pos) != '{') {
        throw fail("an exemplar starts with its labels");
      }
      labels();
      if (pos >= line.length() || line.charAt(pos) != ' ') {
        throw fail("expected a space before the exemplar's value");
      }
      pos++;
      value(token());
      if (pos < line.length()) {
        if (line.charAt(pos) != ' ') {
          throw fail("unexpected text in the exemplar");
        }
        pos++;
        timestamp(token());
        if (pos < line.length()) {
          throw fail("unexpected text after the exemplar");
        }
      }
    }

    private String token() {
      int start = pos;
      while (pos < line.length() && line.charAt(pos) != ' ' && line.charAt(pos) != '\t') {
        pos++;
      }
      if (pos == start) {
        throw fail("expected a value");
      }
      return line.substring(start, pos);
    }

    private double value(String text) {
      switch (text) {
        case "NaN":
          return Double.NaN;
        case "+Inf":
          return Double.POSITIVE_INFINITY;
        case "-Inf":
          return Double.NEGATIVE_INFINITY;
        default:
          break;
      }
      if (!om
          && (text.equalsIgnoreCase("nan")
              || text.equalsIgnoreCase("inf")
              || text.equalsIgnoreCase("+inf"))) {
        return text.toLowerCase(Locale.ROOT).equals("nan") ? Double.NaN : Double.POSITIVE_INFINITY;
      }
      if (!om && text.equalsIgnoreCase("-inf")) {
        return Double.NEGATIVE_INFINITY;
      }
      // Java would accept hex floats, "1d" or "Infinity": allow only the decimal forms both formats
      // define.
      if (!text.matches("[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?")) {
        throw fail("invalid value '" + text + "'");
      }
      return Double.parseDouble(text);
    }

    private void timestamp(String text) {
      boolean ok =
          om
              ? text.matches("[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?")
              : text.matches("-?[0-9]{1,19}");
      if (!ok) {
        throw fail(
            "invalid timestamp '" + text + "'" + (om ? "" : " (milliseconds as an integer)"));
      }
    }

    private void expect(char c) {
      if (pos >= line.length() || line.charAt(pos) != c) {
        throw fail("expected '" + c + "'");
      }
      pos++;
    }

    private void skipBlanks() {
      if (om) {
        if (pos < line.length() && line.charAt(pos) == ' ') {
          pos++;
        }
        return;
      }
      while (pos < line.length() && (line.charAt(pos) == ' ' || line.charAt(pos) == '\t')) {
        pos++;
      }
    }

    private void skipBlanksInLabels() {
      if (!om) {
        skipBlanks();
      }
    }

    private static boolean validName(String name) {
      if (name.isEmpty()) {
        return false;
      }
      for (int i = 0; i < name.length(); i++) {
        if (!nameChar(name.charAt(i), i == 0)) {
          return false;
        }
      }
      return true;
    }

    private static boolean nameChar(char c, boolean first) {
      return c >= 'a' && c <= 'z'
          || c >= 'A' && c <= 'Z'
          || c == '_'
          || c == ':'
          || !first && c >= '0' && c <= '9';
    }

    private static boolean labelChar(char c, boolean first) {
      return c >= 'a' && c <= 'z'
          || c >= 'A' && c <= 'Z'
          || c == '_'
          || !first && c >= '0' && c <= '9';
    }
  }
}
