package dev.warmstart.gate;

import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The warmstart-managed pods ({@code app.kubernetes.io/managed-by=warmstart}), from a shared
 * informer per watched namespace (one over all namespaces when none are given), indexed by {@code
 * spec.nodeName}. Needs list and watch on pods.
 */
public final class PodsByNode implements PodSource, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PodsByNode.class);
  static final String NODE_INDEX = "spec.nodeName";
  private static final String ALL_NAMESPACES = "";

  private final Map<String, SharedIndexInformer<Pod>> informers = new LinkedHashMap<>();
  private final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
  private volatile boolean closed;

  /**
   * @param namespaces the namespaces to watch; all namespaces when empty
   */
  public PodsByNode(KubernetesClient client, Set<String> namespaces) {
    Set<String> watched = new TreeSet<>(namespaces);
    watched.removeIf(String::isBlank);
    if (watched.isEmpty()) {
      informers.put(
          ALL_NAMESPACES,
          client
              .pods()
              .inAnyNamespace()
              .withLabel(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
              .runnableInformer(0));
    } else {
      for (String namespace : watched) {
        informers.put(
            namespace,
            client
                .pods()
                .inNamespace(namespace)
                .withLabel(Labels.MANAGED_BY, Labels.MANAGED_BY_VALUE)
                .runnableInformer(0));
      }
    }
    for (SharedIndexInformer<Pod> informer : informers.values()) {
      informer.addIndexers(
          Map.of(NODE_INDEX, pod -> nodeName(pod) == null ? List.of() : List.of(nodeName(pod))));
      informer.addEventHandler(new NodeChanges());
    }
  }

  /**
   * Starts the informers without waiting for their first list; {@link #isReady()} tells when they
   * have it.
   */
  public void start() {
    informers.forEach(
        (namespace, informer) ->
            informer
                .start()
                .whenComplete(
                    (ignored, error) -> {
                      if (error != null && !closed) {
                        log.error(
                            "pod informer for {} failed to start; the transfer gate answers 503 until it does"
                                + " (may the operator's service account list and watch pods?)",
                            namespace.isEmpty() ? "all namespaces" : "namespace " + namespace,
                            error);
                      }
                    }));
  }

  @Override
  public boolean isReady() {
    return informers.values().stream().allMatch(SharedIndexInformer::hasSynced);
  }

  @Override
  public Optional<Pod> get(String namespace, String name) {
    SharedIndexInformer<Pod> informer =
        informers.getOrDefault(ALL_NAMESPACES, informers.get(namespace));
    return informer == null
        ? Optional.empty()
        : Optional.ofNullable(
            informer.getStore().getByKey(Cache.namespaceKeyFunc(namespace, name)));
  }

  @Override
  public Set<String> namespaces() {
    Set<String> namespaces = new TreeSet<>(informers.keySet());
    namespaces.remove(ALL_NAMESPACES);
    return namespaces;
  }

  @Override
  public List<Pod> onNode(String node) {
    List<Pod> pods = new ArrayList<>();
    for (SharedIndexInformer<Pod> informer : informers.values()) {
      pods.addAll(informer.getIndexer().byIndex(NODE_INDEX, node));
    }
    return pods;
  }

  @Override
  public void onNodeChange(Consumer<String> listener) {
    listeners.add(listener);
  }

  @Override
  public void close() {
    closed = true;
    informers.values().forEach(SharedIndexInformer::stop);
  }

  private static String nodeName(Pod pod) {
    return pod.getSpec() == null ? null : pod.getSpec().getNodeName();
  }

  private void changed(String node) {
    if (node != null && !node.isEmpty()) {
      for (Consumer<String> listener : listeners) {
        try {
          listener.accept(node);
        } catch (RuntimeException e) {
          log.warn("transfer gate listener failed for node {}", node, e);
        }
      }
    }
  }

  private final class NodeChanges implements ResourceEventHandler<Pod> {
    @Override
    public void onAdd(Pod pod) {
      changed(nodeName(pod));
    }

    @Override
    public void onUpdate(Pod before, Pod after) {
      changed(nodeName(after));
      if (!Objects.equals(nodeName(before), nodeName(after))) {
        changed(nodeName(before));
      }
    }

    @Override
    public void onDelete(Pod pod, boolean finalStateUnknown) {
      changed(nodeName(pod));
    }
  }
}
