package dev.warmstart.kube;

/**
 * What the operator and its in-pod helpers (gate, fetch-model, install-pause) must agree on: the
 * pods the operator builds name these, the helpers read them, and the operator reads back the
 * containers they run in. Changing one changes the wire between an operator and the helper image it
 * runs: both sides ship in one jar, but a rolling upgrade runs an old operator beside new pods for
 * a while.
 *
 * <p>Constants only, so that the helpers, which start on every cold start's path, load nothing for
 * them.
 */
public final class HelperContract {
  /**
   * UID and GID the helpers (and the pause containers) run as: non-root, outside the range images
   * allocate.
   */
  public static final long HELPER_UID = 65532L;

  // ---- containers of the pods the operator creates ----
  public static final String CONTAINER_GATE = "gate";
  public static final String CONTAINER_FETCH_MODEL = "fetch-model";
  public static final String CONTAINER_INSTALL_PAUSE = "install-pause";

  /** The serving image's container in a serving pod. */
  public static final String CONTAINER_SERVER = "server";

  /** The container of a warm-pool placeholder: the serving image, running the pause binary. */
  public static final String CONTAINER_PLACEHOLDER = "placeholder";

  // ---- the helpers' subcommands of the warmstart jar ----
  public static final String COMMAND_GATE = "gate";
  public static final String COMMAND_FETCH_MODEL = "fetch-model";
  public static final String COMMAND_INSTALL_PAUSE = "install-pause";

  // ---- the pod's identity, from the downward API: what the gate checks a request against ----
  public static final String ENV_POD_NAMESPACE = "POD_NAMESPACE";
  public static final String ENV_POD_NAME = "POD_NAME";
  public static final String ENV_POD_UID = "POD_UID";
  public static final String ENV_NODE_NAME = "NODE_NAME";

  // ---- gate: the init container's options, and the operator's HTTP API it calls ----
  public static final String GATE_OPTION_KIND = "--kind";
  public static final String GATE_OPTION_URL = "--url";
  public static final String GATE_OPTION_TIMEOUT = "--timeout";

  /**
   * {@value #GATE_OPTION_KIND} and the {@value #GATE_QUERY_KIND} parameter: a serving pod's model
   * download.
   */
  public static final String GATE_KIND_MODEL = "model";

  /**
   * {@value #GATE_OPTION_KIND} and the {@value #GATE_QUERY_KIND} parameter: an ImageCache pod's
   * image pre-pull.
   */
  public static final String GATE_KIND_PREPULL = "prepull";

  /**
   * {@code GET /v1/gate?namespace=&pod=&uid=&node=&kind=[&wait=]}: may this pod start its transfer
   * now.
   */
  public static final String GATE_PATH = "/v1/gate";

  public static final String GATE_QUERY_NAMESPACE = "namespace";
  public static final String GATE_QUERY_POD = "pod";
  public static final String GATE_QUERY_UID = "uid";
  public static final String GATE_QUERY_NODE = "node";
  public static final String GATE_QUERY_KIND = "kind";

  /** The longest the operator may hold the request before it answers "wait". */
  public static final String GATE_QUERY_WAIT = "wait";

  /**
   * {@code GET /v1/pods?node=}: the UIDs of the warmstart pods on a node and the namespaces
   * watched; fetch-model clears the node cache's directories of pods that are gone by it.
   */
  public static final String PODS_PATH = "/v1/pods";

  public static final String PODS_QUERY_NODE = "node";

  // ---- fetch-model ----
  /** The model to fetch: s3://, https:// or hf://. */
  public static final String ENV_MODEL_URI = "MODEL_URI";

  /** The directory to fetch it into. */
  public static final String ENV_MODEL_PATH = "MODEL_PATH";

  public static final String ENV_MODEL_CACHE_DIR = "MODEL_CACHE_DIR";
  public static final String ENV_MODEL_CACHE_MAX_SIZE = "MODEL_CACHE_MAX_SIZE";
  public static final String ENV_MODEL_CACHE_PODS_URL = "MODEL_CACHE_PODS_URL";
  public static final String FETCH_OPTION_CACHE_DIR = "--cache-dir";
  public static final String FETCH_OPTION_CACHE_MAX_SIZE = "--cache-max-size";
  public static final String FETCH_OPTION_CACHE_PODS_URL = "--cache-pods-url";

  /**
   * The node cache's directory of the pods' model directories, {@code <cache>/pods/<namespace>/<pod
   * uid>}: fetch-model fills a pod's with hard links, the operator mounts it into that pod's
   * server.
   */
  public static final String CACHE_POD_DIRECTORIES = "pods";

  // ---- fetch-model's termination message: one line of JSON the operator reads for cold-start
  // accounting,
  // {"bytes":N,"seconds":S,"files":F,"source":"...","cacheHit":B} on success, {"error":"..."} on
  // failure ----
  public static final String SUMMARY_BYTES = "bytes";
  public static final String SUMMARY_SECONDS = "seconds";
  public static final String SUMMARY_FILES = "files";
  public static final String SUMMARY_SOURCE = "source";
  public static final String SUMMARY_CACHE_HIT = "cacheHit";
  public static final String SUMMARY_ERROR = "error";

  private HelperContract() {}
}
