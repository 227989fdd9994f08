#!/usr/bin/env bash
# The e2e suite on kind (needs Docker or Podman, kind, kubectl, helm, Java 17 and Maven):
# creates the cluster of kind-config.yaml, advertises one nvidia.com/gpu on each GPU-labelled
# worker (a status patch, as in "Advertise Extended Resources for a Node"), builds the operator
# image (image/build.sh) and loads it into the nodes, installs the chart and waits for the operator,
# then runs the e2e suite with the operator out of cluster as the chart's ServiceAccount.
# Not run in CI (no Docker there). Caveat: the suite was written for the local KWOK cluster, where
# fake kubelets make serving pods ready on a timed schedule and e2e/cluster.sh adds nodes and runs
# kubectl; on kind real kubelets pull and start the example images (vLLM with no GPU will not get
# ready), so the tests that wait for serving pods or add nodes need kind-specific workloads first.
# Usage: e2e/kind/run.sh [maven args]      env KEEP=1 keeps the cluster afterwards
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CLUSTER=warmstart
TAG=0.1.0
NS=warmstart
KUBECONFIG_FILE=${TMPDIR:-/tmp}/warmstart-kind.kubeconfig
export KUBECONFIG=$KUBECONFIG_FILE
log() { echo "kind: $*" >&2; }

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --config e2e/kind/kind-config.yaml --kubeconfig "$KUBECONFIG_FILE" --wait 5m
else
  kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE"
fi
if [[ -z ${KEEP:-} ]]; then trap 'kind delete cluster --name "$CLUSTER"' EXIT; fi

log "advertising nvidia.com/gpu on the GPU workers"
for node in $(kubectl get nodes -l nvidia.com/gpu.present=true -o name); do
  kubectl patch "$node" --subresource=status --type=json \
    -p '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"1"}]'
done
kubectl wait nodes -l nvidia.com/gpu.present=true --for=jsonpath='{.status.allocatable.nvidia\.com/gpu}'=1 --timeout=60s

log "building and loading the operator image"
mvn -B -q package -DskipTests -pl operator
image/build.sh --tag "$TAG" >/dev/null
kind load image-archive "operator/target/image/warmstart-$TAG.oci.tar" --name "$CLUSTER"

log "installing the chart"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted --overwrite
helm upgrade --install warmstart charts/warmstart --namespace "$NS" \
  --set image.tag="$TAG" --set image.pullPolicy=Never --set-json 'nodeSelector={"karpenter.sh/nodepool":"cpu"}' \
  --wait --timeout 5m
kubectl -n "$NS" rollout status deployment/warmstart --timeout=3m

# The suite starts its own operator as the chart's ServiceAccount and takes over the Lease with its
# own identity: scale the in-cluster one to zero so that it does not hold the Lease meanwhile.
kubectl -n "$NS" scale deployment/warmstart --replicas=0
kubectl -n "$NS" wait pods -l app.kubernetes.io/instance=warmstart --for=delete --timeout=2m
WARMSTART_E2E_SERVICE_ACCOUNT=$NS:warmstart mvn -B verify -Pe2e -pl e2e -am "$@"
