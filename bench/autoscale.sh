#!/usr/bin/env bash
# Autoscaler detection latency: warmstart against a real HorizontalPodAutoscaler, side by side in
# one run, fed by the same Prometheus.
#
# Real parts: Prometheus from Debian's package, started here on loopback with a 1 s scrape
# interval; prometheus-adapter built from its upstream Go module (bench/autoscale-tools.sh),
# registered as the cluster's external.metrics.k8s.io API; the HPA controller of the local
# cluster's kube-controller-manager (e2e/cluster.sh, default 15 s sync); the warmstart operator
# from operator/target/warmstart.jar. The only stand-in is the inference server: a load-driven
# fixture (bench/autoscale/VllmFixture.java) serving vLLM's gauges, which Prometheus scrapes.
#
# Both autoscalers scale on the same number, sum(vllm:num_requests_waiting), with an AverageValue
# target of 4 per replica, no stabilization windows and no rate limits, so that for each load step
# both must reach the same count: ceil(waiting / 4) within [1, 12].
#   warmstart: InferenceEndpoint bench/ws, metric type Prometheus, pollInterval 1s (--poll)
#   HPA:       Deployment bench/twin, autoscaling/v2 External metric vllm_num_requests_waiting
# Each step sets the fixture's load, then times, from that moment, when each Deployment's
# spec.replicas first shows the new count (a watch on both Deployments, stamped on arrival).
#
# Prints one line per step, then median and p90 of both, and as its last line:
#   autoscale: warmstart_p90=Xs hpa_p90=Ys ratio=R        (R = hpa_p90 / warmstart_p90)
# Target: warmstart_p90 <= 3 s with a 1 s poll.
#
# Usage: bench/autoscale.sh [--steps N] [--poll D] [--keep-logs DIR]
# Runs against its own cluster: WARMSTART_CACHE decides which (default ~/.cache/warmstart).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=12
POLL=1s
KEEP_LOGS=""
STEP_TIMEOUT=90
NS=bench-autoscale
TARGET=4
MAX=12

while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) STEPS=$2; shift ;;
    --poll) POLL=$2; shift ;;
    --keep-logs) KEEP_LOGS=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "autoscale: $*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d /tmp/warmstart-bench-autoscale.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n ${KUBECONFIG:-} ]]; then
    "$KUBECTL" delete apiservice v1beta1.external.metrics.k8s.io --ignore-not-found --wait=false >/dev/null 2>&1 || true
    "$KUBECTL" delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  if [[ -n $KEEP_LOGS ]] && mkdir -p "$KEEP_LOGS"; then cp -r "$WORK"/. "$KEEP_LOGS"/ || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- tools, cluster, operator jar ---------------------------------------------------------------
BIN=$("$ROOT/e2e/tools.sh")
ADAPTER_BIN=$("$ROOT/bench/autoscale-tools.sh")
"$ROOT/e2e/cluster.sh" up >&2
export KUBECONFIG
KUBECONFIG=$("$ROOT/e2e/cluster.sh" kubeconfig)
KUBECTL="$BIN/kubectl"
JAR="$ROOT/operator/target/warmstart.jar"
if [[ ! -f $JAR ]]; then
  log "building $JAR"
  (cd "$ROOT" && mvn -B -q -pl operator package -Dmaven.test.skip=true)
fi
"$KUBECTL" apply --server-side --force-conflicts --field-manager=warmstart-bench -f "$ROOT/crds/" >/dev/null
"$KUBECTL" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
"$KUBECTL" create namespace "$NS" >/dev/null

# --- the inference-server stand-in and Prometheus -----------------------------------------------
FIXTURE_PORT=$(free_port)
java "$ROOT/bench/autoscale/VllmFixture.java" "$FIXTURE_PORT" >"$WORK/fixture.log" 2>&1 &
PIDS+=($!)
PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: vllm
    static_configs: [{targets: ['127.0.0.1:$FIXTURE_PORT']}]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM=http://127.0.0.1:$PROM_PORT
load() { curl -fsS "http://127.0.0.1:$FIXTURE_PORT/load?waiting=$1" >/dev/null; }
for _ in $(seq 60); do
  load 0 2>/dev/null && curl -fsS "$PROM/api/v1/query?query=vllm:num_requests_waiting" 2>/dev/null \
    | grep -q '"result":\[{' && break
  sleep 1
