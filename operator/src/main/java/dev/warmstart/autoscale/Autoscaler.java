package dev.warmstart.autoscale;

import dev.warmstart.api.v1alpha1.Autoscaling;
import dev.warmstart.api.v1alpha1.Condition;
import dev.warmstart.api.v1alpha1.Durations;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.MetricValue;
import dev.warmstart.autoscale.Recommender.Decision;
import dev.warmstart.autoscale.Recommender.History;
import dev.warmstart.autoscale.Recommender.Reading;
import dev.warmstart.autoscale.Recommender.Replicas;
import dev.warmstart.autoscale.Recommender.Verdict;
import dev.warmstart.events.EventRecorder;
import dev.warmstart.kube.PodStatuses;
import dev.warmstart.kube.ResourceMemory;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One autoscaling round for an endpoint with {@code spec.autoscaling}: read the metrics, ask the
 * {@link Recommender}, write the Deployment's replicas. Runs inside the endpoint's reconciliation,
 * which JOSDK runs on the leader only and reschedules every pollInterval.
 *
 * <p>The replica count is written with server-side apply under its own field manager, which owns
 * spec.replicas alone; the endpoint's Deployment is applied without replicas when autoscaling is
 * on, so the two never fight and a new spec never resets the count.
 */
public class Autoscaler {
  public static final String FIELD_MANAGER = "warmstart-autoscaler";
  public static final String ABLE_TO_SCALE = "AbleToScale";
  public static final String SCALING_ACTIVE = "ScalingActive";
  public static final String SCALING_LIMITED = "ScalingLimited";
  private static final Logger log = LoggerFactory.getLogger(Autoscaler.class);

  private final KubernetesClient client;
  private final MetricReader reader;
  private final EventRecorder events;
  private final AutoscaleMetrics metrics;
  private final Clock clock;

  /**
   * Endpoints without a round for this long are forgotten (deleted, or autoscaling turned off
   * meanwhile).
   */
  static final Duration FORGET_AFTER = Duration.ofHours(1);

  private final ResourceMemory<Memory> memory = new ResourceMemory<>(Memory::new);

  /** What the autoscaler remembers of one endpoint between its rounds. */
  private static final class Memory {
    History history = History.EMPTY;

    /**
     * When this process last scaled the endpoint: kept here because a reconciliation can still see
     * the status from before the last patch, which would lose the time.
     */
    Instant lastScale;

    /**
     * The reason metrics last failed, so that each new failure is one Warning event, not one per
     * poll.
     */
    String failing;

    /** When the endpoint last had a round. */
    volatile Instant touched;

    /**
     * The Deployment (by UID) whose replicas this process has applied, in case the cache holds no
     * managedFields.
     */
    String claimed;
  }

  public Autoscaler(
      KubernetesClient client,
      MetricReader reader,
      EventRecorder events,
      AutoscaleMetrics metrics,
      Clock clock) {
    this.client = client;
    this.reader = reader;
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
  }

  /**
   * What a round decided, for the endpoint's status: {@code lastScale} is when this process last
   * changed the count (null if it never did).
   */
  public record Outcome(
      int desiredReplicas,
      Instant lastScale,
      List<MetricValue> currentMetrics,
      List<Condition> conditions,
      Duration pollInterval) {}

  public static Duration pollInterval(Autoscaling a) {
    Duration d =
        a.getPollInterval() == null ? Duration.ofSeconds(2) : Durations.parse(a.getPollInterval());
    // Below 250 ms a round cannot finish before the next one starts.
    return d.compareTo(Duration.ofMillis(250)) < 0 ? Duration.ofMillis(250) : d;
  }

  /** Forgets an endpoint's history (autoscaling turned off). */
  public void forget(InferenceEndpoint ie) {
    memory.forget(ResourceID.fromResource(ie));
  }

  /** Forgets the endpoints {@code exists} does not know any more (deleted). */
  public void retainOnly(Predicate<ResourceID> exists) {
    memory.retainOnly(exists);
  }

  /** Endpoints this process remembers (for tests). */
  int remembered() {
    return memory.size();
  }

