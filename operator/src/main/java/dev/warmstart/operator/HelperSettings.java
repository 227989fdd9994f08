package dev.warmstart.operator;

/**
 * How the pods the operator creates reach its in-pod helpers.
 *
 * @param image the image with the warmstart jar (install-pause, gate, fetch-model)
 * @param gateUrl the URL of the operator's gate API as seen from workload pods, or null when the
 *     gate is off (then pods get no gate init container and start their downloads at once)
 */
public record HelperSettings(String image, String gateUrl) {
  /** Keep the helper JVMs small: they move bytes or wait, nothing else. */
  public static final String JVM_OPTIONS =
      "-XX:+UseSerialGC -Xss256k -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto";

  public boolean gateEnabled() {
    return gateUrl != null && !gateUrl.isBlank();
  }
}
