#!/usr/bin/env bash
# The cold-start benchmark through the operator (bench/coldstart.sh --operator runs it beside the
# harness): every scenario is a real pod on a real GPU node of the local cluster (e2e/cluster.sh,
# kubelet + Debian's containerd) that joins at t0 from an empty containerd root behind the shaped
# link, pulling from the cluster's registry and S3 (s3proxy) on the host.
#   default    Kubernetes as it is: the endpoint's pod as a plain Deployment (fetch-model init
#              container, then the kubelet pulls the serving image), with the operator scaled to zero
#   warmstart  an InferenceEndpoint as users write it: its ImageCache pre-pulls the serving image when
#              the node registers, the gate lets the download go (ImagePulling, or once cached), the
#              kubelet starts the server
# Each run is timed from t0 (the node starts joining) to the serving pod's Ready condition as a
# watch sees it, and cross-checked against the API's own timestamps (node created -> pod Ready) and,
# for warmstart, against the operator's status.coldStart (gate + download + pull + server start).
#
# The serving image is the project's model-server padded to the case's compressed image size
# (image/model-server.sh --pad-mb, 5 layers in the harness's shares; the padding is incompressible,
# so unpacking costs less CPU than the harness's 0.45-gzip layers); the model is written into
# s3proxy's store as the harness writes it.
#
# Usage (as root): bench/coldstart-operator.sh [--cases LIST] [--scale N] [--link-mbit N] [--conn-mbit N]
#                    [--rounds N] [--regime LIST] [--bootstrap LIST] [--ref-link-mbit N] [--out FILE]
# Prints a table and, as its last line:
#   coldstart-operator: <case>_<regime>_b<boot>=<warmstart/default> ...
# --out FILE also writes the runs as TSV (regime boot case scenario round seconds api_seconds operator_seconds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CASES=qwen3
SCALE=200
LINK_MBIT=320
CONN_MBIT=""
REF_LINK_MBIT=1600
ROUNDS=3
REGIMES=uncapped,capped
BOOTSTRAPS=0
OUT=""
NS=bench-coldstart
RELEASE=warmstart-bench
RUN_TIMEOUT=900

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cases) CASES=$2; shift ;;
    --scale) SCALE=$2; shift ;;
    --link-mbit) LINK_MBIT=$2; shift ;;
    --conn-mbit) CONN_MBIT=$2; shift ;;
    --ref-link-mbit) REF_LINK_MBIT=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --regime) REGIMES=$2; shift ;;
    --bootstrap) BOOTSTRAPS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
CONN_MBIT=${CONN_MBIT:-$((LINK_MBIT / 8))}
for v in SCALE LINK_MBIT CONN_MBIT REF_LINK_MBIT ROUNDS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
IFS=, read -r -a CASE_LIST <<<"$CASES"
IFS=, read -r -a REGIME_LIST <<<"$REGIMES"
IFS=, read -r -a BOOT_LIST <<<"$BOOTSTRAPS"

