package dev.warmstart.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.model.annotation.SpecReplicas;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value =
        "!has(self.warmPool) || self.warmPool.replicas == 0 || !has(self.model) "
            + "|| (has(self.model.nodeCache) && self.model.nodeCache.enabled)",
    message =
        "warmPool needs model.nodeCache.enabled: true, so that each placeholder keeps the weights on its node")
public class InferenceEndpointSpec {
  @Required
  @Size(max = 512)
  @ValidationRule(
      value = "self.matches('" + ImageReference.PATTERN + "')",
      message = "image must be a valid image reference, for example " + ImageReference.EXAMPLE)
  @JsonPropertyDescription(
      "The serving image, for example vllm/vllm-openai:v0.11.0. Cached on the node pool "
          + "ahead of need unless imageCache.enabled is false.")
  private String image;

  @JsonPropertyDescription(
      "Entrypoint of the serving container; the image's ENTRYPOINT when empty.")
  private List<String> command = new ArrayList<>();

  @JsonPropertyDescription(
      "Arguments of the serving container, for example [--model, /models/qwen3-8b].")
  private List<String> args = new ArrayList<>();

  @JsonPropertyDescription("Environment variables of the serving container.")
  private List<EnvVar> env = new ArrayList<>();

  @Min(1)
  @Max(65535)
  @Default("8000")
  @JsonPropertyDescription(
      "Port the server listens on; the Service exposes it under the same number.")
  private Integer port = 8000;

  @Pattern("^/.*")
  @Default("/health")
  @JsonPropertyDescription(
      "HTTP path of the server's readiness check (vLLM and TGI: /health, Triton: /v2/health/ready).")
  private String healthPath = "/health";

  @JsonPropertyDescription(
      "Resources of the serving container, for example limits: {nvidia.com/gpu: 1}.")
  private ResourceRequirements resources;

  @JsonPropertyDescription(
      "Labels of the nodes to serve on, for example karpenter.sh/nodepool: gpu.")
  private Map<String, String> nodeSelector = new LinkedHashMap<>();

  @JsonPropertyDescription(
      "Tolerations for the node pool's taints, for example nvidia.com/gpu:NoSchedule.")
  private List<Toleration> tolerations = new ArrayList<>();

  @JsonPropertyDescription(
      "Secrets in this namespace with the registry credentials for the serving image.")
  private List<LocalObjectReference> imagePullSecrets = new ArrayList<>();

  @JsonPropertyDescription("Where the model weights come from and where the server reads them.")
  private ModelSource model;

  @JsonPropertyDescription("Caching of the serving image on the node pool; on by default.")
  private ImageCachePolicy imageCache;

  @SpecReplicas
  @Min(0)
  @Default("1")
  @JsonPropertyDescription(
      "Number of serving replicas when autoscaling is not set; also the /scale subresource, "
          + "so kubectl scale, an HPA or KEDA can drive it. Defaults to 1.")
  private Integer replicas;

  @JsonPropertyDescription(
      "Scale from custom metrics within seconds; replaces replicas as the source of the count.")
  private Autoscaling autoscaling;

  @JsonPropertyDescription(
      "GPU nodes held warm for the next replicas: low-priority placeholder pods that pull the "
          + "serving image and the weights (into model.nodeCache) on their nodes and give way to a new replica.")
  private WarmPool warmPool;

  public String getImage() {
    return image;
  }

  public void setImage(String image) {
    this.image = image;
  }

  public List<String> getCommand() {
    return command;
  }

  public void setCommand(List<String> command) {
    this.command = command;
  }

  public List<String> getArgs() {
    return args;
  }

  public void setArgs(List<String> args) {
    this.args = args;
  }

  public List<EnvVar> getEnv() {
    return env;
  }

  public void setEnv(List<EnvVar> env) {
    this.env = env;
  }

  public Integer getPort() {
    return port;
  }

  public void setPort(Integer port) {
    this.port = port;
  }

  public String getHealthPath() {
    return healthPath;
  }

  public void setHealthPath(String healthPath) {
    this.healthPath = healthPath;
  }

  public ResourceRequirements getResources() {
    return resources;
  }

  public void setResources(ResourceRequirements resources) {
    this.resources = resources;
  }

  public Map<String, String> getNodeSelector() {
    return nodeSelector;
  }