done
curl -fsS "$PROM/api/v1/query?query=vllm:num_requests_waiting" | grep -q '"result":\[{' \
  || die "Prometheus does not see the fixture (logs in $WORK)"

# --- prometheus-adapter as the cluster's external metrics API -----------------------------------
ADAPTER_PORT=$(free_port)
cat >"$WORK/adapter.yaml" <<'EOF'
externalRules:
  - seriesQuery: 'vllm:num_requests_waiting'
    resources: {namespaced: false}
    name: {matches: '^vllm:num_requests_waiting$', as: 'vllm_num_requests_waiting'}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
EOF
"$ADAPTER_BIN/prometheus-adapter" --secure-port="$ADAPTER_PORT" --bind-address=127.0.0.1 \
  --cert-dir="$WORK/adapter-certs" --prometheus-url="$PROM" --config="$WORK/adapter.yaml" \
  --metrics-relist-interval=5s --lister-kubeconfig="$KUBECONFIG" \
  --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --v=1 >"$WORK/adapter.log" 2>&1 &
PIDS+=($!)
# No kube-proxy runs here: an ExternalName Service makes the aggregator dial localhost directly.
"$KUBECTL" apply --server-side -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: prometheus-adapter, namespace: $NS}
spec: {type: ExternalName, externalName: localhost, ports: [{name: https, port: $ADAPTER_PORT}]}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  service: {name: prometheus-adapter, namespace: $NS, port: $ADAPTER_PORT}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
EOF
for _ in $(seq 90); do
  "$KUBECTL" get --raw "/apis/external.metrics.k8s.io/v1beta1/namespaces/$NS/vllm_num_requests_waiting" \
    >"$WORK/external.json" 2>/dev/null && grep -q '"value"' "$WORK/external.json" && break
  sleep 1
done
grep -q '"value"' "$WORK/external.json" 2>/dev/null \
  || die "the external metrics API does not answer (adapter log in $WORK/adapter.log)"
log "external metrics API up: $(tr -d '\n' <"$WORK/external.json" | grep -o '"value":"[^"]*"')"

# --- the two scale targets -------------------------------------------------------------------------
"$KUBECTL" apply --server-side -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: twin, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: twin}}
  template:
    metadata: {labels: {app: twin}}
    spec:
      containers: [{name: server, image: vllm/vllm-openai:v0.11.0}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: twin, namespace: $NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: twin}
  minReplicas: 1
  maxReplicas: $MAX
  metrics:
    - type: External
      external:
        metric: {name: vllm_num_requests_waiting}
        target: {type: AverageValue, averageValue: "$TARGET"}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 1000, periodSeconds: 1}]}
    scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 1}]}
---
apiVersion: warmstart.dev/v1alpha1
kind: InferenceEndpoint
metadata: {name: ws, namespace: $NS}
spec:
  image: vllm/vllm-openai:v0.11.0
  args: [--model, /models/bench]
  imageCache: {enabled: false}
  autoscaling:
    minReplicas: 1
    maxReplicas: $MAX
    pollInterval: $POLL
    metrics:
      - type: Prometheus
        prometheus:
          address: $PROM
          query: sum(vllm:num_requests_waiting)
          target: {type: AverageValue, averageValue: "$TARGET"}
    behavior:
      scaleUp: {stabilizationWindowSeconds: 0}
      scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 1}]}
EOF

java -jar "$JAR" operator --http-port=0 --namespaces="$NS" >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 120); do
  [[ $("$KUBECTL" -n "$NS" get deploy ws -o jsonpath='{.spec.replicas}' 2>/dev/null) == 1 ]] && break
  sleep 1
done
[[ $("$KUBECTL" -n "$NS" get deploy ws -o jsonpath='{.spec.replicas}' 2>/dev/null) == 1 ]] \
  || die "the operator did not create bench/ws (log in $WORK/operator.log)"

# Watch both Deployments; each change of spec.replicas is stamped when it arrives. Through a FIFO,
# so that both processes are this script's children and cleanup can stop them.
mkfifo "$WORK/watch.fifo"
"$KUBECTL" -n "$NS" get deploy -w -o jsonpath='{.metadata.name} {.spec.replicas}{"\n"}' \
  >"$WORK/watch.fifo" 2>"$WORK/watch.err" &
