#!/usr/bin/env bash
# The test command: unit tests (*Test), the real API server suite (*IT, kube-api-test) and the
# end-to-end suite (*E2E) on the local cluster with fake GPU nodes. Extra arguments go to Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

e2e/tools.sh >/dev/null
e2e/cluster.sh up
KUBECONFIG=$(e2e/cluster.sh kubeconfig)
export KUBECONFIG
mvn -B verify -Pe2e "$@"
