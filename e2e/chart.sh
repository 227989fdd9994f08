#!/usr/bin/env bash
# Checks the Helm chart and installs it on the local cluster (e2e/cluster.sh), as e2e/test.sh does:
#   helm lint (default values and every optional part on), two renders compared byte for byte,
#   the render accepted by the API server (kubectl apply --dry-run=server, into a namespace that
#   enforces the restricted Pod Security level), then helm upgrade --install, waiting until the
#   operator pods run (KWOK reports them Running; they never execute here). The e2e suite then runs
#   the operator out of cluster as the chart's ServiceAccount.
# Usage: e2e/chart.sh            check and install (release warmstart in namespace warmstart)
#        e2e/chart.sh --check    only lint and render (no cluster needed)
#        e2e/chart.sh --update-manifest   rewrite deploy/warmstart.yaml (the kubectl install) from the chart
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHART=charts/warmstart
RELEASE=warmstart
NS=warmstart
BIN=$(e2e/tools.sh --print)
HELM=$BIN/helm
KUBE_VERSION=1.34.4 # helm built from its Go module defaults to an old version for template
log() { echo "chart: $*" >&2; }
kctl() { e2e/cluster.sh kubectl "$@"; }
render() { "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" --kube-version "$KUBE_VERSION" "$@"; }

log "helm lint"
"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" --set metrics.serviceMonitor.enabled=true --set dashboard.enabled=true \
  --set 'watchNamespaces={ml,team-a}'
"$HELM" lint --strict "$CHART" --set metrics.podMonitor.enabled=true

# values.schema.json and the templates refuse what cannot work.
for bad in replicaCount=-1 gate.port=0 image.digest=latest unknownValue=1 \
  'metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true'; do
  if render --set "$bad" >/dev/null 2>&1; then log "error: the chart accepted --set $bad"; exit 1; fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "helm template twice, compared"
for i in 1 2; do
  render --set dashboard.enabled=true >"$tmp/all-$i.yaml"
  render --set 'watchNamespaces={ml,team-a}' >"$tmp/ns-$i.yaml"
done
cmp "$tmp/all-1.yaml" "$tmp/all-2.yaml"
cmp "$tmp/ns-1.yaml" "$tmp/ns-2.yaml"
# deploy/warmstart.yaml is the chart rendered with its defaults, for installs without Helm.
{
  echo "# The warmstart operator for 'kubectl apply' (namespace warmstart; CRDs: kubectl apply --server-side -f crds/)."
  echo "# Rendered from charts/warmstart with its default values by e2e/chart.sh --update-manifest; do not edit."
  render | grep -v '^# Source:'
} >"$tmp/deploy.yaml"
if [[ ${1:-} == --update-manifest ]]; then
  cp "$tmp/deploy.yaml" deploy/warmstart.yaml
  log "wrote deploy/warmstart.yaml"; exit 0
fi
cmp "$tmp/deploy.yaml" deploy/warmstart.yaml ||
  { log "error: deploy/warmstart.yaml is not the chart's render: run e2e/chart.sh --update-manifest"; exit 1; }
if grep -n '[*]' <(grep -A3 -E '^\s*(- )?(apiGroups|resources|verbs):' "$tmp/all-1.yaml"); then
  log "error: a wildcard in the chart's RBAC"; exit 1
fi
[[ ${1:-} == --check ]] && exit 0

log "kubectl apply --dry-run=server"
# The chart does not create its namespace; this one enforces the restricted Pod Security level.
kctl apply --server-side --field-manager=warmstart-e2e -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
YAML
kctl apply --server-side --force-conflicts --field-manager=warmstart-e2e -f "$CHART/crds/" >/dev/null
kctl apply --dry-run=server --server-side --force-conflicts --field-manager=warmstart-dry-run -f "$tmp/all-1.yaml"
kctl apply --dry-run=server --server-side --force-conflicts --field-manager=warmstart-dry-run -f deploy/warmstart.yaml >/dev/null
# Watching selected namespaces binds the rules there: they must exist.
kctl create namespace ml --dry-run=client -o yaml | kctl apply -f - >/dev/null
kctl create namespace team-a --dry-run=client -o yaml | kctl apply -f - >/dev/null
kctl apply --dry-run=server --server-side --force-conflicts --field-manager=warmstart-dry-run -f "$tmp/ns-1.yaml"

# A PriorityClass that an operator run outside the chart created (label managed-by=warmstart) would
# block the chart's own: helm refuses to adopt objects it did not create.
kctl delete priorityclass -l app.kubernetes.io/managed-by=warmstart --ignore-not-found >/dev/null
log "helm upgrade --install $RELEASE (namespace $NS)"
"$HELM" upgrade --install "$RELEASE" "$CHART" --namespace "$NS" --kubeconfig "$(e2e/cluster.sh kubeconfig)" \
  --set image.tag=e2e --wait --timeout 2m
kctl -n "$NS" rollout status deployment/"$RELEASE" --timeout=90s
kctl -n "$NS" get pods -l app.kubernetes.io/instance="$RELEASE" -o wide

# A second release that watches one namespace only (RbacE2E runs the operator as its ServiceAccount too).
log "helm upgrade --install $RELEASE-ns (namespace $NS-ns, watching e2e-rbac-ns)"
kctl create namespace e2e-rbac-ns --dry-run=client -o yaml | kctl apply -f - >/dev/null
kctl create namespace "$NS-ns" --dry-run=client -o yaml | kctl apply -f - >/dev/null
kctl label namespace "$NS-ns" pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
"$HELM" upgrade --install "$RELEASE-ns" "$CHART" --namespace "$NS-ns" --kubeconfig "$(e2e/cluster.sh kubeconfig)" \
  --set image.tag=e2e --set replicaCount=1 --set 'watchNamespaces={e2e-rbac-ns}' \
  --set warmPool.priorityClass.create=false --wait --timeout 2m >/dev/null
kctl -n "$NS-ns" rollout status deployment/"$RELEASE-ns" --timeout=90s