PIDS+=($!)
while read -r name replicas; do echo "$(date +%s.%N) $name $replicas"; done \
  <"$WORK/watch.fifo" >"$WORK/replicas.log" &
PIDS+=($!)

# Both at 1 before the first step, with the HPA having read the metric once.
for _ in $(seq 60); do
  "$KUBECTL" -n "$NS" get hpa twin -o jsonpath='{.status.conditions[?(@.type=="ScalingActive")].status}' 2>/dev/null \
    | grep -q True && break
  sleep 1
done

# Loads alternate up and down so every step changes the count: ceil(load / 4) replicas.
LOADS=(20 6 36 12 44 3 28 10 48 16 40 2 24 8 32 4)
(( STEPS <= ${#LOADS[@]} )) || die "at most ${#LOADS[@]} steps"

first_at() { # name replicas since: the first stamp >= since at which name showed replicas
  awk -v n="$1" -v r="$2" -v t="$3" '$2==n && $3==r && $1>=t {print $1; exit}' "$WORK/replicas.log"
}

: >"$WORK/results"
expected_prev=1
for ((i = 0; i < STEPS; i++)); do
  waiting=${LOADS[$i]}
  expected=$(( (waiting + TARGET - 1) / TARGET ))
  (( expected < 1 )) && expected=1
  (( expected > MAX )) && expected=$MAX
  t0=$(date +%s.%N)
  load "$waiting"
  ws="" hpa=""
  deadline=$(( $(date +%s) + STEP_TIMEOUT ))
  while (( $(date +%s) < deadline )); do
    [[ -z $ws ]] && ws=$(first_at ws "$expected" "$t0")
    [[ -z $hpa ]] && hpa=$(first_at twin "$expected" "$t0")
    [[ -n $ws && -n $hpa ]] && break
    sleep 0.2
  done
  ws_s=$([[ -n $ws ]] && awk -v a="$ws" -v b="$t0" 'BEGIN{printf "%.2f", a-b}' || echo timeout)
  hpa_s=$([[ -n $hpa ]] && awk -v a="$hpa" -v b="$t0" 'BEGIN{printf "%.2f", a-b}' || echo timeout)
  printf 'step %2d: waiting %2d -> %2d replicas (from %2d): warmstart %6ss  hpa %6ss\n' \
    $((i + 1)) "$waiting" "$expected" "$expected_prev" "$ws_s" "$hpa_s"
  echo "$ws_s $hpa_s" >>"$WORK/results"
  expected_prev=$expected
  # Let both settle, then start the next step at a random point of the HPA's 15 s sync cycle, so
  # that its latency is sampled over the whole cycle rather than at one phase.
  sleep "$((2 + RANDOM % 15))"
done

stats() { # column -> "median p90" over numeric values (nearest-rank p90)
  awk -v c="$1" '$c != "timeout" {print $c}' "$WORK/results" | sort -g | awk '
    {v[NR] = $1}
    END {
      if (NR == 0) { print "nan nan"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      k = int(0.9 * NR + 0.999999); if (k < 1) k = 1
      printf "%.2f %.2f\n", m, v[k]
    }'
}
read -r ws_median ws_p90 < <(stats 1)
read -r hpa_median hpa_p90 < <(stats 2)
timeouts=$(grep -c timeout "$WORK/results" || true)
echo "warmstart (poll $POLL, Prometheus scrape 1s): median ${ws_median}s p90 ${ws_p90}s"
echo "HPA (kube-controller-manager, prometheus-adapter, scrape 1s): median ${hpa_median}s p90 ${hpa_p90}s"
(( timeouts == 0 )) || echo "steps that timed out after ${STEP_TIMEOUT}s (left out of the statistics): $timeouts"
ratio=$(awk -v a="$hpa_p90" -v b="$ws_p90" 'BEGIN{ if (b > 0) printf "%.1f", a / b; else print "nan" }')
echo "autoscale: warmstart_p90=${ws_p90}s hpa_p90=${hpa_p90}s ratio=${ratio}"
