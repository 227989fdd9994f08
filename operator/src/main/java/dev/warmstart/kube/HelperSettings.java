package dev.warmstart.kube;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;

/**
 * How the pods the operator creates reach its in-pod helpers.
 *
 * @param image the image with the warmstart jar (install-pause, gate, fetch-model)
 * @param gateUrl the URL of the operator's gate API as seen from workload pods, or null when the
 *     gate is off (then pods get no gate init container and start their downloads at once)
 */
public record HelperSettings(String image, String gateUrl) {
  /** Keep the helper JVMs small and quick to start: they wait, or run for a moment. */
  public static final String JVM_OPTIONS =
      "-XX:+UseSerialGC -Xss256k -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto";

  /**
   * fetch-model's: small too, but it checksums gigabytes, and the C2 compiler doubles its MD5 rate
   * (320 to 660 MB/s measured here), so no TieredStopAtLevel=1. The image's class-data-sharing
   * archive (image/build.sh) halves its start-up; without it (another image) the JVM starts
   * normally.
   */
  public static final String FETCH_MODEL_JVM_OPTIONS =
      "-XX:+UseSerialGC -Xss256k -XX:-UsePerfData -Xshare:auto -XX:SharedArchiveFile=/app/warmstart.jsa -Xmx256m";

  /**
   * The emptyDir that install-pause fills and the containers that run the pause binary mount
   * read-only.
   */
  public static final String PAUSE_VOLUME = "warmstart-bin";

  public static final String PAUSE_DIR = "/warmstart/bin";
  public static final String PAUSE = PAUSE_DIR + "/pause";

  public boolean gateEnabled() {
    return gateUrl != null && !gateUrl.isBlank();
  }

  /**
   * The install-pause init container: writes the static pause binary to {@link #PAUSE} in the
   * {@link #PAUSE_VOLUME} emptyDir, so that any image can run it as its command.
   */
  public Container installPauseContainer(SecurityContext securityContext) {
    return new ContainerBuilder()
        .withName(HelperContract.CONTAINER_INSTALL_PAUSE)
        .withImage(image)
        .withImagePullPolicy("IfNotPresent")
        .withArgs(HelperContract.COMMAND_INSTALL_PAUSE, PAUSE)
        // Keep the JVM small: it only writes a few hundred bytes.
        .addNewEnv()
        .withName("JAVA_TOOL_OPTIONS")
        .withValue(JVM_OPTIONS + " -Xmx24m")
        .endEnv()
        .withResources(
            new ResourceRequirementsBuilder()
                .addToRequests("cpu", new Quantity("10m"))
                .addToRequests("memory", new Quantity("48Mi"))
                .addToLimits("memory", new Quantity("96Mi"))
                .build())
        .withSecurityContext(securityContext)
        .addNewVolumeMount()
        .withName(PAUSE_VOLUME)
        .withMountPath(PAUSE_DIR)
        .endVolumeMount()
        .build();
  }

  /**
   * The emptyDir that {@link #installPauseContainer} fills: the pause binary needs a few hundred
   * bytes.
   */
  public static Volume pauseVolume() {
    return new VolumeBuilder()
        .withName(PAUSE_VOLUME)
        .withNewEmptyDir()
        .withSizeLimit(new Quantity("1Mi"))
        .endEmptyDir()
        .build();
  }

  /**
   * The {@code gate} init container, the same in serving pods ({@code kind} {@link
   * HelperContract#GATE_KIND_MODEL}) and cache pods ({@link HelperContract#GATE_KIND_PREPULL}): it
   * knows its pod from the downward API and gives up after {@code timeout}.
   */
  public Container gateContainer(String kind, String timeout, SecurityContext securityContext) {
    return new ContainerBuilder()
        .withName(HelperContract.CONTAINER_GATE)
        .withImage(image)
        .withImagePullPolicy("IfNotPresent")
        .withArgs(
            HelperContract.COMMAND_GATE,
            HelperContract.GATE_OPTION_KIND + "=" + kind,
            HelperContract.GATE_OPTION_URL + "=" + gateUrl,
            HelperContract.GATE_OPTION_TIMEOUT + "=" + timeout)
        .withEnv(DownwardApi.podIdentity())
        .addToEnv(new EnvVar("JAVA_TOOL_OPTIONS", JVM_OPTIONS + " -Xmx24m", null))
        .withResources(
            new ResourceRequirementsBuilder()
                .addToRequests("cpu", new Quantity("10m"))
                .addToRequests("memory", new Quantity("48Mi"))
                .addToLimits("memory", new Quantity("96Mi"))
                .build())
        .withSecurityContext(securityContext)
        .build();
  }
}
