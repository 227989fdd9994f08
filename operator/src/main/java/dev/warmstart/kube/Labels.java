package dev.warmstart.kube;

/** Label and annotation keys the operator puts on what it creates. */
public final class Labels {
  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String MANAGED_BY_VALUE = "warmstart";
  public static final String COMPONENT = "app.kubernetes.io/component";
  public static final String NAME = "app.kubernetes.io/name";

  /** Selector label of an ImageCache's pods: the derived, length-safe name of its DaemonSet. */
  public static final String IMAGE_CACHE = "warmstart.dev/image-cache";
  /** Annotations that name the owning ImageCache in full (label values are too short for that). */
  public static final String IMAGE_CACHE_NAME = "warmstart.dev/image-cache-name";
  public static final String IMAGE_CACHE_NAMESPACE = "warmstart.dev/image-cache-namespace";

  private Labels() {}
}
