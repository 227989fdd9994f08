package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class ImageCacheStatus {
  /** Failures listed one by one; beyond this only the count in nodes.failed grows. */
  public static final int MAX_FAILURES = 10;

  @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
  private Long observedGeneration;

  @JsonPropertyDescription("How many nodes of the pool hold the images.")
  private NodeCounts nodes = new NodeCounts();

  @JsonPropertyDescription("Per image: its digest and how many nodes hold it.")
  private List<CachedImage> images = new ArrayList<>();

  @JsonPropertyDescription(
      "Failed pulls with node, image and reason; at most "
          + MAX_FAILURES
          + " are listed, nodes.failed has the total.")
  private List<PullFailure> failures = new ArrayList<>();

  @JsonPropertyDescription(
      "Ready: every selected node holds every image. Degraded: something needs attention.")
  private List<Condition> conditions = new ArrayList<>();

  public Long getObservedGeneration() {
    return observedGeneration;
  }

  public void setObservedGeneration(Long observedGeneration) {
    this.observedGeneration = observedGeneration;
  }

  public NodeCounts getNodes() {
    return nodes;
  }

  public void setNodes(NodeCounts nodes) {
    this.nodes = nodes;
  }

  public List<CachedImage> getImages() {
    return images;
  }

  public void setImages(List<CachedImage> images) {
    this.images = images;
  }

  public List<PullFailure> getFailures() {
    return failures;
  }

  public void setFailures(List<PullFailure> failures) {
    this.failures = failures;
  }

  public List<Condition> getConditions() {
    return conditions;
  }

  public void setConditions(List<Condition> conditions) {
    this.conditions = conditions;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ImageCacheStatus s
        && Objects.equals(observedGeneration, s.observedGeneration)
        && Objects.equals(nodes, s.nodes)
        && Objects.equals(images, s.images)
        && Objects.equals(failures, s.failures)
        && Objects.equals(conditions, s.conditions);
  }

  @Override
  public int hashCode() {
    return Objects.hash(observedGeneration, nodes, images, failures, conditions);
  }

  public static class NodeCounts {
    @JsonPropertyDescription("Nodes that match the selector and tolerations.")
    private int desired;

    @JsonPropertyDescription("Nodes that hold every image.")
    private int cached;

    @JsonPropertyDescription("Nodes still pulling at least one image.")
    private int pulling;

    @JsonPropertyDescription("Nodes where pulling an image failed.")
    private int failed;

    public NodeCounts() {}

    public NodeCounts(int desired, int cached, int pulling, int failed) {
      this.desired = desired;
      this.cached = cached;
      this.pulling = pulling;
      this.failed = failed;
    }

    public int getDesired() {
      return desired;
    }

    public void setDesired(int desired) {
      this.desired = desired;
    }

    public int getCached() {
      return cached;
    }

    public void setCached(int cached) {
      this.cached = cached;
    }

    public int getPulling() {
      return pulling;
    }

    public void setPulling(int pulling) {
      this.pulling = pulling;
    }

    public int getFailed() {
      return failed;
    }

    public void setFailed(int failed) {
      this.failed = failed;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof NodeCounts n
          && desired == n.desired
          && cached == n.cached
          && pulling == n.pulling
          && failed == n.failed;
    }

    @Override
    public int hashCode() {
      return Objects.hash(desired, cached, pulling, failed);
    }

    @Override
    public String toString() {
      return cached + "/" + desired + " cached, " + pulling + " pulling, " + failed + " failed";
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class CachedImage {
    @JsonPropertyDescription("The image as written in spec.images.")
    private String image;

    @JsonPropertyDescription(
        "The digest the nodes resolved the image to (from the container runtime's imageID).")
    private String digest;

    @JsonPropertyDescription("Nodes that hold this image.")
    private int cachedNodes;

    public CachedImage() {}

    public CachedImage(String image, String digest, int cachedNodes) {
      this.image = image;
      this.digest = digest;
      this.cachedNodes = cachedNodes;
    }

    public String getImage() {
      return image;
    }

    public void setImage(String image) {
      this.image = image;
    }

    public String getDigest() {
      return digest;
    }

    public void setDigest(String digest) {
      this.digest = digest;
    }

    public int getCachedNodes() {
      return cachedNodes;
    }

    public void setCachedNodes(int cachedNodes) {
      this.cachedNodes = cachedNodes;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof CachedImage c
          && Objects.equals(image, c.image)
          && Objects.equals(digest, c.digest)
          && cachedNodes == c.cachedNodes;
    }

    @Override
    public int hashCode() {
      return Objects.hash(image, digest, cachedNodes);
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class PullFailure {
    @JsonPropertyDescription("The node where the image could not be cached.")
    private String node;

    @JsonPropertyDescription("The image that failed.")
    private String image;

    @JsonPropertyDescription("The kubelet's reason, for example ErrImagePull or ImagePullBackOff.")
    private String reason;

    @JsonPropertyDescription("The kubelet's message, for example the registry's answer.")
    private String message;

    public PullFailure() {}

    public PullFailure(String node, String image, String reason, String message) {
      this.node = node;
      this.image = image;
      this.reason = reason;
      this.message = message;
    }

    public String getNode() {
      return node;
    }

    public void setNode(String node) {
      this.node = node;
    }

    public String getImage() {
      return image;
    }

    public void setImage(String image) {
      this.image = image;
    }

    public String getReason() {
      return reason;
    }

    public void setReason(String reason) {
      this.reason = reason;
    }

    public String getMessage() {
      return message;
    }

    public void setMessage(String message) {
      this.message = message;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof PullFailure f
          && Objects.equals(node, f.node)
          && Objects.equals(image, f.image)
          && Objects.equals(reason, f.reason)
          && Objects.equals(message, f.message);
    }

    @Override
    public int hashCode() {
      return Objects.hash(node, image, reason, message);
    }
  }
}
