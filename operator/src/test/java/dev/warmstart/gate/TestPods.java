package dev.warmstart.gate;

import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.util.ArrayList;
import java.util.List;

/** Pods shaped like the ones the operator creates, and their container states. */
final class TestPods {
  static final String NAMESPACE = "ml";

  private TestPods() {}

  /** A serving pod: init containers gate and fetch-model, container server; no status yet. */
  static Pod serving(String name, String node, String image, boolean imageCacheEnabled) {
    return new PodBuilder()
        .withNewMetadata()
        .withNamespace(NAMESPACE)
        .withName(name)
        .withUid(uid(name))
        .addToLabels(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
        .addToLabels(Labels.COMPONENT, Labels.COMPONENT_SERVER)
        .addToAnnotations(Labels.IMAGE_CACHE_ENABLED, Boolean.toString(imageCacheEnabled))
        .endMetadata()
        .withNewSpec()
        .withNodeName(node)
        .addNewInitContainer()
        .withName(HelperContract.CONTAINER_GATE)
        .withImage("warmstart/warmstart:0.1.0")
        .endInitContainer()
        .addNewInitContainer()
        .withName(HelperContract.CONTAINER_FETCH_MODEL)
        .withImage("warmstart/warmstart:0.1.0")
        .endInitContainer()
        .addNewContainer()
        .withName(HelperContract.CONTAINER_SERVER)
        .withImage(image)
        .endContainer()
        .endSpec()
        .build();
  }

  /**
   * A warm-pool placeholder: the serving pod's init containers, the serving image in container
   * placeholder.
   */
  static Pod placeholder(String name, String node, String image) {
    Pod pod = serving(name, node, image, true);
    pod.getMetadata().getLabels().put(Labels.COMPONENT, Labels.COMPONENT_WARM_POOL);
    pod.getSpec().getContainers().get(0).setName(HelperContract.CONTAINER_PLACEHOLDER);
    return pod;
  }

  /**
   * An image-cache pod: init containers install-pause and gate, one container per image (c0,
   * c1...).
   */
  static Pod cache(String name, String node, String... images) {
    PodBuilder pod =
        new PodBuilder()
            .withNewMetadata()
            .withNamespace(NAMESPACE)
            .withName(name)
            .withUid(uid(name))
            .addToLabels(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
            .addToLabels(Labels.COMPONENT, Labels.COMPONENT_IMAGE_CACHE)
            .endMetadata()
            .withNewSpec()
            .withNodeName(node)
            .addNewInitContainer()
            .withName(HelperContract.CONTAINER_INSTALL_PAUSE)
            .withImage("warmstart/warmstart:0.1.0")
            .endInitContainer()
            .addNewInitContainer()
            .withName(HelperContract.CONTAINER_GATE)
            .withImage("warmstart/warmstart:0.1.0")
            .endInitContainer()
            .endSpec();
    for (int i = 0; i < images.length; i++) {
      pod.editSpec()
          .addNewContainer()
          .withName("c" + i)
          .withImage(images[i])
          .endContainer()
          .endSpec();
    }
    return pod.build();
  }

  static String uid(String name) {
    return "uid-" + name;
  }

  static ContainerState running() {
    return new ContainerStateBuilder()
        .withNewRunning()
        .withStartedAt("2025-01-01T00:00:00Z")
        .endRunning()
        .build();
  }

  static ContainerState terminated(int exitCode) {
    return new ContainerStateBuilder()
        .withNewTerminated()
        .withExitCode(exitCode)
        .endTerminated()
        .build();
  }

  static ContainerState waiting(String reason) {
    return new ContainerStateBuilder().withNewWaiting().withReason(reason).endWaiting().build();
  }

  /** A copy of {@code pod} whose init container {@code name} is in {@code state}. */
  static Pod withInit(Pod pod, String name, ContainerState state) {
    Pod copy = new PodBuilder(pod).build();
    PodStatus status = copy.getStatus() == null ? new PodStatus() : copy.getStatus();
    status.setInitContainerStatuses(replace(status.getInitContainerStatuses(), name, state));
    copy.setStatus(status);
    return copy;
  }

  /** A copy of {@code pod} whose container {@code name} is in {@code state}. */
  static Pod withContainer(Pod pod, String name, ContainerState state) {
    Pod copy = new PodBuilder(pod).build();
    PodStatus status = copy.getStatus() == null ? new PodStatus() : copy.getStatus();
    status.setContainerStatuses(replace(status.getContainerStatuses(), name, state));
    copy.setStatus(status);
    return copy;
  }

  /**
   * Both init containers of a cache pod done: its images are being pulled (their containers have no
   * state yet).
   */
  static Pod cacheInitDone(Pod pod) {
    return withInit(
        withInit(pod, HelperContract.CONTAINER_INSTALL_PAUSE, terminated(0)),
        HelperContract.CONTAINER_GATE,
        terminated(0));
  }

  /** A cache pod with every image container running. */
  static Pod cacheRunning(Pod pod) {
    Pod p = cacheInitDone(pod);
    for (int i = 0; i < pod.getSpec().getContainers().size(); i++) {
      p = withContainer(p, "c" + i, running());
    }
    return p;
  }

  private static List<ContainerStatus> replace(
      List<ContainerStatus> statuses, String name, ContainerState state) {
    List<ContainerStatus> result = new ArrayList<>();
    if (statuses != null) {
      statuses.stream().filter(s -> !name.equals(s.getName())).forEach(result::add);
    }
    result.add(new ContainerStatusBuilder().withName(name).withState(state).build());
    return result;
  }
}
