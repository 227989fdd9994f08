package dev.warmstart.kube;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * What a controller remembers of each of its resources between reconciliations, by {@link
 * ResourceID}. A resource deleted and created again under its name (another UID) starts afresh;
 * {@link #retainOnly} forgets those that are gone, so no finalizer is needed for it.
 *
 * @param <S> the state kept per resource, edited by that resource's reconciliations only (JOSDK
 *     never runs two of them at once)
 */
public final class ResourceMemory<S> {
  private record Entry<S>(String uid, S state) {}

  private final Map<ResourceID, Entry<S>> entries = new ConcurrentHashMap<>();
  private final Supplier<S> fresh;

  public ResourceMemory(Supplier<S> fresh) {
    this.fresh = fresh;
  }

  /**
   * The state remembered for {@code resource}: a fresh one the first time and after it was
   * recreated.
   */
  public S of(HasMetadata resource) {
    String uid = resource.getMetadata().getUid();
    return entries
        .compute(
            ResourceID.fromResource(resource),
            (id, known) ->
                known != null && Objects.equals(known.uid(), uid)
                    ? known
                    : new Entry<>(uid, fresh.get()))
        .state();
  }

  public void forget(ResourceID id) {
    entries.remove(id);
  }

  /** Forgets every resource {@code exists} does not know any more. */
  public void retainOnly(Predicate<ResourceID> exists) {
    entries.keySet().removeIf(exists.negate());
  }

  /** Forgets the resources whose state {@code stale} says is not worth keeping. */
  public void forgetIf(BiPredicate<ResourceID, S> stale) {
    entries.entrySet().removeIf(e -> stale.test(e.getKey(), e.getValue().state()));
  }

  public int size() {
    return entries.size();
  }
}
