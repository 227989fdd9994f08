package dev.warmstart.gate;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/** The gate's view of the warmstart-managed pods: an informer in the operator, a map in tests. */
public interface PodSource {
  /**
   * True once the view is complete (an informer has listed once); until then the gate answers 503.
   */
  boolean isReady();

  Optional<Pod> get(String namespace, String name);

  /** The pods bound to {@code node}. */
  List<Pod> onNode(String node);

  /** The namespaces this view covers; empty: all of them. */
  default java.util.Set<String> namespaces() {
    return java.util.Set.of();
  }

  /**
   * {@code listener} is called with a node's name whenever a pod on it is added, changed or
   * removed.
   */
  void onNodeChange(Consumer<String> listener);
}