  public Outcome run(
      InferenceEndpoint ie, Deployment deployment, Collection<Pod> pods, int servingPort) {
    Autoscaling a = ie.getSpec().getAutoscaling();
    String ns = ie.getMetadata().getNamespace();
    String name = ie.getMetadata().getName();
    Instant now = clock.instant();
    Memory remembered = memory.of(ie);
    remembered.touched = now;
    memory.forgetIf(
        (id, other) -> other.touched != null && other.touched.plus(FORGET_AFTER).isBefore(now));
    int current =
        deployment.getSpec().getReplicas() == null ? 1 : deployment.getSpec().getReplicas();

    List<Pod> ready = new ArrayList<>();
    List<Pod> startingPods = new ArrayList<>();
    for (Pod pod : pods) {
      if (pod.getMetadata().getDeletionTimestamp() != null || pod.getStatus() == null) {
        continue;
      }
      String phase = pod.getStatus().getPhase();
      if ("Failed".equals(phase) || "Succeeded".equals(phase)) {
        continue;
      }
      if (PodStatuses.isReady(pod)) {
        ready.add(pod);
      } else {
        startingPods.add(pod);
      }
    }
    // Replicas the Deployment was asked for but has not created yet are on their way too.
    int starting = startingPods.size() + Math.max(0, current - ready.size() - startingPods.size());
    Arrivals arrivals =
        Arrivals.of(startingPods, ie.getStatus() == null ? null : ie.getStatus().getColdStart());
    Replicas replicas = new Replicas(current, ready.size(), starting);

    List<Reading> readings = new ArrayList<>();
    List<MetricValue> values = new ArrayList<>();
    for (Autoscaling.MetricSpec m : a.getMetrics()) {
      MetricReader.Result r;
      MetricValue v;
      if ("Pods".equals(m.getType())) {
        r = reader.readPods(m.getPods(), ready, servingPort, ns, name);
        v = new MetricValue("Pods", m.getPods().getName());
        v.setPodsRead(r.podsRead());
      } else {
        r = reader.readPrometheus(m.getPrometheus(), ns, name, current);
        v = new MetricValue("Prometheus", m.getPrometheus().getQuery());
      }
      readings.add(r.reading());
      v.setValue(r.value() == null ? null : Quantities.format(r.value()));
      v.setAverageValue(r.average() == null ? null : Quantities.format(r.average()));
      v.setError(r.error());
      values.add(v);
    }

    Decision d =
        Recommender.decide(Recommender.Spec.of(a), readings, replicas, remembered.history, now);
    History next = d.next();
    Verdict able = d.ableToScale();
    boolean change = d.desired() != current;
    String uid = deployment.getMetadata().getUid();
    if (change || !(ownsReplicas(deployment) || uid.equals(remembered.claimed))) {
      try {
        writeReplicas(deployment, d.desired());
        remembered.claimed = uid;
        if (change) {
          next = next.scaled(now, current, d.desired());
          remembered.lastScale = now;
          able =
              new Verdict(true, "SucceededRescale", "the Deployment was scaled to " + d.desired());
          String why = reason(a, d, current) + "; already on their way: " + arrivals.describe(now);
          log.info(
              "InferenceEndpoint {}/{}: scaled {} -> {} ({})", ns, name, current, d.desired(), why);
          events.normal(
              ie,
              "Rescaled",
              "Scale",
              "New size: " + d.desired() + " (was " + current + "); " + why);
        }
      } catch (KubernetesClientException e) {
        log.warn(
            "InferenceEndpoint {}/{}: could not scale to {}: {}; retrying next round",
            ns,
            name,
            d.desired(),
            e.getMessage());
        able =
            new Verdict(
                false,
                "FailedUpdateScale",
                "could not write the Deployment's replicas: " + e.getMessage());
        change = false;
      }
    }
    remembered.history = next;
    boolean held = !d.scalingActive().status();
    // A cold start (no ready pod yet) holds quietly; a fault is announced once per new reason.
    if (held
        && !MetricReader.NO_READY_PODS.equals(d.scalingActive().reason())
        && !d.scalingActive().reason().equals(remembered.failing)) {
      remembered.failing = d.scalingActive().reason();
      log.warn("InferenceEndpoint {}/{}: {}", ns, name, d.scalingActive().message());
      events.warning(ie, d.scalingActive().reason(), "Scale", d.scalingActive().message());
    } else if (!held && remembered.failing != null) {
      remembered.failing = null;
      log.info("InferenceEndpoint {}/{}: metrics readable again", ns, name);
      events.normal(ie, "ValidMetricFound", "Scale", d.scalingActive().message());
    }
    metrics.decision(
        ns,
        name,
        change ? (d.desired() > current ? "up" : "down") : held ? "held" : "none",
        change ? d.desired() : current);
    metrics.arriving(ns, name, arrivals);

    List<Condition> conditions =
        List.of(
            condition(ABLE_TO_SCALE, able),
            condition(SCALING_ACTIVE, d.scalingActive()),
            condition(SCALING_LIMITED, d.scalingLimited()));
    return new Outcome(
        change ? d.desired() : (able.status() ? d.desired() : current),
        remembered.lastScale,
        values,
        conditions,
        pollInterval(a));
  }

  private static String reason(Autoscaling a, Decision d, int current) {
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < d.proposals().size(); i++) {
      if (d.proposals().get(i) == d.desired()) {
        Autoscaling.MetricSpec m = a.getMetrics().get(i);
        String metric =
            "Pods".equals(m.getType())
                ? m.getPods().getName()
                : "query " + m.getPrometheus().getQuery();
        parts.add(metric + (d.desired() > current ? " above" : " below") + " target");
      }
    }
    if (parts.isEmpty()) {
      parts.add(
          d.scalingLimited().status() ? d.scalingLimited().message() : d.ableToScale().message());
    }
    return String.join(", ", parts);
  }

  private static Condition condition(String type, Verdict v) {
    return new Condition(
        type, v.status() ? Condition.TRUE : Condition.FALSE, v.reason(), v.message());
  }

  private void writeReplicas(Deployment deployment, int replicas) {
    Deployment patch =
        new DeploymentBuilder()
            .withNewMetadata()
            .withName(deployment.getMetadata().getName())
            .withNamespace(deployment.getMetadata().getNamespace())
            .endMetadata()
            .withNewSpec()
            .withReplicas(replicas)
            .endSpec()
            .build();
    client
        .apps()
        .deployments()
        .inNamespace(deployment.getMetadata().getNamespace())
        .resource(patch)
        .fieldManager(FIELD_MANAGER)
        .forceConflicts()
        .serverSideApply();
  }

  /**
   * Whether our field manager already owns spec.replicas (else the endpoint's own apply could drop
   * it).
   */
  static boolean ownsReplicas(Deployment deployment) {
    List<ManagedFieldsEntry> entries = deployment.getMetadata().getManagedFields();
    if (entries == null) {
      return false;
    }
    for (ManagedFieldsEntry e : entries) {
      if (FIELD_MANAGER.equals(e.getManager())
          && "Apply".equals(e.getOperation())
          && e.getFieldsV1() != null
          && e.getFieldsV1().getAdditionalProperties().get("f:spec") instanceof Map<?, ?> spec
          && spec.containsKey("f:replicas")) {
        return true;
      }
    }
    return false;
  }
}
