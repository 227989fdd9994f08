package dev.warmstart.gate;

import dev.warmstart.kube.HelperContract;
import java.util.Locale;

/**
 * What a pod asks the gate to start: a model download (serving pod or warm-pool placeholder) or an
 * image pre-pull (ImageCache pod).
 */
public enum GateKind {
  MODEL(HelperContract.GATE_KIND_MODEL, "model download"),
  PREPULL(HelperContract.GATE_KIND_PREPULL, "image pre-pull");

  private final String wireName;
  private final String description;

  GateKind(String wireName, String description) {
    this.wireName = wireName;
    this.description = description;
  }

  /** As in the gate API's {@code kind} parameter and in metric tags. */
  public String wireName() {
    return wireName;
  }

  public String description() {
    return description;
  }

  public static GateKind parse(String text) {
    String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    for (GateKind kind : values()) {
      if (kind.wireName.equals(t)) {
        return kind;
      }
    }
    throw new IllegalArgumentException(
        "unknown gate kind '" + text + "' (expected model or prepull)");
  }

  @Override
  public String toString() {
    return wireName;
  }
}
