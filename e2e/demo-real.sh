#!/usr/bin/env bash
# The demo on real GPU nodes (e2e/demo.sh runs it when this machine can): real kubelets with Debian's
# containerd join the local cluster behind a shaped link, pull from its registry and S3, and the
# operator, installed by helm from the image built here, runs as a pod and measures three cold
# starts of the same endpoint (a model-server padded to a serving image's weight, its weights in S3):
#   1. on a new node without warmstart's cache (imageCache.enabled: false): Kubernetes' default order,
#      the download first, then the kubelet pulls the image
#   2. on a new node with it: the image is pre-pulled while the node's GPU comes up, the download
#      goes as the gate allows
#   3. from the warm pool: a node held warm (image cached, weights in the node cache) takes the
#      scale-out by preempting its placeholder
# Usage: e2e/demo-real.sh [--keep]   (--keep leaves the operator, endpoints and demo nodes running)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${1:-}
NS=demo
RELEASE=warmstart-demo
LINK_MBIT=${DEMO_LINK_MBIT:-400}
GPU_DELAY=${DEMO_GPU_DELAY:-10}
IMAGE_MB=${DEMO_IMAGE_MB:-400}
MODEL_SHARD_BYTES=$((128 * 1024 * 1024))

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
k() { e2e/cluster.sh kubectl "$@"; }

step "local cluster with a real GPU node for the operator (first run builds Kubernetes and the images: ~25 min; then seconds)"
e2e/tools.sh >/dev/null
[[ -f operator/target/warmstart.jar && -f model-server/target/model-server.jar ]] || mvn -B -q package -DskipTests
e2e/cluster.sh up --real-nodes 1
eval "$(e2e/cluster.sh env)"
export KUBECONFIG
k get nodes -o wide -L warmstart.dev/real-node

step "a serving image of ${IMAGE_MB} MiB in 5 layers and 256 MiB of weights in S3"
tag=demo-${IMAGE_MB}
archive=model-server/target/image/model-server-$tag.oci.tar
[[ -f $archive ]] || image/model-server.sh --pad-mb "$IMAGE_MB" --pad-shares 3,7,45,35,10 --tag "$tag" >/dev/null
IMAGE=$REGISTRY/warmstart/model-server:$tag
skopeo copy -q --dest-tls-verify=false "oci-archive:$archive" "docker://$IMAGE"
if [[ ! -d $S3_BLOBS/models/demo-llm ]]; then
  mkdir -p "$S3_BLOBS/models/demo-llm.tmp"
  python3 bench/lib/write-model.py "$S3_BLOBS/models/demo-llm.tmp" 2 "$MODEL_SHARD_BYTES" "$S3_BLOBS/models/demo-llm.md5"
  mv "$S3_BLOBS/models/demo-llm.tmp" "$S3_BLOBS/models/demo-llm"
fi
echo "image $IMAGE; model s3://models/demo-llm/"

step "the operator: helm install from the image built here, on a real node"
e2e/cluster.sh install-operator "$RELEASE" "$NS"
k -n "$RELEASE" get pods -o wide

DEMO_NODES=()
cleanup() {
  [[ $keep == --keep ]] && return 0
  k -n "$NS" delete inferenceendpoints --all --wait=true >/dev/null 2>&1 || true
  local n
  for n in "${DEMO_NODES[@]}"; do e2e/cluster.sh remove-real-node "$n" >/dev/null 2>&1 || true; done
  "$(e2e/tools.sh --print)/helm" uninstall "$RELEASE" --namespace "$RELEASE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

endpoint() { # name scenario-label cache(true|false) [warm-pool replicas]
  cat <<EOF | k apply -f - >/dev/null
apiVersion: warmstart.dev/v1alpha1
kind: InferenceEndpoint
metadata: {name: $1, namespace: $NS}
spec:
  image: $IMAGE
  args: [/models/demo-llm]
  port: 8000
  nodeSelector: {warmstart.dev/demo: "$2"}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}, {key: warmstart.dev/real-node, operator: Exists, effect: NoSchedule}]
  resources: {limits: {nvidia.com/gpu: 1}}
  imageCache: {enabled: $3}
  model: {uri: "s3://models/demo-llm/", path: /models/demo-llm, credentialsSecret: s3-credentials$([[ -n ${4:-} ]] && echo ", nodeCache: {enabled: true}")}
  replicas: 1
$([[ -n ${4:-} ]] && echo "  warmPool: {replicas: $4}")
EOF
}
join() { # scenario-label: a new GPU node behind the shaped link; its GPU appears GPU_DELAY s after it registers
  local node
  node=$(REAL_EXTRA_LABELS=warmstart.dev/demo=$1 REAL_LINK_MBIT=$LINK_MBIT REAL_GPU_DELAY=$GPU_DELAY \
    e2e/cluster.sh add-real-node 2>/dev/null | tail -n 1)
  DEMO_NODES+=("$node")
  echo "$node joined (link $LINK_MBIT Mbit/s, GPU after $GPU_DELAY s)" >&2
}
cold_start() { # endpoint -> its last cold start, as the operator recorded it
  local i
  for ((i = 0; i < 60; i++)); do
    [[ -n $(k -n "$NS" get ie "$1" -o jsonpath='{.status.coldStart.last.total}') ]] && break
    sleep 1
  done
  k -n "$NS" get ie "$1" -o jsonpath='{.status.coldStart.last}' |
    python3 -c 'import json,sys; p=json.load(sys.stdin); print(" ".join(f"{k}={p[k]}" for k in ("total","scheduling","gateWait","modelDownload","imagePull","serverStart")), "on", p["node"])'
}

step "1. a new GPU node, no warmstart cache: the download, then the kubelet's pull"
endpoint cold-nocache nocache false
join nocache
k -n "$NS" wait --for=condition=Ready ie/cold-nocache --timeout=600s >/dev/null
NOCACHE=$(cold_start cold-nocache)
echo "cold start: $NOCACHE"

step "2. a new GPU node with warmstart's cache: the image pre-pulled while the GPU comes up"
endpoint cold-cached cached true
join cached
k -n "$NS" wait --for=condition=Ready ie/cold-cached --timeout=600s >/dev/null
CACHED=$(cold_start cold-cached)
echo "cold start: $CACHED"
k -n "$NS" get imagecache -o wide

step "3. a warm pool: one replica, one node held warm; a scale-out takes the warm node"
endpoint warm warm true 1
join warm
join warm
k -n "$NS" wait --for=condition=Ready ie/warm --timeout=600s >/dev/null
k -n "$NS" wait --for=condition=WarmPoolReady ie/warm --timeout=600s >/dev/null
k -n "$NS" get pods -o wide -l app.kubernetes.io/instance=warm
k -n "$NS" scale ie/warm --replicas=2
k -n "$NS" wait --for=jsonpath='{.status.readyReplicas}'=2 ie/warm --timeout=300s >/dev/null
WARM=$(cold_start warm)
echo "cold start: $WARM"
k -n "$NS" get events --field-selector reason=Preempted 2>/dev/null | tail -n 3 || true

step "the three cold starts, measured by the operator (status.coldStart.last)"
k -n "$NS" get ie -o wide
printf '%-34s %s\n' "new node, no cache:" "$NOCACHE" "new node, warmstart's cache:" "$CACHED" "warm pool:" "$WARM"
