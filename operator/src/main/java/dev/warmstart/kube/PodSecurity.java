package dev.warmstart.kube;

import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSecurityContextBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;

/**
 * The one place that says how locked down the operator's pods run: Kubernetes' "restricted" pod
 * security standard, with the few exceptions a pod needs said where they are made.
 *
 * <p>Who runs as {@link HelperContract#HELPER_UID} differs by pod: an ImageCache pod runs only the
 * helpers and pause, so its whole pod does ({@link #helperPod()}); a serving pod also runs a
 * serving image that may need its own user, so there each helper container says so itself ({@link
 * #helper()}).
 */
public final class PodSecurity {
  private PodSecurity() {}

  /** The pod: the runtime's default seccomp profile; users are set per container. */
  public static PodSecurityContext pod() {
    return new PodSecurityContextBuilder()
        .withNewSeccompProfile()
        .withType("RuntimeDefault")
        .endSeccompProfile()
        .build();
  }

  /** A pod whose every container runs as {@link HelperContract#HELPER_UID}. */
  public static PodSecurityContext helperPod() {
    return new PodSecurityContextBuilder(pod())
        .withRunAsNonRoot(true)
        .withRunAsUser(HelperContract.HELPER_UID)
        .withRunAsGroup(HelperContract.HELPER_UID)
        .build();
  }

  /**
   * Nothing but the right to run: no privilege escalation, no capability, a read-only root
   * filesystem.
   */
  public static SecurityContext restricted() {
    return new SecurityContextBuilder()
        .withAllowPrivilegeEscalation(false)
        .withReadOnlyRootFilesystem(true)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .build();
  }

  /**
   * {@link #restricted()}, as {@link HelperContract#HELPER_UID}: for a container in a pod of mixed
   * users.
   */
  public static SecurityContext helper() {
    return new SecurityContextBuilder(restricted())
        .withRunAsNonRoot(true)
        .withRunAsUser(HelperContract.HELPER_UID)
        .withRunAsGroup(HelperContract.HELPER_UID)
        .build();
  }

  /**
   * {@link #helper()} but as root, still without any capability (no DAC override): for fetch-model
   * writing into the node cache, a hostPath the kubelet creates owned by root with mode 0755.
   */
  public static SecurityContext rootWithoutCapabilities() {
    return new SecurityContextBuilder(helper())
        .withRunAsNonRoot(false)
        .withRunAsUser(0L)
        .withRunAsGroup(0L)
        .build();
  }

  /**
   * A serving image's container: serving images commonly run as root and write to their filesystem,
   * so keep their user and a writable root; take away everything else.
   */
  public static SecurityContext servingImage() {
    return new SecurityContextBuilder()
        .withAllowPrivilegeEscalation(false)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .build();
  }
}
