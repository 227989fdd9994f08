package dev.warmstart.status;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * Secrets a spec names that do not exist (pull secrets, model credentials): a Degraded reason. The
 * operator only gets Secrets by name and watches none, so it looks again after {@link #RECHECK}.
 */
public final class MissingSecrets {
  public static final Duration RECHECK = Duration.ofSeconds(30);

  private MissingSecrets() {}

  /** Those of {@code names} that do not exist in {@code namespace}, in order. */
  public static List<String> among(
      KubernetesClient client, String namespace, Collection<String> names) {
    return names.stream()
        .filter(Objects::nonNull)
        .filter(name -> !name.isBlank())
        .filter(
            name ->
                client.resources(Secret.class).inNamespace(namespace).withName(name).get() == null)
        .toList();
  }
}
