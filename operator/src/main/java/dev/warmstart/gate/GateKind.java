package dev.warmstart.gate;

import dev.warmstart.kube.Labels;
import java.util.Locale;

/** What a pod asks the gate to start: a model download (serving pod) or an image pre-pull (ImageCache pod). */
public enum GateKind {
  MODEL("model", Labels.COMPONENT_SERVER, "model download"),
  PREPULL("prepull", Labels.COMPONENT_IMAGE_CACHE, "image pre-pull");

  private final String wireName;
  private final String component;
  private final String description;

  GateKind(String wireName, String component, String description) {
    this.wireName = wireName;
    this.component = component;
    this.description = description;
  }

  /** As in the gate API's {@code kind} parameter and in metric tags. */
  public String wireName() {
    return wireName;
  }

  /** The {@link Labels#COMPONENT} of the pods that may ask for this kind. */
  public String component() {
    return component;
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
    throw new IllegalArgumentException("unknown gate kind '" + text + "' (expected model or prepull)");
  }

  @Override
  public String toString() {
    return wireName;
  }
}
