#!/usr/bin/env bash
# The test command: unit tests (*Test), the real API server suite (*IT, kube-api-test) and the
# end-to-end suite (*E2E) on the local cluster with fake GPU nodes, with the operator running as the
# Helm chart's ServiceAccount; then the operator image, built twice and compared, and shellcheck of
# the project's scripts. Extra arguments go to Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

e2e/tools.sh >/dev/null
e2e/cluster.sh up
KUBECONFIG=$(e2e/cluster.sh kubeconfig)
export KUBECONFIG
# The demo (e2e/demo.sh --keep) shares this cluster: its endpoints would hold GPUs the suite counts on.
e2e/cluster.sh kubectl delete inferenceendpoints --all -n ml --ignore-not-found --wait >/dev/null 2>&1 || true
# helm lint, two identical renders, kubectl apply --dry-run=server, helm install (operator pods Running).
e2e/chart.sh
# The e2e suite's operator acts as the chart's ServiceAccount; RbacE2E checks the rules are exact.
export WARMSTART_E2E_SERVICE_ACCOUNT=warmstart:warmstart
export WARMSTART_E2E_NAMESPACED_SERVICE_ACCOUNT=warmstart-ns:warmstart-ns
mvn -B verify -Pe2e "$@"
# The image built twice and compared, read back by skopeo, and its operator run against the cluster.
image/build.sh --check --kubeconfig "$KUBECONFIG"
shellcheck e2e/*.sh e2e/kind/*.sh image/*.sh bench/*.sh bench/lib/*.sh .ci/run
echo "test: all green" >&2
