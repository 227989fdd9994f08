package dev.warmstart.api.v1alpha1;

/**
 * The grammar of a container image reference (distribution/reference), as a RE2 pattern that CEL
 * can evaluate at admission. Written without backslashes so that it survives CEL and YAML string
 * escaping unchanged.
 */
public final class ImageReference {
  private static final String DOMAIN_COMPONENT =
      "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
  private static final String DOMAIN =
      DOMAIN_COMPONENT + "(?:[.]" + DOMAIN_COMPONENT + ")*(?::[0-9]+)?";
  private static final String PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
  private static final String TAG = "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}";
  private static final String DIGEST =
      "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

  /** Anchored pattern for a full reference: [domain/]path[:tag][@digest]. */
  public static final String PATTERN =
      "^(?:"
          + DOMAIN
          + "/)?"
          + PATH_COMPONENT
          + "(?:/"
          + PATH_COMPONENT
          + ")*(?::"
          + TAG
          + ")?(?:@"
          + DIGEST
          + ")?$";

  public static final String EXAMPLE =
      "vllm/vllm-openai:v0.11.0 or registry.example.com/team/server@sha256:<64 hex digits>";

  private ImageReference() {}
}
