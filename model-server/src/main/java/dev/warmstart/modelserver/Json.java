package dev.warmstart.modelserver;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The little JSON this server needs, without a library: a strict parser into {@link Map}, {@link
 * List}, {@link String}, {@link Double} or {@link Long}, {@link Boolean} and {@code null}, and
 * string quoting for the answers (which are written by hand).
 */
final class Json {

  /** Input that is not one complete JSON value. */
  static final class ParseException extends Exception {
    ParseException(String message, int at) {
      super(message + " at offset " + at);
    }
  }

  private static final int MAX_DEPTH = 64;

  private final String s;
  private int i;

  private Json(String s) {
    this.s = s;
  }

  static Object parse(String text) throws ParseException {
    Json p = new Json(text);
    p.skipSpace();
    Object value = p.value(0);
    p.skipSpace();
    if (p.i != text.length()) {
      throw new ParseException("unexpected trailing characters", p.i);
    }
    return value;
  }

  /** {@code value} as a JSON string literal. */
  static String quote(String value) {
    StringBuilder b = new StringBuilder(value.length() + 2).append('"');
    for (int k = 0; k < value.length(); k++) {
      char c = value.charAt(k);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  private Object value(int depth) throws ParseException {
    if (depth > MAX_DEPTH) {
      throw new ParseException("nested too deeply", i);
    }
    if (i >= s.length()) {
      throw new ParseException("unexpected end of input", i);
    }
    char c = s.charAt(i);
    switch (c) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        return literal("true", Boolean.TRUE);
      case 'f':
        return literal("false", Boolean.FALSE);
      case 'n':
        return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return number();
        }
        throw new ParseException("unexpected character '" + c + "'", i);
    }
  }

  private Map<String, Object> object(int depth) throws ParseException {
    Map<String, Object> map = new LinkedHashMap<>();
    i++;
    skipSpace();
    if (peek() == '}') {
      i++;
      return map;
    }
    while (true) {
      skipSpace();
      if (peek() != '"') {
        throw new ParseException("expected a member name", i);
      }
      String key = string();
      skipSpace();
      expect(':');
      skipSpace();
      map.put(key, value(depth + 1));
      skipSpace();
      char c = next();
      if (c == '}') {
        return map;
      }
      if (c != ',') {
        throw new ParseException("expected ',' or '}'", i - 1);
      }
    }
  }

  private List<Object> array(int depth) throws ParseException {
    List<Object> list = new ArrayList<>();
    i++;
    skipSpace();
    if (peek() == ']') {
      i++;
      return list;
    }
    while (true) {
      skipSpace();
      list.add(value(depth + 1));
      skipSpace();
      char c = next();
      if (c == ']') {
        return list;
      }
      if (c != ',') {
        throw new ParseException("expected ',' or ']'", i - 1);
      }
    }
  }

  private String string() throws ParseException {
    expect('"');
    StringBuilder b = new StringBuilder();
    while (true) {
      char c = next();
      if (c == '"') {
        return b.toString();
      }
      if (c < 0x20) {
        throw new ParseException("control character in a string", i - 1);
      }
      if (c != '\\') {
        b.append(c);
        continue;
      }
      char e = next();
      switch (e) {
        case '"', '\\', '/' -> b.append(e);
        case 'b' -> b.append('\b');
        case 'f' -> b.append('\f');
        case 'n' -> b.append('\n');
        case 'r' -> b.append('\r');
        case 't' -> b.append('\t');
        case 'u' -> {
          if (i + 4 > s.length()) {
            throw new ParseException("truncated \\u escape", i);
          }
          try {
            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
          } catch (NumberFormatException ex) {
            throw new ParseException("bad \\u escape", i);
          }
          i += 4;
        }
        default -> throw new ParseException("bad escape '\\" + e + "'", i - 1);
      }
    }
  }

  private Object number() throws ParseException {
    int start = i;
    if (peek() == '-') {
      i++;
    }
    int digits = digits();
    if (digits == 0 || (digits > 1 && s.charAt(i - digits) == '0')) {
      throw new ParseException("bad number", start);
    }
    boolean integral = true;
    if (peek() == '.') {
      i++;
      integral = false;
      if (digits() == 0) {
        throw new ParseException("bad number", start);
      }
    }
    if (peek() == 'e' || peek() == 'E') {
      i++;
      integral = false;
      if (peek() == '+' || peek() == '-') {
        i++;
      }
      if (digits() == 0) {
        throw new ParseException("bad number", start);
      }
    }
    String text = s.substring(start, i);
    if (integral) {
      try {
        return Long.parseLong(text);
      } catch (NumberFormatException tooBig) {
        // falls through to a double
      }
    }
    return Double.parseDouble(text);
  }

  private int digits() {
    int start = i;
    while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
      i++;
    }
    return i - start;
  }

  private Object literal(String word, Object value) throws ParseException {
    if (!s.startsWith(word, i)) {
      throw new ParseException("unexpected literal", i);
    }
    i += word.length();
    return value;
  }

  private void expect(char c) throws ParseException {
    if (next() != c) {
      throw new ParseException("expected '" + c + "'", i - 1);
    }
  }

  private char next() throws ParseException {
    if (i >= s.length()) {
      throw new ParseException("unexpected end of input", i);
    }
    return s.charAt(i++);
  }

  private char peek() {
    return i < s.length() ? s.charAt(i) : '\0';
  }

  private void skipSpace() {
    while (i < s.length()) {
      char c = s.charAt(i);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      i++;
    }
  }
}
