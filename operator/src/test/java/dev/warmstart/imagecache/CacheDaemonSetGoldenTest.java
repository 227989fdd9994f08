package dev.warmstart.imagecache;

import static dev.warmstart.imagecache.CacheDaemonSetModelTest.HELPERS;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.testing.GoldenScenario;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What an ImageCache becomes, one directory per scenario under {@code
 * src/test/resources/imagecache/golden/}: {@code imagecache.yaml} and optionally {@code
 * operator.yaml} (the helper image and gate URL, default {@link CacheDaemonSetModelTest#HELPERS}:
 * no gate) in, {@code daemonset.yaml} out.
 *
 * <p>Regenerate after an intended change with {@code mvn -pl operator test
 * -Dtest=CacheDaemonSetGoldenTest -Dgolden.update=true}, then review the diff.
 */
class CacheDaemonSetGoldenTest {
  static Stream<GoldenScenario> scenarios() {
    return GoldenScenario.under("imagecache/golden");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void daemonSetMatchesTheScenario(GoldenScenario scenario) {
    ImageCache cache = scenario.input("imagecache.yaml", ImageCache.class);
    HelperSettings helpers = scenario.helperSettings(HELPERS);
    scenario.expect(
        "daemonset.yaml",
        CacheDaemonSetModel.desired(cache, helpers),
        DaemonSet.class,
        "The DaemonSet: CacheDaemonSetModel.desired(imagecache.yaml)");
    scenario.assertAllFilesUsed();
  }
}
