package dev.warmstart.operator;

import dev.warmstart.autoscale.AutoscaleMetrics;
import dev.warmstart.autoscale.Autoscaler;
import dev.warmstart.autoscale.MetricReader;
import dev.warmstart.endpoint.ColdStartMetrics;
import dev.warmstart.endpoint.HealthChecks;
import dev.warmstart.endpoint.InferenceEndpointReconciler;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.gate.GateServer;
import dev.warmstart.gate.GateSettings;
import dev.warmstart.imagecache.CacheMetrics;
import dev.warmstart.imagecache.ImageCacheReconciler;
import dev.warmstart.kube.HelperSettings;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code warmstart operator}: runs the controllers against the current kubeconfig or in-cluster
 * config.
 */
@Command(
    name = "operator",
    mixinStandardHelpOptions = true,
    description =
        "Run the warmstart controllers against the current kubeconfig (or the in-cluster service account).")
public class OperatorCommand implements Callable<Integer> {
  static final String LEASE = "warmstart-operator";
  private static final Logger log = LoggerFactory.getLogger(OperatorCommand.class);

  @Option(
      names = "--namespaces",
      split = ",",
      defaultValue = "${env:WATCH_NAMESPACES}",
      description =
          "Namespaces to watch, comma-separated; all namespaces when empty (env WATCH_NAMESPACES).")
  List<String> namespaces;

  @Option(
      names = "--helper-image",
      defaultValue = "${env:WARMSTART_HELPER_IMAGE:-warmstart/warmstart:0.1.0}",
      description =
          "Image with the warmstart jar, run by the in-pod helpers such as install-pause (env WARMSTART_HELPER_IMAGE; default: ${DEFAULT-VALUE}).")
  String helperImage;

  @Option(
      names = "--gate-url",
      defaultValue = "${env:WARMSTART_GATE_URL}",
      description =
          "URL of this operator's gate API as serving pods reach it, for example "
              + "http://warmstart-gate.warmstart.svc:8081 (env WARMSTART_GATE_URL). Without it serving pods get no gate.")
  String gateUrl;

  @Option(
      names = "--gate-port",
      defaultValue = "8081",
      description =
          "Port of the transfer gate API that the in-pod gate helpers call; served when --gate-url is set "
              + "(default: ${DEFAULT-VALUE}; 0 picks a free port).")
  int gatePort;

