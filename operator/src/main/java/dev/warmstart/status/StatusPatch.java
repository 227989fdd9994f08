package dev.warmstart.status;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.CustomResource;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.util.function.Supplier;

/** How both controllers write a status: only when it changed, and only the status. */
public final class StatusPatch {
  private StatusPatch() {}

  /** No update when {@code status} equals what the resource holds, else a status-only patch. */
  public static <S, P extends CustomResource<?, S>> UpdateControl<P> ifChanged(
      P resource, S status, Supplier<P> blank) {
    return status.equals(resource.getStatus())
        ? UpdateControl.noUpdate()
        : UpdateControl.patchStatus(of(resource, status, blank));
  }

  /** Only name, namespace and status, so the patch never competes for spec or metadata fields. */
  public static <S, P extends CustomResource<?, S>> P of(P resource, S status, Supplier<P> blank) {
    P patch = blank.get();
    patch.setMetadata(
        new ObjectMetaBuilder()
            .withName(resource.getMetadata().getName())
            .withNamespace(resource.getMetadata().getNamespace())
            .build());
    patch.setStatus(status);
    return patch;
  }
}
