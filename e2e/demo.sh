#!/usr/bin/env bash
# See warmstart do its job.
#   e2e/demo.sh          on real GPU nodes when this machine can run them (root, Debian's containerd;
#                        e2e/tools.sh installs what is missing): the operator installed by helm and
#                        running as a pod, three cold starts of the same endpoint measured by the
#                        operator on nodes that join behind a shaped link: without warmstart's cache,
#                        with it, and from the warm pool
#   e2e/demo.sh --kwok   on the fake GPU pool (KWOK): the ImageCache covering the pool as it grows, an
#                        endpoint's cold starts as KWOK's stages time them, a warm pool taking a scale-out
#   --keep               leave what the demo made running (its operator and endpoints)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=real keep=
for arg in "$@"; do
  case $arg in
    --kwok) mode=kwok ;;
    --keep) keep=--keep ;;
    *) echo "usage: e2e/demo.sh [--kwok] [--keep]" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if [[ $mode == real ]]; then
  e2e/tools.sh >/dev/null
  missing=$(
    BIN=$(e2e/tools.sh --print)
    # shellcheck source=e2e/lib/real-nodes.sh
    source e2e/lib/real-nodes.sh
    real_missing
  )
  if [[ -n $missing ]]; then
    echo "demo: real nodes need $(tr '\n' ',' <<<"$missing" | sed 's/,$//; s/,/, /g'): showing the KWOK demo instead" >&2
    mode=kwok
  else
    exec e2e/demo-real.sh ${keep:+"$keep"}
  fi
fi

step "local cluster (first run builds Kubernetes from source: ~20 min; then seconds)"
e2e/tools.sh >/dev/null
e2e/cluster.sh up
KUBECONFIG=$(e2e/cluster.sh kubeconfig)
export KUBECONFIG
k() { e2e/cluster.sh kubectl "$@"; }
k get nodes -L nvidia.com/gpu.product,node.kubernetes.io/instance-type,karpenter.sh/nodepool

if [[ ! -f operator/target/warmstart.jar ]]; then
  step "build operator/target/warmstart.jar"
  mvn -B -q package -DskipTests
fi

step "CRDs and examples"
k apply --server-side --force-conflicts -f crds/
k wait --for=condition=Established crd/imagecaches.warmstart.dev crd/inferenceendpoints.warmstart.dev --timeout=60s
k apply --server-side --force-conflicts -f examples/imagecache.yaml

step "operator"
state=${WARMSTART_CACHE:-$HOME/.cache/warmstart}/demo
mkdir -p "$state"
if [[ -f $state/operator.pid ]] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  kill "$(cat "$state/operator.pid")"
  sleep 1
fi
# KWOK plays the kubelet, so nothing calls the gate here: the URL only puts the gate in the pods.
java -jar operator/target/warmstart.jar operator --http-port=0 --gate-url=http://127.0.0.1:8081 \
  >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"
# Without --keep: stop the operator and remove the warm pool's endpoint (its placeholder holds a GPU
# of the pool that e2e/test.sh, which shares the cluster, counts on).
stop_operator() {
  [[ $keep == --keep ]] && return 0
  kill "$(cat "$state/operator.pid")" 2>/dev/null || true
  k delete ie qwen3-8b-warm -n ml --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap stop_operator EXIT
echo "operator pid $(cat "$state/operator.pid"), log $state/operator.log"

step "caching the serving images on the GPU pool"
for _ in $(seq 1 60); do
  k get imagecache serving-images -n ml --no-headers 2>/dev/null || true
  if k wait --for=condition=Ready imagecache/serving-images -n ml --timeout=2s >/dev/null 2>&1; then break; fi
done
k get imagecache -n ml -o wide
k get pods -n ml -o wide -l app.kubernetes.io/component=image-cache

step "a GPU node joins the pool: covered without touching the ImageCache"
e2e/cluster.sh add-gpu-node gpu-demo
k wait --for=jsonpath='{.status.nodes.cached}'=5 imagecache/serving-images -n ml --timeout=90s >/dev/null
k get imagecache -n ml
k delete node gpu-demo >/dev/null

step "status"
k get imagecache serving-images -n ml -o jsonpath='{.status}' | python3 -m json.tool
k get events -n ml --field-selector involvedObject.kind=ImageCache

step "an inference endpoint: vLLM serving Qwen3-8B, its image cached, every cold start accounted for"
k apply --server-side --force-conflicts -f examples/qwen3-8b.yaml
k wait --for=condition=Ready ie/qwen3-8b -n ml --timeout=120s
k scale ie/qwen3-8b -n ml --replicas=2
k wait --for=jsonpath='{.status.readyReplicas}'=2 ie/qwen3-8b -n ml --timeout=120s >/dev/null
sleep 1
k get ie -n ml -o wide
echo "cold starts (KWOK's stages time each phase: gate 2s, download 3s, pull 1s, server 2s):"
k get ie qwen3-8b -n ml -o jsonpath='{.status.coldStart.last}{"\n"}{.status.coldStart.median}{"\n"}' 
k get events -n ml --field-selector involvedObject.kind=InferenceEndpoint

step "a warm pool: a GPU node held warm (image and weights on it), the next replica starts there"
k delete ie qwen3-8b-warm -n ml --ignore-not-found --wait >/dev/null
k scale ie/qwen3-8b -n ml --replicas=1
k apply --server-side --force-conflicts -f examples/qwen3-8b-warm-pool.yaml
k wait --for=condition=Ready ie/qwen3-8b-warm -n ml --timeout=120s >/dev/null
k wait --for=condition=WarmPoolReady ie/qwen3-8b-warm -n ml --timeout=120s >/dev/null
warm=$(k get ie qwen3-8b-warm -n ml -o jsonpath='{.status.warmPool.nodes[0]}')
k get ie -n ml
k get pods -n ml -o wide -l app.kubernetes.io/instance=qwen3-8b-warm
echo "warm node: $warm; scaling to 2 replicas"
k scale ie/qwen3-8b-warm -n ml --replicas=2
k wait --for=jsonpath='{.status.readyReplicas}'=2 ie/qwen3-8b-warm -n ml --timeout=120s >/dev/null
for _ in $(seq 1 60); do
  refilled=$(k get ie qwen3-8b-warm -n ml -o jsonpath='{.status.warmPool.nodes[0]}')
  [[ -n $refilled && $refilled != "$warm" ]] && break
  sleep 1
done
k get pods -n ml -o wide -l app.kubernetes.io/instance=qwen3-8b-warm
echo "the new replica took $warm (its placeholder preempted); the pool now holds ${refilled:-?} warm"
k get ie qwen3-8b-warm -n ml -o jsonpath='{.status.warmPool}{"\n"}{.status.coldStart.last}{"\n"}'
k get events -n ml --field-selector reason=WarmPlacement
k get events -n ml --field-selector reason=Preempted
