package dev.warmstart.testing;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;

/**
 * Pods as a workload controller and the scheduler would make them, for API servers where neither
 * runs.
 */
public final class Pods {
  private Pods() {}

  /** A pod from {@code owner}'s template, already bound to {@code node}. */
  public static Pod fromTemplate(HasMetadata owner, PodTemplateSpec template, String node) {
    return new PodBuilder()
        .withNewMetadata()
        .withGenerateName(owner.getMetadata().getName() + "-")
        .withNamespace(owner.getMetadata().getNamespace())
        .withLabels(template.getMetadata().getLabels())
        .withAnnotations(template.getMetadata().getAnnotations())
        .endMetadata()
        .withSpec(new PodSpecBuilder(template.getSpec()).withNodeName(node).build())
        .build();
  }
}
