package dev.warmstart.autoscale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.Autoscaling;
import io.fabric8.kubernetes.api.model.FieldsV1;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AutoscalerTest {
  private static Deployment managedBy(String manager, String operation, Map<String, Object> spec) {
    FieldsV1 fields = new FieldsV1();
    fields.setAdditionalProperty("f:spec", spec);
    return new DeploymentBuilder().withNewMetadata().withName("d")
        .addToManagedFields(new ManagedFieldsEntryBuilder().withManager(manager).withOperation(operation)
            .withFieldsV1(fields).build())
        .endMetadata().build();
  }

  @Test
  void ownsReplicasOnlyWhenItsApplyHoldsTheField() {
    assertTrue(Autoscaler.ownsReplicas(managedBy(Autoscaler.FIELD_MANAGER, "Apply", Map.of("f:replicas", Map.of()))));
    assertFalse(Autoscaler.ownsReplicas(managedBy(Autoscaler.FIELD_MANAGER, "Apply", Map.of("f:template", Map.of()))));
    assertFalse(Autoscaler.ownsReplicas(managedBy("inferenceendpoint", "Apply", Map.of("f:replicas", Map.of()))));
    assertFalse(Autoscaler.ownsReplicas(managedBy(Autoscaler.FIELD_MANAGER, "Update", Map.of("f:replicas", Map.of()))));
    assertFalse(Autoscaler.ownsReplicas(new DeploymentBuilder().withNewMetadata().withName("d").endMetadata().build()));
  }

  @Test
  void pollIntervalDefaultsToTwoSecondsAndHasAFloor() {
    Autoscaling a = new Autoscaling();
    assertEquals(Duration.ofSeconds(2), Autoscaler.pollInterval(a));
    a.setPollInterval("1s");
    assertEquals(Duration.ofSeconds(1), Autoscaler.pollInterval(a));
    a.setPollInterval("10ms");
    assertEquals(Duration.ofMillis(250), Autoscaler.pollInterval(a));
  }
}
