package dev.warmstart.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.testing.KubeApi;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The CRDs' schema and CEL rules, as a real kube-apiserver enforces them at admission. */
class CrdValidationIT {
  private static final String SHA = "sha256:" + "a".repeat(64);
  private static KubernetesClient client;
  private static String ns;

  @BeforeAll
  static void setUp() {
    client = KubeApi.client();
    ns = KubeApi.newNamespace(client, "crd");
  }

  @AfterAll
  static void tearDown() {
    client.close();
  }

  @Test
  void everyExampleIsAccepted() throws IOException {
    List<Path> examples;
    try (Stream<Path> files = Files.list(KubeApi.repoRoot().resolve("examples"))) {
      examples = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
    assertFalse(examples.isEmpty());
    for (Path example : examples) {
      for (HasMetadata object : client.load(Files.newInputStream(example)).items()) {
        if (object.getMetadata().getNamespace() != null) {
          object.getMetadata().setNamespace(ns); // keep the test's objects in its own namespace
        }
        if ("Namespace".equals(object.getKind())) {
          continue;
        }
        client.resource(object).dryRun().create();
      }
    }
  }

  static Stream<Arguments> badImageCaches() {
    return Stream.of(
        Arguments.of("no images field", "nodeSelector: {a: b}", "spec.images: Required value"),
        Arguments.of(
            "empty image list",
            "images: []",
            "spec.images: Invalid value: 0: spec.images in body should have at least 1 items"),
        Arguments.of(
            "uppercase repository",
            "images: [vLLM/Server:latest]",
            "each image must be a valid image reference"),
        Arguments.of(
            "empty tag",
            "images: ['vllm/vllm-openai:']",
            "each image must be a valid image reference"),
        Arguments.of(
            "short digest",
            "images: ['vllm/vllm-openai@sha256:abc']",
            "each image must be a valid image reference"),
        Arguments.of(
            "space in reference",
            "images: ['vllm/vllm openai']",
            "each image must be a valid image reference"),
        Arguments.of(
            "duplicate image",
            "images: [ubuntu:24.04, busybox, ubuntu:24.04]",
            "images must not repeat: list each image once"),
        Arguments.of(
            "too many images",
            "images: [" + String.join(",", java.util.Collections.nCopies(33, "x")) + "]",
            "must have at most 32 items"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badImageCaches")
  void imageCacheRejected(String what, String spec, String expectedMessage) {
    assertRejected("ImageCache", spec, expectedMessage);
  }

  @Test
  void imageCacheWithDigestAndRegistryPortAccepted() {
    create(
        "ImageCache",
        "images: ['localhost:5000/team/server:v1', 'team/lmi@"
            + SHA
            + "', 'repo:tag@"
            + SHA
            + "']");
  }

  static Stream<Arguments> badEndpoints() {
    String base = "image: vllm/vllm-openai:v0.11.0\n  ";
    return Stream.of(
        Arguments.of("no image", "port: 8000", "spec.image: Required value"),
        Arguments.of(
            "malformed image", "image: 'Not An Image'", "image must be a valid image reference"),
        Arguments.of("port out of range", base + "port: 70000", "spec.port: Invalid value: 70000"),
        Arguments.of(
            "negative replicas", base + "replicas: -1", "spec.replicas: Invalid value: -1"),
        Arguments.of(
            "unsupported model scheme",
            base + "model: {uri: 'gs://bucket/model/'}",
            "model.uri must start with s3://, https:// or hf://"),
        Arguments.of(
            "bad bucket",
            base + "model: {uri: 's3://B/model/'}",
            "an s3:// URI needs a valid bucket name"),
        Arguments.of(
            "bad hf uri",
            base + "model: {uri: 'hf://just-a-name'}",
            "an hf:// URI names a Hub repository"),
        Arguments.of(
            "relative model path",
            base + "model: {uri: 's3://models/x/', path: models}",
            "spec.model.path"),
        Arguments.of(
            "min above max",
            base + "autoscaling: {minReplicas: 5, maxReplicas: 2, metrics: [" + podsMetric() + "]}",
            "minReplicas must not exceed maxReplicas"),
        Arguments.of(
            "no metrics",
            base + "autoscaling: {maxReplicas: 2, metrics: []}",
            "should have at least 1 items"),
        Arguments.of(
            "metric type without its source",
            base
                + "autoscaling: {maxReplicas: 2, metrics: [{type: Prometheus, pods: {name: x, target: {type: Value, value: '1'}}}]}",
            "set exactly the field named by type"),
        Arguments.of(
            "target type without value",
            base
                + "autoscaling: {maxReplicas: 2, metrics: [{type: Pods, pods: {name: x, target: {type: AverageValue, value: '1'}}}]}",
            "set averageValue for type AverageValue"),
        Arguments.of(
            "warm pool without the node cache",
            base + "model: {uri: 's3://models/x/'}\n  warmPool: {replicas: 1}",
            "warmPool needs model.nodeCache.enabled: true"),
        Arguments.of(
            "negative warm pool", base + "warmPool: {replicas: -1}", "spec.warmPool.replicas"),
        Arguments.of(
            "bad gate timeout",
            base + "imageCache: {gateTimeout: ten minutes}",
            "spec.imageCache.gateTimeout"));
  }

  private static String podsMetric() {
    return "{type: Pods, pods: {name: 'vllm:num_requests_waiting', target: {type: AverageValue, averageValue: '4'}}}";
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badEndpoints")
  void endpointRejected(String what, String spec, String expectedMessage) {
    assertRejected("InferenceEndpoint", spec, expectedMessage);
  }

  @Test
  void endpointDefaultsAreFilledIn() {
    GenericKubernetesResource ie =
        create(
            "InferenceEndpoint",
            "image: vllm/vllm-openai:v0.11.0\n  model: {uri: 'hf://Qwen/Qwen3-8B@main'}\n  imageCache: {}");
    assertEquals(8000, ((Number) ie.get("spec", "port")).intValue());
    assertEquals("/health", ie.get("spec", "healthPath"));
    assertEquals(true, ie.get("spec", "imageCache", "enabled"));
    assertEquals("10m", ie.get("spec", "imageCache", "gateTimeout"));
    assertEquals("/models/model", ie.get("spec", "model", "path"));
  }

  @Test
  void scaleSubresourceDrivesSpecReplicas() {
    GenericKubernetesResource ie =
        create("InferenceEndpoint", "image: vllm/vllm-openai:v0.11.0\n  replicas: 1");
    var resource =
        client
            .genericKubernetesResources("warmstart.dev/v1alpha1", "InferenceEndpoint")
            .inNamespace(ns)
            .withName(ie.getMetadata().getName());
    resource.scale(3);
    assertEquals(3, ((Number) resource.get().get("spec", "replicas")).intValue());
  }

  @Test
  void kubectlExplainReadsLikeDocumentation() throws Exception {
    Path kubeconfig = Files.createTempFile("kubeconfig", ".yaml");
    Files.writeString(kubeconfig, KubeApi.kubeconfigYaml());
    Path kubectl =
        Path.of(
            System.getProperty("user.home"),
            ".kubeapitest",
            "k8s",
            System.getProperty("kube.version", "1.34.4") + "-linux-amd64",
            "kubectl");
    Process p =
        new ProcessBuilder(
                kubectl.toString(),
                "--kubeconfig",
                kubeconfig.toString(),
                "explain",
                "imagecache.spec")
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("images\t<[]string> -required-"), out);
    assertTrue(out.contains("Images to keep on every selected node"), out);
    assertTrue(out.contains("Tolerations for the node pool's taints"), out);
  }

  private static GenericKubernetesResource create(String kind, String spec) {
    String yaml =
        "apiVersion: warmstart.dev/v1alpha1\nkind: "
            + kind
            + "\nmetadata:\n  generateName: t-\n  namespace: "
            + ns
            + "\nspec:\n  "
            + spec
            + "\n";
    GenericKubernetesResource resource =
        client
            .getKubernetesSerialization()
            .unmarshal(
                new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)),
                GenericKubernetesResource.class);
    return client.resource(resource).create();
  }

  private static void assertRejected(String kind, String spec, String expectedMessage) {
    KubernetesClientException e =
        assertThrows(KubernetesClientException.class, () -> create(kind, spec));
    assertEquals(422, e.getCode(), e.getMessage());
    assertTrue(
        e.getMessage().contains(expectedMessage),
        "expected '" + expectedMessage + "' in: " + e.getMessage());
  }
}
