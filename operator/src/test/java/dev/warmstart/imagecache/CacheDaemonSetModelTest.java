package dev.warmstart.imagecache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.ImageCacheSpec;
import dev.warmstart.kube.HelperSettings;
import dev.warmstart.kube.Labels;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The rules of the image cache's DaemonSet that hold for every ImageCache (security, names, one
 * pause container per image, surge updates); each scenario's exact DaemonSet is {@link
 * CacheDaemonSetGoldenTest}'s.
 */
class CacheDaemonSetModelTest {
  static final String HELPER = "ghcr.io/warmstart/warmstart:0.1.0";
  static final HelperSettings HELPERS = new HelperSettings(HELPER, null);
  private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

  /** A label value: at most 63 characters, alphanumeric at both ends. */
  private static final Pattern LABEL_VALUE =
      Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");

  private static final String HEX64 =
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  static <T> T load(String resource, Class<T> type) {
    try (InputStream in =
        CacheDaemonSetModelTest.class.getResourceAsStream("/imagecache/" + resource)) {
      assertNotNull(in, "missing test resource imagecache/" + resource);
      return Serialization.unmarshal(in, type);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static ImageCache basic() {
    return load("golden/basic/imagecache.yaml", ImageCache.class);
  }

  static ImageCache cache(String name, String... images) {
    ImageCache cache = new ImageCache();
    cache.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("ml").build());
    ImageCacheSpec spec = new ImageCacheSpec();
    spec.setImages(new ArrayList<>(List.of(images)));
    cache.setSpec(spec);
    return cache;
  }

  static void assertLabel(String s) {
    assertTrue(s.length() <= 63, () -> "longer than 63 (" + s.length() + "): " + s);
    assertTrue(DNS1123_LABEL.matcher(s).matches(), () -> "not a DNS-1123 label: " + s);
  }

  static Stream<Container> allContainers(PodSpec pod) {
    return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream());
  }

  // ---------------------------------------------------------------- determinism

  @Test
  void desiredIsDeterministic() {
    assertEquals(
        CacheDaemonSetModel.desired(basic(), HELPERS),
        CacheDaemonSetModel.desired(basic(), HELPERS));
  }

  // ---------------------------------------------------------------- pod security

  @Test
  void restrictedPodSecurityOnEveryContainer() {
    PodSpec pod = CacheDaemonSetModel.desired(basic(), HELPERS).getSpec().getTemplate().getSpec();
    PodSecurityContext podSecurity = pod.getSecurityContext();
    assertNotNull(podSecurity, "pod securityContext");
    assertEquals(Boolean.TRUE, podSecurity.getRunAsNonRoot(), "runAsNonRoot at pod level");
    assertNotEquals(0L, podSecurity.getRunAsUser(), "must not run as root");
    assertNotEquals(Boolean.TRUE, pod.getHostNetwork());
    assertNotEquals(Boolean.TRUE, pod.getHostPID());
    assertNotEquals(Boolean.TRUE, pod.getHostIPC());
    for (Volume v : pod.getVolumes()) {
      assertNull(v.getHostPath(), () -> "hostPath volume " + v.getName());
    }

    List<Container> containers = allContainers(pod).toList();
    assertEquals(basic().getSpec().getImages().size() + 1, containers.size());
    for (Container c : containers) {
      SecurityContext sc = c.getSecurityContext();
      assertNotNull(sc, () -> c.getName() + ": securityContext");
      assertEquals(
          Boolean.FALSE,
          sc.getAllowPrivilegeEscalation(),
          () -> c.getName() + ": allowPrivilegeEscalation");
      assertNotEquals(Boolean.TRUE, sc.getPrivileged(), () -> c.getName() + ": privileged");
      assertNotNull(sc.getCapabilities(), () -> c.getName() + ": capabilities");
      assertEquals(
          List.of("ALL"), sc.getCapabilities().getDrop(), () -> c.getName() + ": drop ALL");
      assertTrue(
          sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty(),
          () -> c.getName() + ": adds capabilities");
      assertEquals(
          Boolean.TRUE,
          sc.getReadOnlyRootFilesystem(),
          () -> c.getName() + ": readOnlyRootFilesystem");
      assertNotEquals(
          Boolean.FALSE, sc.getRunAsNonRoot(), () -> c.getName() + ": overrides runAsNonRoot");
      assertNotEquals(0L, sc.getRunAsUser(), () -> c.getName() + ": runs as root");
      String seccomp =
          sc.getSeccompProfile() != null
              ? sc.getSeccompProfile().getType()
              : podSecurity.getSeccompProfile() == null
                  ? null
                  : podSecurity.getSeccompProfile().getType();
      assertEquals("RuntimeDefault", seccomp, () -> c.getName() + ": effective seccomp profile");
    }
  }

