package dev.warmstart.kube;

/**
 * Label and annotation names the operator puts on what it creates. Container names: {@link
 * HelperContract}.
 */
public final class Labels {
  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String MANAGED_BY_VALUE = "warmstart";
  public static final String COMPONENT = "app.kubernetes.io/component";
  public static final String NAME = "app.kubernetes.io/name";
  public static final String INSTANCE = "app.kubernetes.io/instance";

  /** {@link #COMPONENT} of an ImageCache's pods. */
  public static final String COMPONENT_IMAGE_CACHE = "image-cache";

  /** {@link #COMPONENT} of an InferenceEndpoint's serving pods. */
  public static final String COMPONENT_SERVER = "inference-server";

  /** {@link #COMPONENT} of an InferenceEndpoint's warm-pool placeholders. */
  public static final String COMPONENT_WARM_POOL = "warm-pool";

  /** Selector label of an ImageCache's pods: the derived, length-safe name of its DaemonSet. */
  public static final String IMAGE_CACHE = "warmstart.dev/image-cache";

  /** Annotations that name the owning ImageCache in full (label values are too short for that). */
  public static final String IMAGE_CACHE_NAME = "warmstart.dev/image-cache-name";

  public static final String IMAGE_CACHE_NAMESPACE = "warmstart.dev/image-cache-namespace";

  /** Selector label of an InferenceEndpoint's serving pods: its derived, length-safe name. */
  public static final String ENDPOINT = "warmstart.dev/endpoint";

  /** Annotation naming the owning InferenceEndpoint in full. */
  public static final String ENDPOINT_NAME = "warmstart.dev/endpoint-name";

  /**
   * Selector label of an InferenceEndpoint's warm-pool placeholders: the endpoint's derived name.
   */
  public static final String WARM_POOL = "warmstart.dev/warm-pool";

  /**
   * Scheduling gate of serving pods of an endpoint with a warm pool: the operator removes it,
   * pinning the pod to a warm node first when there is one.
   */
  public static final String WARM_PLACEMENT_GATE = "warmstart.dev/warm-placement";

  /**
   * Annotation on a serving pod the operator placed: the warm node it sent the pod to, or "" for
   * none.
   */
  public static final String WARM_NODE = "warmstart.dev/warm-node";

  /**
   * Annotation on serving pods: "true" when the endpoint's serving image is kept cached on the
   * pool.
   */
  public static final String IMAGE_CACHE_ENABLED = "warmstart.dev/image-cache-enabled";

  private Labels() {}
}
