package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.NodeAffinity;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class ImageCacheSpec {
  public static final int MAX_IMAGES = 32;

  @Required
  @Size(min = 1, max = MAX_IMAGES)
  @ValidationRule(
      value = "self.all(i, i.matches('" + ImageReference.PATTERN + "'))",
      message =
          "each image must be a valid image reference, for example "
              + ImageReference.EXAMPLE
              + " (lowercase repository path, optional :tag and @digest)")
  @ValidationRule(
      value = "self.all(i, self.exists_one(j, j == i))",
      message = "images must not repeat: list each image once")
  @JsonPropertyDescription(
      "Images to keep on every selected node, as pulled by the kubelet: "
          + "[registry/]repository[:tag][@digest]. At least one, at most "
          + MAX_IMAGES
          + ", no repeats.")
  private List<@Size(max = 512) String> images = new ArrayList<>();

  @JsonPropertyDescription(
      "Labels a node must have to hold the images, for example karpenter.sh/nodepool: gpu. "
          + "Empty selects every node the tolerations allow.")
  private Map<String, String> nodeSelector = new LinkedHashMap<>();

  @JsonPropertyDescription(
      "Node affinity that further restricts the nodes, with the meaning it has in a pod spec.")
  private NodeAffinity nodeAffinity;

  @JsonPropertyDescription(
      "Tolerations for the node pool's taints, for example nvidia.com/gpu:NoSchedule on GPU nodes.")
  private List<Toleration> tolerations = new ArrayList<>();

  @JsonPropertyDescription(
      "Secrets in this namespace with the registry credentials needed to pull the images.")
  private List<LocalObjectReference> imagePullSecrets = new ArrayList<>();

  public List<String> getImages() {
    return images;
  }

  public void setImages(List<String> images) {
    this.images = images;
  }

  public Map<String, String> getNodeSelector() {
    return nodeSelector;
  }

  public void setNodeSelector(Map<String, String> nodeSelector) {
    this.nodeSelector = nodeSelector;
  }

  public NodeAffinity getNodeAffinity() {
    return nodeAffinity;
  }

  public void setNodeAffinity(NodeAffinity nodeAffinity) {
    this.nodeAffinity = nodeAffinity;
  }

  public List<Toleration> getTolerations() {
    return tolerations;
  }

  public void setTolerations(List<Toleration> tolerations) {
    this.tolerations = tolerations;
  }

  public List<LocalObjectReference> getImagePullSecrets() {
    return imagePullSecrets;
  }

  public void setImagePullSecrets(List<LocalObjectReference> imagePullSecrets) {
    this.imagePullSecrets = imagePullSecrets;
  }
}