  @Test
  void noServiceAccountToken() {
    PodSpec pod = CacheDaemonSetModel.desired(basic(), HELPERS).getSpec().getTemplate().getSpec();
    assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken());
  }

  // ---------------------------------------------------------------- containers

  @Test
  void eachImageRunsThePauseBinary() {
    ImageCache cache = basic();
    PodSpec pod = CacheDaemonSetModel.desired(cache, HELPERS).getSpec().getTemplate().getSpec();
    assertEquals(
        cache.getSpec().getImages(),
        pod.getContainers().stream().map(Container::getImage).toList(),
        "one container per image, in spec order");
    for (Container c : pod.getContainers()) {
      assertEquals(
          List.of("/warmstart/bin/pause"), c.getCommand(), () -> c.getName() + ": command");
      assertTrue(c.getArgs() == null || c.getArgs().isEmpty(), () -> c.getName() + ": args");
      assertEquals("IfNotPresent", c.getImagePullPolicy(), () -> c.getName() + ": imagePullPolicy");
      assertTrue(
          c.getVolumeMounts().stream()
              .anyMatch(
                  m ->
                      m.getMountPath().equals("/warmstart/bin")
                          && Boolean.TRUE.equals(m.getReadOnly())),
          () -> c.getName() + ": mounts the pause binary read-only");
      assertNotNull(
          c.getResources().getLimits().get("memory"), () -> c.getName() + ": memory limit");
    }
    Container install = pod.getInitContainers().get(0);
    assertEquals(HELPER, install.getImage());
    assertEquals(List.of("install-pause", "/warmstart/bin/pause"), install.getArgs());
    assertTrue(
        install.getVolumeMounts().stream()
            .anyMatch(
                m ->
                    m.getMountPath().equals("/warmstart/bin")
                        && !Boolean.TRUE.equals(m.getReadOnly())),
        "install-pause writes the binary");
    assertTrue(
        pod.getVolumes().stream()
            .anyMatch(
                v ->
                    v.getEmptyDir() != null
                        && install.getVolumeMounts().get(0).getName().equals(v.getName())),
        "the binary lives in an emptyDir");
  }

  @Test
  void updatesSurgeSoImagesStayPinned() {
    var strategy = CacheDaemonSetModel.desired(basic(), HELPERS).getSpec().getUpdateStrategy();
    assertEquals("RollingUpdate", strategy.getType());
    IntOrString maxUnavailable = strategy.getRollingUpdate().getMaxUnavailable();
    assertTrue(
        Integer.valueOf(0).equals(maxUnavailable.getIntVal())
            || "0".equals(maxUnavailable.getStrVal())
            || "0%".equals(maxUnavailable.getStrVal()),
        () -> "maxUnavailable " + maxUnavailable);
    IntOrString maxSurge = strategy.getRollingUpdate().getMaxSurge();
    assertNotNull(maxSurge, "maxSurge");
    assertFalse(
        Integer.valueOf(0).equals(maxSurge.getIntVal()) || "0%".equals(maxSurge.getStrVal()),
        () -> "maxSurge must be positive when maxUnavailable is 0, was " + maxSurge);
  }

  // ---------------------------------------------------------------- names and labels

  @Test
  void podsAreSeenByTheOperatorAndFindTheirImageCache() {
    ImageCache cache = basic();
    DaemonSet ds = CacheDaemonSetModel.desired(cache, HELPERS);
    var template = ds.getSpec().getTemplate().getMetadata();
    assertEquals("ml", ds.getMetadata().getNamespace());
    assertEquals("imagecache-serving-images", ds.getMetadata().getName());
    // The selector must match the template's labels, or the API server rejects the DaemonSet.
    ds.getSpec()
        .getSelector()
        .getMatchLabels()
        .forEach((k, v) -> assertEquals(v, template.getLabels().get(k), "template label " + k));
    // The operator's informers select on these labels.
    for (String requirement : CacheDaemonSet.SELECTOR.split(",")) {
      String[] kv = requirement.split("=");
      assertEquals(kv[1], template.getLabels().get(kv[0]), "pod label " + kv[0]);
      assertEquals(kv[1], ds.getMetadata().getLabels().get(kv[0]), "DaemonSet label " + kv[0]);
    }
    // Pods lead back to their ImageCache by annotations.
    assertEquals("serving-images", template.getAnnotations().get(Labels.IMAGE_CACHE_NAME));
    assertEquals("ml", template.getAnnotations().get(Labels.IMAGE_CACHE_NAMESPACE));
  }

  static String longName(char last) {
    StringBuilder sb = new StringBuilder();
    while (sb.length() < 252) {
      sb.append("serving-images.");
    }
    sb.setLength(252);
    if (!Character.isLetterOrDigit(sb.charAt(251))) {
      sb.setCharAt(251, 'x');
    }
    return sb.append(last).toString();
  }

  @Test
  void longestNameGivesValidDaemonSetNameAndLabels() {
    ImageCache cache = cache(longName('a'), "ubuntu");
    assertEquals(253, cache.getMetadata().getName().length());
    DaemonSet ds = CacheDaemonSetModel.desired(cache, HELPERS);
    assertLabel(ds.getMetadata().getName());
    Map<String, String> selector = ds.getSpec().getSelector().getMatchLabels();
    assertFalse(selector.isEmpty());
    for (Map<String, String> labels :
        List.of(
            selector,
            ds.getMetadata().getLabels(),
            ds.getSpec().getTemplate().getMetadata().getLabels())) {
      labels
          .values()
          .forEach(
              v -> {
                assertTrue(v.length() <= 63, () -> "label value longer than 63: " + v);
                assertTrue(LABEL_VALUE.matcher(v).matches(), () -> "invalid label value: " + v);
              });
    }
    assertLabel(selector.get(Labels.IMAGE_CACHE));
    assertEquals(
        cache.getMetadata().getName(),
        ds.getSpec().getTemplate().getMetadata().getAnnotations().get(Labels.IMAGE_CACHE_NAME),
        "the full name");
  }

  @Test
  void longNamesDifferingAtTheEndGetDifferentDaemonSets() {
    DaemonSet a = CacheDaemonSetModel.desired(cache(longName('a'), "ubuntu"), HELPERS);
    DaemonSet b = CacheDaemonSetModel.desired(cache(longName('b'), "ubuntu"), HELPERS);
    assertNotEquals(a.getMetadata().getName(), b.getMetadata().getName());
    assertNotEquals(
        a.getSpec().getSelector().getMatchLabels(),
        b.getSpec().getSelector().getMatchLabels(),
        "one cache's selector must not select the other's pods");
  }

  @Test
  void containerNamesAreValidAndDistinct() {
    List<String> images =
        List.of(
            "repo:v1",
            "repo:v2",
            "repo",
            "repo@sha256:" + HEX64,
            "repo@sha256:" + HEX64.replace('0', 'f'),
            "repo:v1@sha256:" + HEX64,
            "other/repo:v1",
            "localhost:5000/a/b:tag",
            "Registry.Example.COM:443/team/server:1.0",
            "ghcr.io/org/" + "very-long-repository-name-".repeat(8) + "end:latest",
            "ghcr.io/org/a__b.c-d:latest",
            "install-pause");
    ImageCache cache = cache("c", images.toArray(String[]::new));
    PodSpec pod = CacheDaemonSetModel.desired(cache, HELPERS).getSpec().getTemplate().getSpec();
    Set<String> names = new HashSet<>();
    allContainers(pod)
        .forEach(
            c -> {
              assertLabel(c.getName());
              assertTrue(names.add(c.getName()), () -> "duplicate container name " + c.getName());
            });
    assertEquals(images.size() + 1, names.size());
    assertTrue(
        CacheDaemonSetModel.containerName("vllm/vllm-openai:v0.11.0").startsWith("vllm-openai-"),
        "readable: named after the repository");
    assertEquals(
        CacheDaemonSetModel.containerName("repo:v1"),
        CacheDaemonSetModel.containerName("repo:v1"),
        "stable, so that status can find a container again");
  }
}