  @Option(
      names = "--gate-max-transfers-per-node",
      defaultValue = "1",
      description =
          "Bulk transfers (model downloads, image pre-pulls) allowed at once on one node (default: ${DEFAULT-VALUE}).")
  int gateMaxTransfersPerNode;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      description =
          "Port of /metrics, /healthz and /readyz (default: ${DEFAULT-VALUE}; 0 picks a free port).")
  int httpPort;

  @Option(
      names = "--autoscale-metrics-timeout-ms",
      defaultValue = "1000",
      description =
          "Deadline for one pod scrape or Prometheus query of the autoscaler; a pod slower than this "
              + "counts as not answering (default: ${DEFAULT-VALUE}).")
  long metricsTimeoutMillis;

  @Option(
      names = "--warm-placement-timeout-seconds",
      defaultValue = "60",
      description =
          "A serving pod sent to a warm node that is still unschedulable after this long, with no "
              + "preemption under way (a cordoned or full node), is deleted so that its replacement goes to another node "
              + "(default: ${DEFAULT-VALUE}).")
  long warmPlacementTimeoutSeconds;

  @Option(
      names = "--leader-election-namespace",
      defaultValue = "${env:POD_NAMESPACE}",
      description =
          "Namespace of the leader-election Lease; leader election is on when set (env POD_NAMESPACE).")
  String leaseNamespace;

  @Option(
      names = "--exit-on-lost-leadership",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Exit when the Lease is lost, so that the pod restarts as a standby (default: ${DEFAULT-VALUE}). "
              + "--no-exit-on-lost-leadership is for runs inside another JVM, such as tests.")
  boolean exitOnLostLeadership;

  @Option(
      names = "--identity",
      defaultValue = "${env:POD_NAME:-warmstart-local}",
      description = "This instance's name in leases and events (env POD_NAME).")
  String identity;

  @Override
  public Integer call() throws Exception {
    try (Running running = start(new KubernetesClientBuilder().build())) {
      running.operator().installShutdownHook(Duration.ofSeconds(10));
      log.info(
          "warmstart operator running; metrics and health on :{}{}",
          running.http().port(),
          running.gate() == null
              ? ", gate off (no --gate-url)"
              : ", gate API on :" + running.gate().port());
      new CountDownLatch(1).await();
    }
    return 0;
  }

  /**
   * Starts the controllers on {@code client}; closing the result stops them (and closes the
   * client).
   */
  public Running start(KubernetesClient client) throws Exception {
    Clock clock = Clock.systemUTC();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);

    boolean election = leaseNamespace != null && !leaseNamespace.isBlank();
    // Only the leader answers the gate; without election this instance is the only one.
    AtomicBoolean leader = new AtomicBoolean(!election);
    Operator operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client)
                  .withMetrics(
                      MicrometerMetrics.newPerResourceCollectingMicrometerMetricsBuilder(registry)
                          .build())
                  .withCloseClientOnStop(true);
              if (election) {
                o.withLeaderElectionConfiguration(
                    LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE)
                        .withLeaseNamespace(leaseNamespace)
                        .withIdentity(identity)
                        .withExitOnStopLeading(exitOnLostLeadership)
                        .withLeaderCallbacks(
                            new LeaderCallbacks(
                                () -> leader.set(true), () -> leader.set(false), id -> {}))
                        .build());
              }
            });
    EventRecorder events = new EventRecorder(client, clock, identity);
    HelperSettings helpers = new HelperSettings(helperImage, gateUrl);
    operator.register(
        new ImageCacheReconciler(helpers, events, new CacheMetrics(registry), clock),
        overrider -> watchedNamespaces().ifPresent(overrider::settingNamespaces));
    AutoscaleMetrics autoscaleMetrics = new AutoscaleMetrics(registry);
    Autoscaler autoscaler =
        new Autoscaler(
            client,
            new MetricReader(
                client, clock, Duration.ofMillis(metricsTimeoutMillis), autoscaleMetrics),
            events,
            autoscaleMetrics,
            clock);
    operator.register(
        new InferenceEndpointReconciler(
            helpers,
            events,
            new ColdStartMetrics(registry),
            clock,
            autoscaler,
            Duration.ofSeconds(warmPlacementTimeoutSeconds),
            new HealthChecks(HealthChecks.TIMEOUT)),
        overrider -> watchedNamespaces().ifPresent(overrider::settingNamespaces));
    HttpEndpoints http =
        new HttpEndpoints(
            new InetSocketAddress(httpPort),
            registry,
            () -> operator.getRuntimeInfo().allEventSourcesAreHealthy(),
            () ->
                operator.getRuntimeInfo().isStarted()
                    && operator.getRuntimeInfo().allEventSourcesAreHealthy());
    GateServer gate = null;
    if (helpers.gateEnabled()) {
      gate =
          GateServer.forCluster(
              client,
              watchedNamespaces().orElse(Set.of()),
              new InetSocketAddress(gatePort),
              leader::get,
              registry,
              clock,
              GateSettings.DEFAULTS.withMaxPerNode(gateMaxTransfersPerNode));
      gate.start();
    }
    operator.start();
    return new Running(operator, http, gate);
  }

  private Optional<Set<String>> watchedNamespaces() {
    return namespaces == null || namespaces.isEmpty() || namespaces.get(0).isBlank()
        ? Optional.empty()
        : Optional.of(Set.copyOf(namespaces));
  }

  /** The running operator; {@code gate} is null when the gate is off. */
  public record Running(Operator operator, HttpEndpoints http, GateServer gate)
      implements AutoCloseable {
    @Override
    public void close() {
      http.close();
      if (gate != null) {
        gate.close(); // before the operator, which closes the client the gate's informer uses
      }
      operator.stop();
    }
  }
}
