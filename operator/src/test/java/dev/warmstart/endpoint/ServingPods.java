package dev.warmstart.endpoint;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.kube.HelperContract;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Names;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Test fixtures: the qwen3-8b endpoint and its serving pods as the kubelet reports them. */
final class ServingPods {
  static final HelperSettings HELPERS =
      new HelperSettings("warmstart/warmstart:test", "http://warmstart-gate.warmstart.svc:8081");
  static final String VLLM = "vllm/vllm-openai:v0.11.0";
  static final String NODE = "ip-10-0-1-23.ec2.internal";
  static final Instant T0 = Instant.parse("2025-06-01T10:00:00Z");
  static final String FETCH_SUMMARY =
      "{\"bytes\":16389425152,\"seconds\":77.0,\"files\":7,\"source\":\"s3://models/qwen3-8b/\",\"cacheHit\":false}";

  private ServingPods() {}

  static <T> T load(String resource, Class<T> type) {
    try (InputStream in = ServingPods.class.getResourceAsStream("/endpoint/" + resource)) {
      assertNotNull(in, "missing test resource endpoint/" + resource);
      return Serialization.unmarshal(in, type);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * A fresh copy of the qwen3-8b scenario's endpoint.yaml each time, so that tests may change it.
   */
  static InferenceEndpoint qwen() {
    return load("golden/qwen3-8b/endpoint.yaml", InferenceEndpoint.class);
  }

  static String at(long secondsAfterT0) {
    return T0.plusSeconds(secondsAfterT0).toString();
  }

  static String digest(String seed) {
    return "sha256:" + Names.hash(seed).repeat(8);
  }

  /**
   * A pod of the endpoint's current template, created at T0 + {@code created}, bound to {@code
   * node} (null: unbound).
   */
  static PodBuilder podOf(InferenceEndpoint ie, String name, String node, long created) {
    Deployment d = EndpointModel.deployment(ie, HELPERS);
    var template = d.getSpec().getTemplate();
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withGenerateName(d.getMetadata().getName() + "-7d9f8c6b5-")
        .withNamespace(ie.getMetadata().getNamespace())
        .withUid("0000" + Names.hash(name) + "-1111-2222-3333-444455556666")
        .withCreationTimestamp(at(created))
        .withLabels(template.getMetadata().getLabels())
        .addToLabels("pod-template-hash", "7d9f8c6b5")
        .withAnnotations(template.getMetadata().getAnnotations())
        .addNewOwnerReference()
        .withApiVersion("apps/v1")
        .withKind("ReplicaSet")
        .withName(d.getMetadata().getName() + "-7d9f8c6b5")
        .withUid("rs-uid")
        .withController(true)
        .withBlockOwnerDeletion(true)
        .endOwnerReference()
        .endMetadata()
        .withSpec(new PodSpecBuilder(template.getSpec()).withNodeName(node).build());
  }

  static PodCondition condition(
      String type, String status, String reason, String message, long at) {
    return new PodConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage(message)
        .withLastProbeTime(null)
        .withLastTransitionTime(at(at))
        .build();
  }

  static PodCondition condition(String type, String status, long at) {
    return condition(type, status, null, null, at);
  }

  /** An init container that ran from {@code start} to {@code end} and exited 0. */
  static ContainerStatus completed(String name, long start, long end, String message) {
    return new ContainerStatusBuilder()
        .withName(name)
        .withImage("docker.io/" + HELPERS.image())
        .withImageID("docker.io/warmstart/warmstart@" + digest("helper"))
        .withContainerID("containerd://" + Names.hash(name + start).repeat(8))
        .withReady(true)
        .withStarted(false)
        .withRestartCount(0)
        .withNewState()
        .withNewTerminated()
        .withExitCode(0)
        .withReason("Completed")
        .withMessage(message)
        .withStartedAt(at(start))
        .withFinishedAt(at(end))
        .withContainerID("containerd://" + Names.hash(name))
        .endTerminated()
        .endState()
        .build();
  }

  static ContainerStatus serverRunning(long startedAt, boolean ready) {
    return new ContainerStatusBuilder()
        .withName(HelperContract.CONTAINER_SERVER)
        .withImage("docker.io/" + VLLM)
        .withImageID("docker.io/vllm/vllm-openai@" + digest("vllm"))
        .withContainerID("containerd://" + Names.hash("server" + startedAt).repeat(8))
        .withReady(ready)
        .withStarted(true)
        .withRestartCount(0)
        .withNewState()
        .withNewRunning()
        .withStartedAt(at(startedAt))
        .endRunning()
        .endState()
        .build();
  }

  static ContainerStatus waiting(String name, String image, String reason, String message) {
    return new ContainerStatusBuilder()
        .withName(name)
        .withImage(image)
        .withImageID("")
        .withReady(false)
        .withStarted(false)
        .withRestartCount(0)
        .withNewState()
        .withNewWaiting()
        .withReason(reason)
        .withMessage(message)
        .endWaiting()
        .endState()
        .build();
  }

  /**
   * A serving pod's cold start, times in seconds after T0, as the kubelet reports it: bound at
   * {@code scheduled}, the gate and fetch-model init containers ran one after the other, the server
   * started at {@code serverStart} and passed its readiness check at {@code ready} (null: not yet).
   */
  static final class Life {
    String name;
    String node = NODE;
    long created = 0;
    long scheduled = 2;
    boolean gate = true;
    long gateStart = 15;
    long gateEnd = 45;
    boolean fetch = true;
    long fetchStart = 46;
    long fetchEnd = 125;
    String fetchMessage = FETCH_SUMMARY;
    long serverStart = 205;
    Long ready = 265L;

    Life(String name) {
      this.name = name;
    }

    /** The same life, every time shifted by {@code seconds}. */
    Life shifted(long seconds) {
      created += seconds;
      scheduled += seconds;
      gateStart += seconds;
      gateEnd += seconds;
      fetchStart += seconds;
      fetchEnd += seconds;
      serverStart += seconds;
      ready = ready == null ? null : ready + seconds;
      return this;
    }

    Life node(String node) {
      this.node = node;
      return this;
    }

    Life ready(Long ready) {
      this.ready = ready;
      return this;
    }

    Life fetchMessage(String message) {
      this.fetchMessage = message;
      return this;
    }

    /** A pod without init containers (no gate URL, no spec.model). */
    Life withoutInit() {
      gate = false;
      fetch = false;
      return this;
    }

    Pod pod(InferenceEndpoint ie) {
      List<ContainerStatus> init = new ArrayList<>();
      if (gate) {
        init.add(completed(HelperContract.CONTAINER_GATE, gateStart, gateEnd, null));
      }
      if (fetch) {
        init.add(
            completed(HelperContract.CONTAINER_FETCH_MODEL, fetchStart, fetchEnd, fetchMessage));
      }
      long initialized = fetch ? fetchEnd : gate ? gateEnd : scheduled + 1;
      List<PodCondition> conditions = new ArrayList<>();
      conditions.add(condition("PodReadyToStartContainers", "True", scheduled + 1));
      conditions.add(condition("Initialized", "True", initialized));
      if (ready != null) {
        conditions.add(condition("Ready", "True", ready));
        conditions.add(condition("ContainersReady", "True", ready));
      } else {
        conditions.add(
            condition(
                "Ready",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                created));
        conditions.add(
            condition(
                "ContainersReady",
                "False",
                "ContainersNotReady",
                "containers with unready status: [server]",
                created));
      }
      conditions.add(condition("PodScheduled", "True", scheduled));
      return podOf(ie, name, node, created)
          .withNewStatus()
          .withPhase("Running")
          .withHostIP("10.0.1.23")
          .withPodIP("10.0.1.77")
          .withQosClass("Burstable")
          .withStartTime(at(scheduled + 1))
          .withConditions(conditions)
          .withInitContainerStatuses(init)
          .withContainerStatuses(serverRunning(serverStart, ready != null))
          .endStatus()
          .build();
    }
  }
}
