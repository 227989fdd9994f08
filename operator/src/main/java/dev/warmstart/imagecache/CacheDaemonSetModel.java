package dev.warmstart.imagecache;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import dev.warmstart.kube.Names;
import dev.warmstart.kube.PodSecurity;
import io.fabric8.kubernetes.api.model.AffinityBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The DaemonSet that keeps an ImageCache's images on its nodes, as a pure function of the
 * ImageCache. Each image runs as a container whose command is the static pause binary that the
 * install-pause init container drops into a shared emptyDir: the image's own entrypoint never runs,
 * images without a shell work, and a running container pins the image against the kubelet's image
 * garbage collector.
 */
public final class CacheDaemonSetModel {
  public static final String COMPONENT = Labels.COMPONENT_IMAGE_CACHE;

  /** How long a pre-pull yields to model downloads before it pulls anyway. */
  static final String PREPULL_GATE_TIMEOUT = "30m";

  private CacheDaemonSetModel() {}

  public static String daemonSetName(ImageCache cache) {
    return Names.derived("imagecache-", cache.getMetadata().getName());
  }

  /**
   * Container name for an image: readable (the repository's last path part) and unique (a hash of
   * the whole reference).
   */
  public static String containerName(String image) {
    String repository = image.replaceFirst("@.*$", "").replaceFirst(":[^:/]*$", "");
    String last = repository.substring(repository.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
    return Names.derived("", last.length() > 40 ? last.substring(0, 40) : last, 40)
        + "-"
        + Names.hash(image);
  }

  public static Map<String, String> selectorLabels(ImageCache cache) {
    return Map.of(Labels.IMAGE_CACHE, daemonSetName(cache));
  }

  public static Map<String, String> labels(ImageCache cache) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(Labels.NAME, "warmstart");
    labels.put(Labels.COMPONENT, COMPONENT);
    labels.put(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE);
    labels.putAll(selectorLabels(cache));
    return labels;
  }

  public static DaemonSet desired(ImageCache cache, HelperSettings helpers) {
    ImageCacheSpec spec = cache.getSpec();
    List<Container> containers = new ArrayList<>();
    for (String image : spec.getImages()) {
      containers.add(
          new ContainerBuilder()
              .withName(containerName(image))
              .withImage(image)
              .withImagePullPolicy("IfNotPresent")
              .withCommand(HelperSettings.PAUSE)
              .withResources(
                  new ResourceRequirementsBuilder()
                      .addToRequests("cpu", new Quantity("1m"))
                      .addToRequests("memory", new Quantity("4Mi"))
                      .addToLimits("memory", new Quantity("16Mi"))
                      .build())
              .withSecurityContext(PodSecurity.restricted())
              .addNewVolumeMount()
              .withName(HelperSettings.PAUSE_VOLUME)
              .withMountPath(HelperSettings.PAUSE_DIR)
              .withReadOnly(true)
              .endVolumeMount()
              .build());
    }
    List<Container> init = new ArrayList<>();
    init.add(helpers.installPauseContainer(PodSecurity.restricted()));
    if (helpers.gateEnabled()) {
      // Init containers finish before the kubelet pulls the images: a pre-pull waits here while a
      // model download has the node's link, unless a serving pod waiting on that node needs it.
      init.add(
          helpers.gateContainer(
              HelperContract.GATE_KIND_PREPULL, PREPULL_GATE_TIMEOUT, PodSecurity.restricted()));
    }

    var podSpec =
        new DaemonSetBuilder()
            .withNewMetadata()
            .withName(daemonSetName(cache))
            .withNamespace(cache.getMetadata().getNamespace())
            .withLabels(labels(cache))
            .endMetadata()
            .withNewSpec()
            .withNewSelector()
            .withMatchLabels(selectorLabels(cache))
            .endSelector()
            // Surge instead of delete-first: the old pod keeps the images pinned until the new one
            // runs.
            .withNewUpdateStrategy()
            .withType("RollingUpdate")
            .withNewRollingUpdate()
            .withMaxSurge(new IntOrString("25%"))
            .withMaxUnavailable(new IntOrString(0))
            .endRollingUpdate()
            .endUpdateStrategy()
            .withNewTemplate()
            .withNewMetadata()
            .withLabels(labels(cache))
            .addToAnnotations(Labels.IMAGE_CACHE_NAME, cache.getMetadata().getName())
            .addToAnnotations(Labels.IMAGE_CACHE_NAMESPACE, cache.getMetadata().getNamespace())
            .endMetadata()
            .withNewSpec()
            .withAutomountServiceAccountToken(false)
            .withEnableServiceLinks(false)
            .withTerminationGracePeriodSeconds(5L)
            // Only the helpers and pause run here: the whole pod runs as the helpers' user.
            .withSecurityContext(PodSecurity.helperPod())
            .withNodeSelector(spec.getNodeSelector().isEmpty() ? null : spec.getNodeSelector())
            .withAffinity(
                spec.getNodeAffinity() == null
                    ? null
                    : new AffinityBuilder().withNodeAffinity(spec.getNodeAffinity()).build())
            .withTolerations(spec.getTolerations().isEmpty() ? null : spec.getTolerations())
            .withImagePullSecrets(
                spec.getImagePullSecrets().isEmpty() ? null : spec.getImagePullSecrets())
            .withInitContainers(init)
            .withContainers(containers)
            .addToVolumes(HelperSettings.pauseVolume())
            .endSpec()
            .endTemplate()
            .endSpec();
    return podSpec.build();
  }
}
