#!/usr/bin/env bash
# The test command: unit tests (*Test), the real API server suite (*IT, kube-api-test) and the
# end-to-end suite (*E2E) on the local cluster: KWOK's fake GPU pool with the operator running as the
# Helm chart's ServiceAccount, and the real-node tier (*RealNodeE2E): two real kubelets with Debian's
# containerd, the operator installed by helm from the image built here and running as a pod, pulling
# from a real registry and S3. Then the operator image's reproducibility check, and shellcheck of the
# project's scripts.
# Usage: e2e/test.sh [--no-real-nodes] [maven args]
#   --no-real-nodes  skip the real-node tier (for machines that cannot run a kubelet: not root, no
#                    network namespaces); everything else runs as usual
set -euo pipefail
cd "$(dirname "$0")/.."

REAL_NODES=2
if [[ ${1:-} == --no-real-nodes ]]; then REAL_NODES=0; shift; fi

e2e/tools.sh >/dev/null
e2e/cluster.sh up
KUBECONFIG=$(e2e/cluster.sh kubeconfig)
export KUBECONFIG
maven_args=()
if ((REAL_NODES > 0)); then
  # What the real nodes pull, built from this checkout: the operator image (twice, compared, read back
  # by skopeo, and its operator run against the cluster), the pod sandbox and the model server.
  mvn -B -q package -DskipTests
  image/build.sh --check --kubeconfig "$KUBECONFIG" >/dev/null
  image/pause.sh >/dev/null
  image/model-server.sh >/dev/null
  e2e/cluster.sh up --real-nodes "$REAL_NODES"
else
  maven_args+=(-De2e.excludedGroups=real-node)
fi
# The demo (e2e/demo.sh --keep) shares this cluster: its endpoints would hold GPUs the suite counts on.
e2e/cluster.sh kubectl delete inferenceendpoints --all -n ml --ignore-not-found --wait >/dev/null 2>&1 || true
# helm lint, two identical renders, kubectl apply --dry-run=server, helm install (operator pods Running).
e2e/chart.sh
# The e2e suite's operator acts as the chart's ServiceAccount; RbacE2E checks the rules are exact.
export WARMSTART_E2E_SERVICE_ACCOUNT=warmstart:warmstart
export WARMSTART_E2E_NAMESPACED_SERVICE_ACCOUNT=warmstart-ns:warmstart-ns
mvn -B verify -Pe2e "${maven_args[@]}" "$@"
if ((REAL_NODES == 0)); then
  image/build.sh --check --kubeconfig "$KUBECONFIG"
fi
shellcheck e2e/*.sh e2e/lib/*.sh e2e/lib/runc-wrapper e2e/kind/*.sh image/*.sh image/lib/*.sh bench/*.sh bench/lib/*.sh .ci/run
echo "test: all green" >&2
