package dev.warmstart.endpoint;

import static dev.warmstart.endpoint.ServingPods.HELPERS;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.testing.GoldenScenario;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What an InferenceEndpoint becomes, one directory per scenario under {@code
 * src/test/resources/endpoint/golden/}: {@code endpoint.yaml} in, and optionally {@code
 * operator.yaml} (the helper image and gate URL, default {@link ServingPods#HELPERS}); out, each
 * object the reconciler applies for it: {@code deployment.yaml} and {@code service.yaml} always,
 * {@code imagecache.yaml} when the image cache is on, {@code warm-pool.yaml} with a warm pool.
 *
 * <p>Regenerate after an intended change with {@code mvn -pl operator test
 * -Dtest=EndpointGoldenTest -Dgolden.update=true}, then review the diff.
 */
class EndpointGoldenTest {
  static Stream<GoldenScenario> scenarios() {
    return GoldenScenario.under("endpoint/golden");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void desiredObjectsMatchTheScenario(GoldenScenario scenario) {
    InferenceEndpoint ie = scenario.input("endpoint.yaml", InferenceEndpoint.class);
    HelperSettings helpers = scenario.helperSettings(HELPERS);
    scenario.expect(
        "deployment.yaml",
        EndpointModel.deployment(ie, helpers),
        Deployment.class,
        "The serving Deployment: EndpointModel.deployment(endpoint.yaml)");
    scenario.expect(
        "service.yaml",
        EndpointModel.service(ie),
        Service.class,
        "The Service: EndpointModel.service(endpoint.yaml)");
    if (ie.getSpec().imageCacheEnabled()) {
      scenario.expect(
          "imagecache.yaml",
          EndpointModel.imageCache(ie),
          ImageCache.class,
          "The ImageCache of the serving image: EndpointModel.imageCache(endpoint.yaml)");
    }
    if (ie.getSpec().warmPoolSize() > 0) {
      scenario.expect(
          "warm-pool.yaml",
          EndpointModel.warmPool(ie, helpers),
          Deployment.class,
          "The warm pool's Deployment: EndpointModel.warmPool(endpoint.yaml)");
    }
    scenario.assertAllFilesUsed();
  }
}