log() { printf '%s\n' "$*" >&2; }
die() { log "coldstart-operator: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (real nodes: network namespaces, containerd, kubelet)"

# The reference table (bench/coldstart.sh): case -> "label|image GB (compressed)|model GB".
declare -A REF=(
  [qwen3]="Qwen3-8B, g6.2xlarge|17.7|16"
  [customer1]="customer 1, g4dn.xlarge|15.7|0"
  [customer2]="customer 2, g5.2xlarge|17.5|5.8"
  [customer3]="customer 3, g5.xlarge|10.6|6.5"
)
for c in "${CASE_LIST[@]}"; do [[ -n ${REF[$c]:-} ]] || die "unknown case '$c'"; done
ref_field() { local f; IFS='|' read -r -a f <<<"${REF[$1]}"; printf '%s' "${f[$2]}"; }
scaled_bytes() { awk -v gb="$1" -v s="$SCALE" 'BEGIN {printf "%.0f", gb * 1e9 / s}'; }
TIME_SCALE=$(awk -v r="$REF_LINK_MBIT" -v s="$SCALE" -v l="$LINK_MBIT" 'BEGIN {printf "%.6f", r / (s * l)}')
bench_seconds() { awk -v t="$1" -v k="$TIME_SCALE" 'BEGIN {printf "%.0f", t * k}'; }
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

CLUSTER=$ROOT/e2e/cluster.sh
k() { "$CLUSTER" kubectl "$@"; }

# ---------------------------------------------------------------- the cluster, images, model
log "cluster: e2e/cluster.sh up --real-nodes 1 (the operator runs on real-0)"
"$CLUSTER" up --real-nodes 1 >&2
eval "$("$CLUSTER" env)"

declare -A IMAGE=() MODEL_URI=() IMAGE_BYTES=() MODEL_BYTES=()
for c in "${CASE_LIST[@]}"; do
  bytes=$(scaled_bytes "$(ref_field "$c" 1)")
  mib=$(((bytes + 1048575) / 1048576))
  tag=bench-$c-s$SCALE
  archive=$ROOT/model-server/target/image/model-server-$tag.oci.tar
  if [[ ! -f $archive ]]; then
    log "building the $c serving image: model-server padded with $mib MiB in 5 layers"
    "$ROOT/image/model-server.sh" --pad-mb "$mib" --pad-shares 3,7,45,35,10 --tag "$tag" >/dev/null
  fi
  IMAGE[$c]=$REGISTRY/warmstart/model-server:$tag
  skopeo copy -q --dest-tls-verify=false "oci-archive:$archive" "docker://${IMAGE[$c]}" >&2
  IMAGE_BYTES[$c]=$(skopeo inspect --tls-verify=false --raw "docker://${IMAGE[$c]}" |
    python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
  model_bytes=$(scaled_bytes "$(ref_field "$c" 2)")
  MODEL_BYTES[$c]=0
  if ((model_bytes > 0)); then
    dir=$S3_BLOBS/models/$tag
    if [[ ! -d $dir ]]; then
      shards=$(awk -v gb="$(ref_field "$c" 2)" 'BEGIN {n = int(gb / 4); if (n * 4 < gb) n++; print n}')
      mkdir -p "$dir.tmp"
      python3 "$ROOT/bench/lib/write-model.py" "$dir.tmp" "$shards" $((model_bytes / shards)) "$dir.md5"
      mv "$dir.tmp" "$dir"
    fi
    MODEL_URI[$c]=s3://models/$tag/
    MODEL_BYTES[$c]=$(du -sb "$dir" | cut -f1)
  fi
done

# ---------------------------------------------------------------- the operator, as users run it
"$CLUSTER" install-operator "$RELEASE" "$NS"
operator_replicas() { # n: scale the operator and wait for it
  k -n "$RELEASE" scale deployment "$RELEASE" --replicas="$1" >/dev/null
  if (($1 == 0)); then
    k -n "$RELEASE" wait --for=delete pod -l app.kubernetes.io/instance="$RELEASE" --timeout=120s >/dev/null 2>&1 || true
  else
    k -n "$RELEASE" rollout status deployment "$RELEASE" --timeout=180s >/dev/null
  fi
}

# ---------------------------------------------------------------- one run
BENCH_NODES=()
cleanup() {
  local rc=$? n
  trap - EXIT
  k -n "$NS" delete inferenceendpoints,deployments --all --wait=false >/dev/null 2>&1 || true
  for n in "${BENCH_NODES[@]}"; do
    if [[ -n $n ]]; then "$CLUSTER" remove-real-node "$n" >/dev/null 2>&1 || true; fi
  done
  operator_replicas 1 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT

tolerations='[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}, {key: warmstart.dev/real-node, operator: Exists, effect: NoSchedule}]'
endpoint_yaml() { # name case run-label cache(true|false)
  local model=""
  if [[ -n ${MODEL_URI[$2]:-} ]]; then
    model="model: {uri: \"${MODEL_URI[$2]}\", path: /models/m, credentialsSecret: s3-credentials}"
  fi
  cat <<EOF
apiVersion: warmstart.dev/v1alpha1
kind: InferenceEndpoint
metadata: {name: $1, namespace: $NS}
spec:
  image: ${IMAGE[$2]}
  args: [$([[ -n ${MODEL_URI[$2]:-} ]] && echo /models/m || echo /app)]
  port: 8000
  nodeSelector: {warmstart.dev/bench-run: "$3"}
  tolerations: $tolerations
  resources: {limits: {nvidia.com/gpu: 1}}
  imageCache: {enabled: $4}
  replicas: 1
  $model
EOF
}

# The default scenario's pod: the endpoint's own Deployment (made once by the operator from the same
# spec with the cache off), as a plain Deployment without the gate and without the endpoint's labels
# and owner, so the operator (scaled to zero anyway) has nothing to do with it.
DEFAULT_TEMPLATE=""
default_template() { # case
  local file
  file=$(mktemp)
  k apply -f - >/dev/null <<<"$(endpoint_yaml bench-template "$1" template false)"
  local i
  for ((i = 0; i < 120; i++)); do
    k -n "$NS" get deployment bench-template -o json >"$file" 2>/dev/null && break
    sleep 0.5
  done
  k -n "$NS" delete inferenceendpoint bench-template --wait=true >/dev/null
  DEFAULT_TEMPLATE=$(python3 - "$file" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tpl = d["spec"]["template"]
tpl["spec"]["initContainers"] = [c for c in tpl["spec"].get("initContainers", []) if c["name"] != "gate"]
labels = {"app": "bench-default"}
tpl["metadata"] = {"labels": labels}
print(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "bench-default", "namespace": d["metadata"]["namespace"]},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": tpl}}))
PY
)
  rm -f "$file"
}

RUN_SECONDS="" API_SECONDS="" OP_SECONDS="" OP_NOTE=""
run_one() { # regime boot-ref case scenario round
  local regime=$1 bref=$2 c=$3 s=$4 r=$5 b run sel pod node t0 conn=$LINK_MBIT
  b=$(bench_seconds "$bref")
  [[ $regime == capped ]] && conn=$CONN_MBIT
  run=r$(date +%s%N | tail -c 9)
  if [[ $s == default ]]; then
    operator_replicas 0
    default_template_for "$c"
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["spec"]["template"]["spec"]["nodeSelector"]={"warmstart.dev/bench-run": sys.argv[2]}; print(json.dumps(d))' \
      "$DEFAULT_TEMPLATE" "$run" | k apply -f - >/dev/null
    sel=app=bench-default
  else
    k apply -f - >/dev/null <<<"$(endpoint_yaml bench-ws "$c" "$run" true)"
    sel=app.kubernetes.io/instance=bench-ws,app.kubernetes.io/component=inference-server
  fi
  # The pod exists and waits for its node before the clock starts.
  local i
  for ((i = 0; i < 240; i++)); do
    pod=$(k -n "$NS" get pods -l "$sel" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
    [[ -n $pod ]] && break
    sleep 0.25
  done
  [[ -n $pod ]] || die "$regime/$c/$s: no pod appeared"
  t0=$(now)
  node=$(REAL_EXTRA_LABELS=warmstart.dev/bench-run=$run REAL_LINK_MBIT=$LINK_MBIT REAL_CONN_MBIT=$conn \
    REAL_GPU_DELAY=$b "$CLUSTER" add-real-node 2>/dev/null | tail -n 1)
  BENCH_NODES+=("$node")
  k -n "$NS" wait --for=condition=Ready "pod/$pod" --timeout="${RUN_TIMEOUT}s" >/dev/null ||
    die "$regime/$c/$s: pod $pod not Ready within ${RUN_TIMEOUT}s on $node"
  RUN_SECONDS=$(since "$t0")
  # The API's own clock (whole seconds): node created -> pod Ready.
  API_SECONDS=$(python3 - "$(k get node "$node" -o json)" "$(k -n "$NS" get pod "$pod" -o json)" <<'PY'
import json, sys
from datetime import datetime
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()
node, pod = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ready = [c["lastTransitionTime"] for c in pod["status"]["conditions"] if c["type"] == "Ready"][0]
print(int(t(ready) - t(node["metadata"]["creationTimestamp"])))
PY
)
  OP_SECONDS="-" OP_NOTE=""
  if [[ $s == warmstart ]]; then
    local last
    for ((i = 0; i < 60; i++)); do
      last=$(k -n "$NS" get ie bench-ws -o jsonpath='{.status.coldStart.last}' 2>/dev/null || true)
      [[ $last == *"$pod"* ]] && break
      sleep 0.5
    done
    read -r OP_SECONDS OP_NOTE < <(python3 - "$last" <<'PY'
import json, sys
p = json.loads(sys.argv[1] or "{}")
def s(k):  # the status's durations: 7s, 2m12s, 1h0m3s
    import re
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([hms])", p.get(k) or "0s"))
total = s("gateWait") + s("modelDownload") + s("imagePull") + s("serverStart")
print("%.0f" % total, "gate={},download={},pull={},server={}".format(
    p.get("gateWait"), p.get("modelDownload"), p.get("imagePull"), p.get("serverStart")))
PY
)
  fi
  log "$(printf '%-8s boot %3s s  %-9s %-9s round %d  %7.2f s  (API: node created -> Ready %s s; operator: %s s %s) on %s' \
    "$regime" "$bref" "$c" "$s" "$r" "$RUN_SECONDS" "$API_SECONDS" "$OP_SECONDS" "$OP_NOTE" "$node")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$regime" "$bref" "$c" "$s" "$r" "$RUN_SECONDS" "$API_SECONDS" "$OP_SECONDS" >>"$RUNS"
  if [[ $s == default ]]; then
    k -n "$NS" delete deployment bench-default --wait=true >/dev/null
  else
    k -n "$NS" delete inferenceendpoint bench-ws --wait=true >/dev/null
  fi
  k -n "$NS" wait --for=delete pod -l "$sel" --timeout=120s >/dev/null 2>&1 || true
  "$CLUSTER" remove-real-node "$node" >/dev/null
  BENCH_NODES=()
  [[ $s != default ]] || operator_replicas 1
}

declare -A TEMPLATES=()
default_template_for() { # case -> DEFAULT_TEMPLATE (made once per case, while the operator runs)
  if [[ -z ${TEMPLATES[$1]:-} ]]; then
    operator_replicas 1
    default_template "$1"
    TEMPLATES[$1]=$DEFAULT_TEMPLATE
    operator_replicas 0
  fi
  DEFAULT_TEMPLATE=${TEMPLATES[$1]}
}

# ---------------------------------------------------------------- the runs
RUNS=$(mktemp)
for c in "${CASE_LIST[@]}"; do default_template_for "$c"; done
operator_replicas 1
START=$(now)
for regime in "${REGIME_LIST[@]}"; do
  for bref in "${BOOT_LIST[@]}"; do
    for ((r = 1; r <= ROUNDS; r++)); do
      for c in "${CASE_LIST[@]}"; do
        # Alternate which scenario goes first.
        if ((r % 2)); then order=(default warmstart); else order=(warmstart default); fi
        for s in "${order[@]}"; do run_one "$regime" "$bref" "$c" "$s" "$r"; done
      done
    done
  done
done
DURATION=$(since "$START")

# ---------------------------------------------------------------- report
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print ""; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() { awk -F'\t' -v g="$1" -v b="$2" -v c="$3" -v s="$4" -v col="${5:-6}" '$1 == g && $2 == b && $3 == c && $4 == s && $col != "-" {print $col}' "$RUNS" | median; }
echo "coldstart-operator: real nodes (kubelet $("$("$ROOT/e2e/tools.sh" --print)/kubelet" --version 2>/dev/null | awk '{print $2}'), containerd $(containerd --version | awk '{print $3}')) joining at t0 behind a $LINK_MBIT Mbit/s link (capped: $CONN_MBIT Mbit/s per connection); scale 1/$SCALE; $ROUNDS round(s), medians; runs took $(printf '%.0f' "$DURATION") s"
printf '%-10s %-9s %5s | %8s %8s | %6s | %8s %8s | %8s | %7s %7s\n' case regime boot default warmstart "ws/def" "api-def" "api-ws" "op-ws" "img MB" "mdl MB"
RESULT=()
for regime in "${REGIME_LIST[@]}"; do
  for bref in "${BOOT_LIST[@]}"; do
    for c in "${CASE_LIST[@]}"; do
      d=$(med "$regime" "$bref" "$c" default)
      w=$(med "$regime" "$bref" "$c" warmstart)
      ratio=$(awk -v a="$w" -v b="$d" 'BEGIN {if (a != "" && b > 0) printf "%.2f", a / b; else printf "-"}')
      printf '%-10s %-9s %5s | %8.2f %8.2f | %6s | %8s %8s | %8s | %7.0f %7.0f\n' "$c" "$regime" "$bref" "$d" "$w" "$ratio" \
        "$(med "$regime" "$bref" "$c" default 7)" "$(med "$regime" "$bref" "$c" warmstart 7)" "$(med "$regime" "$bref" "$c" warmstart 8)" \
        "$(awk -v b="${IMAGE_BYTES[$c]}" 'BEGIN {print b / 1e6}')" "$(awk -v b="${MODEL_BYTES[$c]}" 'BEGIN {print b / 1e6}')"
      RESULT+=("${c}_${regime}_b$bref=$ratio")
    done
  done
done
echo "default/warmstart: seconds from t0 (the node starts joining) to the serving pod Ready, as a watch saw it;"
echo "api-*: the API's timestamps (node created -> pod Ready, whole seconds); op-ws: the operator's status.coldStart"
echo "(gate + download + pull + server start, whole seconds) for the same pods."
[[ -z $OUT ]] || cp "$RUNS" "$OUT"
rm -f "$RUNS"
echo "coldstart-operator: ${RESULT[*]}"
