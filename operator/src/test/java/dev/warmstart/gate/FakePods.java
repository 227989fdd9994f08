package dev.warmstart.gate;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * An in-memory {@link PodSource} that notifies like an informer: on the calling thread, after the
 * change.
 */
final class FakePods implements PodSource {
  private final Map<String, Pod> pods = new ConcurrentHashMap<>();
  private final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
  volatile boolean ready = true;

  FakePods put(Pod pod) {
    Pod before = pods.put(key(pod.getMetadata().getNamespace(), pod.getMetadata().getName()), pod);
    notifyNode(pod.getSpec().getNodeName());
    if (before != null
        && !Objects.equals(before.getSpec().getNodeName(), pod.getSpec().getNodeName())) {
      notifyNode(before.getSpec().getNodeName());
    }
    return this;
  }

  void remove(Pod pod) {
    Pod before = pods.remove(key(pod.getMetadata().getNamespace(), pod.getMetadata().getName()));
    if (before != null) {
      notifyNode(before.getSpec().getNodeName());
    }
  }

  @Override
  public boolean isReady() {
    return ready;
  }

  @Override
  public Optional<Pod> get(String namespace, String name) {
    return Optional.ofNullable(pods.get(key(namespace, name)));
  }

  @Override
  public List<Pod> onNode(String node) {
    return pods.values().stream().filter(p -> node.equals(p.getSpec().getNodeName())).toList();
  }

  @Override
  public void onNodeChange(Consumer<String> listener) {
    listeners.add(listener);
  }

  private void notifyNode(String node) {
    if (node != null) {
      listeners.forEach(l -> l.accept(node));
    }
  }

  private static String key(String namespace, String name) {
    return namespace + "/" + name;
  }
}
