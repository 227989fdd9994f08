package dev.warmstart;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;

/**
 * The packages form a graph without cycles, so that each can be read, tested and changed knowing
 * only what is below it: the controllers below the composition root ({@code operator}), the
 * desired-state builders and the in-pod helpers below the controllers, {@code kube} and {@code api}
 * at the bottom. Print the graph with {@code jdeps -verbose:package -filter:none
 * operator/target/classes}.
 *
 * <p>Methods rather than {@code ArchRule} fields: Surefire 3.5.3 does not run {@code @ArchTest}
 * fields.
 */
@AnalyzeClasses(packages = "dev.warmstart", importOptions = ImportOption.DoNotIncludeTests.class)
class PackageCyclesTest {
  /** Each top-level package with everything under it: the features a newcomer looks for. */
  @ArchTest
  void noCycleBetweenFeatures(JavaClasses classes) {
    slices()
        .matching("dev.warmstart.(*)..")
        .namingSlices("$1")
        .should()
        .beFreeOfCycles()
        .check(classes);
  }

  /**
   * Every package on its own, sub-packages included: a cycle inside a feature tangles it as much.
   */
  @ArchTest
  void noCycleBetweenPackages(JavaClasses classes) {
    slices()
        .matching("dev.warmstart.(**)")
        .namingSlices("$1")
        .should()
        .beFreeOfCycles()
        .check(classes);
  }
}