  public void setNodeSelector(Map<String, String> nodeSelector) {
    this.nodeSelector = nodeSelector;
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

  public ModelSource getModel() {
    return model;
  }

  public void setModel(ModelSource model) {
    this.model = model;
  }

  public ImageCachePolicy getImageCache() {
    return imageCache;
  }

  public void setImageCache(ImageCachePolicy imageCache) {
    this.imageCache = imageCache;
  }

  public Integer getReplicas() {
    return replicas;
  }

  public void setReplicas(Integer replicas) {
    this.replicas = replicas;
  }

  public Autoscaling getAutoscaling() {
    return autoscaling;
  }

  public void setAutoscaling(Autoscaling autoscaling) {
    this.autoscaling = autoscaling;
  }

  public WarmPool getWarmPool() {
    return warmPool;
  }

  public void setWarmPool(WarmPool warmPool) {
    this.warmPool = warmPool;
  }

  /** Placeholders to keep: spec.warmPool.replicas, 0 without a warm pool. */
  @JsonIgnore
  public int warmPoolSize() {
    return warmPool == null || warmPool.getReplicas() == null ? 0 : warmPool.getReplicas();
  }

  /** The serving image is cached on the pool unless imageCache.enabled is explicitly false. */
  @JsonIgnore
  public boolean imageCacheEnabled() {
    return imageCache == null || imageCache.getEnabled() == null || imageCache.getEnabled();
  }

  @JsonIgnore
  public String gateTimeout() {
    return imageCache == null || imageCache.getGateTimeout() == null
        ? "10m"
        : imageCache.getGateTimeout();
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class ModelSource {
    @Required
    @Size(max = 2048)
    @ValidationRule(
        value =
            "self.startsWith('s3://') || self.startsWith('https://') || self.startsWith('hf://')",
        message =
            "model.uri must start with s3://, https:// or hf://, for example s3://models/qwen3-8b/ "
                + "or hf://Qwen/Qwen3-8B@main")
    @ValidationRule(
        value =
            "!self.startsWith('s3://') || self.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$')",
        message = "an s3:// URI needs a valid bucket name: s3://bucket/prefix/")
    @ValidationRule(
        value = "!self.startsWith('hf://') || self.matches('^hf://[^/@]+/[^/@]+(@[^/@]+)?$')",
        message = "an hf:// URI names a Hub repository: hf://org/model or hf://org/model@revision")
    @JsonPropertyDescription(
        "Source of the weights: s3://bucket/prefix/, https://host/file or hf://org/model@revision.")
    private String uri;

    @Default("/models/model")
    @Pattern("^/.*")
    @JsonPropertyDescription(
        "Absolute path where the server finds the weights (mounted read-only).")
    private String path = "/models/model";

    @JsonPropertyDescription(
        "Secret in this namespace with the download credentials (AWS_ACCESS_KEY_ID and "
            + "AWS_SECRET_ACCESS_KEY for s3://, HF_TOKEN for hf://), given only to the download init container. "
            + "Leave empty to use the pod's identity (IRSA, EKS Pod Identity) or anonymous access.")
    private String credentialsSecret;

    public String getUri() {
      return uri;
    }

    public void setUri(String uri) {
      this.uri = uri;
    }

    public String getPath() {
      return path;
    }

    public void setPath(String path) {
      this.path = path;
    }

    @JsonPropertyDescription(
        "Node-local cache of the weights, off by default: each node downloads a model once "
            + "and later replicas there get it in under a second, as hard links on the node's disk. Uses a hostPath volume, which the restricted and "
            + "baseline Pod Security levels forbid: the namespace must allow privileged pods.")
    private NodeCache nodeCache;

    public String getCredentialsSecret() {
      return credentialsSecret;
    }

    public void setCredentialsSecret(String credentialsSecret) {
      this.credentialsSecret = credentialsSecret;
    }

    public NodeCache getNodeCache() {
      return nodeCache;
    }

    public void setNodeCache(NodeCache nodeCache) {
      this.nodeCache = nodeCache;
    }

    /** Whether the weights go through the node-local cache. */
    @JsonIgnore
    public boolean nodeCacheEnabled() {
      return nodeCache != null && Boolean.TRUE.equals(nodeCache.getEnabled());
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class NodeCache {
    public static final String DEFAULT_PATH = "/var/lib/warmstart/model-cache";
    public static final String DEFAULT_MAX_SIZE = "500Gi";

    @Default("false")
    @JsonPropertyDescription(
        "Download each model once per node into a directory on the node; each pod's server "
            + "reads the model, read-only, from the pod's own directory there (pods/<namespace>/<uid>, hard links to "
            + "the cached files), removed by a later download once the pod is gone. Concurrent downloads of one "
            + "model on a node wait for the first. "
            + "Off by default: it needs a hostPath volume (privileged Pod Security) and the download container "
            + "then runs as root, without capabilities, to write the kubelet-created directory.")
    private Boolean enabled = false;

    @Default(DEFAULT_PATH)
    @Size(max = 1024)
    @Pattern("^/.+")
    @ValidationRule(
        value = "!self.matches('(^|/)[.][.]?(/|$)')",
        message = "nodeCache.path must be an absolute path without . or .. segments")
    @JsonPropertyDescription(
        "Absolute path of the cache directory on the node (created if missing). Shared by "
            + "every endpoint with the same path on the node; give it a dedicated directory, since the cache "
            + "deletes what it evicts there.")
    private String path = DEFAULT_PATH;

    @Default(DEFAULT_MAX_SIZE)
    @JsonPropertyDescription(
        "Size limit of the cache (for example 500Gi). When a download would exceed it, "
            + "the least recently used models that no download is reading are evicted; a model larger than the "
            + "limit is downloaded without the cache. A running server keeps its files (hard links) until its pod "
            + "is gone.")
    private Quantity maxSize = new Quantity(DEFAULT_MAX_SIZE);

    public Boolean getEnabled() {
      return enabled;
    }

    public void setEnabled(Boolean enabled) {
      this.enabled = enabled;
    }

    public String getPath() {
      return path;
    }

    public void setPath(String path) {
      this.path = path;
    }

    public Quantity getMaxSize() {
      return maxSize;
    }

    public void setMaxSize(Quantity maxSize) {
      this.maxSize = maxSize;
    }
  }

  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class ImageCachePolicy {
    @Default("true")
    @JsonPropertyDescription(
        "Keep the serving image cached on every node of the pool and hold the model "
            + "download until the image is there. On by default.")
    private Boolean enabled = true;

    @Default("10m")
    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription(
        "How long a new replica waits for the image to be cached before it downloads "
            + "the model anyway (Go duration, for example 10m). The gate only ever delays, never blocks.")
    private String gateTimeout = "10m";

    public Boolean getEnabled() {
      return enabled;
    }

    public void setEnabled(Boolean enabled) {
      this.enabled = enabled;
    }

    public String getGateTimeout() {
      return gateTimeout;
    }

    public void setGateTimeout(String gateTimeout) {
      this.gateTimeout = gateTimeout;
    }
  }
}
