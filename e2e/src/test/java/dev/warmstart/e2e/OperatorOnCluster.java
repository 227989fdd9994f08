package dev.warmstart.e2e;

import dev.warmstart.operator.OperatorCommand;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * For one test class: a client of the local cluster, the CRDs applied, and the operator running out
 * of cluster (as the chart's ServiceAccount when the suite runs that way). Register it with
 * {@code @RegisterExtension static final OperatorOnCluster CLUSTER = new OperatorOnCluster();}; it
 * starts before the class's {@code @BeforeAll} methods and stops after its {@code @AfterAll}
 * methods.
 */
final class OperatorOnCluster implements BeforeAllCallback, AfterAllCallback {
  private KubernetesClient client;
  private OperatorCommand.Running operator;

  KubernetesClient client() {
    return client;
  }

  OperatorCommand.Running operator() {
    return operator;
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    client = Cluster.client();
    Cluster.applyCrds(client);
    operator = Cluster.startOperator();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (operator != null) {
      operator.close();
    }
    if (client != null) {
      client.close();
    }
  }
}
