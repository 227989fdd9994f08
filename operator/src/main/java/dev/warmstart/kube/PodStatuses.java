package dev.warmstart.kube;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import java.util.List;
import java.util.Optional;

/** What a pod's status says, read one way everywhere: its conditions and its containers' states. */
public final class PodStatuses {
  private PodStatuses() {}

  /**
   * The pod's condition of {@code type} (Ready, ContainersReady, PodScheduled...), if the kubelet
   * reported it.
   */
  public static Optional<PodCondition> condition(Pod pod, String type) {
    return pod.getStatus() == null || pod.getStatus().getConditions() == null
        ? Optional.empty()
        : pod.getStatus().getConditions().stream()
            .filter(c -> type.equals(c.getType()))
            .findFirst();
  }

  public static boolean isTrue(Pod pod, String type) {
    return condition(pod, type).map(c -> "True".equals(c.getStatus())).orElse(false);
  }

  /** Ready: every container passed its readiness probe. */
  public static boolean isReady(Pod pod) {
    return isTrue(pod, "Ready");
  }

  /** PodScheduled=False for want of a node with room (not merely not scheduled yet). */
  public static Optional<PodCondition> unschedulable(Pod pod) {
    return condition(pod, "PodScheduled")
        .filter(c -> "False".equals(c.getStatus()) && "Unschedulable".equals(c.getReason()));
  }

  /** The status of the (main) container {@code name}. */
  public static Optional<ContainerStatus> container(Pod pod, String name) {
    return named(pod.getStatus() == null ? null : pod.getStatus().getContainerStatuses(), name);
  }

  /** The status of the init container {@code name}. */
  public static Optional<ContainerStatus> initContainer(Pod pod, String name) {
    return named(pod.getStatus() == null ? null : pod.getStatus().getInitContainerStatuses(), name);
  }

  /** The init containers' statuses, empty before the kubelet reported any. */
  public static List<ContainerStatus> initContainers(Pod pod) {
    return pod.getStatus() == null || pod.getStatus().getInitContainerStatuses() == null
        ? List.of()
        : pod.getStatus().getInitContainerStatuses();
  }

  public static Optional<ContainerStatus> named(List<ContainerStatus> statuses, String name) {
    return statuses == null
        ? Optional.empty()
        : statuses.stream().filter(s -> name.equals(s.getName())).findFirst();
  }

  /** Why the container waits (ImagePullBackOff, CrashLoopBackOff...), or null when it does not. */
  public static String waitingReason(ContainerStatus status) {
    return status.getState() == null || status.getState().getWaiting() == null
        ? null
        : status.getState().getWaiting().getReason();
  }
}
