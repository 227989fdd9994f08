package dev.warmstart.kube;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import java.util.List;

/** Environment a helper needs to say which pod it is, filled in by the kubelet (downward API). */
public final class DownwardApi {
  private DownwardApi() {}

  /** POD_NAMESPACE, POD_NAME, POD_UID and NODE_NAME: what the gate checks a request against. */
  public static List<EnvVar> podIdentity() {
    return List.of(
        field(HelperContract.ENV_POD_NAMESPACE, "metadata.namespace"),
        field(HelperContract.ENV_POD_NAME, "metadata.name"),
        field(HelperContract.ENV_POD_UID, "metadata.uid"),
        field(HelperContract.ENV_NODE_NAME, "spec.nodeName"));
  }

  /** One field of the pod as an environment variable. */
  public static EnvVar field(String name, String path) {
    return new EnvVarBuilder()
        .withName(name)
        .withNewValueFrom()
        .withNewFieldRef()
        .withFieldPath(path)
        .endFieldRef()
        .endValueFrom()
        .build();
  }
}
