package dev.warmstart.kube;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ResourceMemoryTest {
  static ConfigMap resource(String namespace, String name, String uid) {
    return new ConfigMapBuilder()
        .withNewMetadata()
        .withNamespace(namespace)
        .withName(name)
        .withUid(uid)
        .endMetadata()
        .build();
  }

  @Test
  void remembersPerResourceUntilItIsRecreated() {
    ResourceMemory<List<String>> memory = new ResourceMemory<>(ArrayList::new);
    List<String> a = memory.of(resource("ml", "a", "1"));
    a.add("seen");
    assertSame(a, memory.of(resource("ml", "a", "1")), "the same resource finds its state again");
    assertNotSame(
        a, memory.of(resource("other", "a", "1")), "a namespace apart is another resource");
    assertEquals(
        List.of(), memory.of(resource("ml", "a", "2")), "deleted and created again: a fresh start");
    assertEquals(2, memory.size());
  }

  @Test
  void forgetsWhatIsGone() {
    ResourceMemory<List<String>> memory = new ResourceMemory<>(ArrayList::new);
    memory.of(resource("ml", "a", "1"));
    memory.of(resource("ml", "b", "2")).add("old");
    memory.of(resource("ml", "c", "3"));
    memory.retainOnly(Set.of(new ResourceID("a", "ml"), new ResourceID("b", "ml"))::contains);
    assertEquals(2, memory.size());
    memory.forgetIf((id, state) -> state.contains("old"));
    assertEquals(1, memory.size());
    memory.forget(new ResourceID("a", "ml"));
    assertEquals(0, memory.size());
  }
}
