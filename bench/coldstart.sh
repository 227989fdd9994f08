#!/usr/bin/env bash
# Cold start of a GPU inference replica on a new node, with real bytes, a real registry and a real
# container runtime: Kubernetes' default order against an image pre-pull with and without warmstart's
# transfer gate, side by side in one run, for the four cases of the reference table scaled down.
#
# The "new GPU node" is a network namespace joined to the host by a veth pair in a private /30,
# shaped with htb to a fixed rate (bench/lib/shaped-link.sh, as bench/fetch.sh). Inside it run
# Debian's containerd (own config, root, state and socket under a temporary directory; driven with
# ctr, 3 layers at a time like the CRI plugin's max_concurrent_downloads) and fetch-model (as the
# serving pod's init container runs it). On the host end run Debian's docker-registry holding a
# serving image built here (gzip layers mixing incompressible library bytes and compressible text,
# pushed over the registry's HTTP API) and s3proxy holding safetensors-like shards. Image pull and
# model download cross the one shaped link.
#
# Scenarios, each timed from node registration to "the serving container could start" (image pulled
# and unpacked by containerd, model on disk):
#   default    Kubernetes as it is: after the bootstrap, the model init container downloads, then
#              the kubelet pulls the serving image
#   no-gate    an image pre-puller starts at registration; the model download starts after the
#              bootstrap and competes with it
#   warmstart  pre-pull at registration; the model download asks the gate, which runs the real
#              dev.warmstart.gate.GatePolicy (bench/coldstart/ColdStartGate.java) on the node's
#              situation as the events arrive, and starts when it says GO. Since this benchmark the
#              policy lets a download go alongside the pre-pull of its own serving image
#              (ImagePulling); it used to wait for the image to be cached, which measured slower
#              than the default order without a bootstrap to hide the pull behind.
#   on-node    the image is on the node already (seeded before the timer starts): the bound for a
#              node that holds the image; the download starts after the bootstrap
#   warm-pool  image cached and weights in the node-local model cache (fetch-model --cache-dir): the
#              replica lands on a node held warm by the warm pool, already bootstrapped, so the
#              time runs from the pod landing there; no bootstrap in it
# The "physical limit" is the bytes that must cross the new node's link (compressed image + model)
# over the link rate.
#
# Regimes: "uncapped" (one connection may fill the link) and "capped" (the registry and the object
# store cap each connection at --conn-mbit, default link/8, like ECR and S3: a pull of 3 layers at a
# time then does not fill the link by itself).
#
# Scaling: bytes are the table's divided by --scale; the link runs at --link-mbit, against a
# reference link of --ref-link-mbit (1600 Mbit/s: the rate of the reference's S3 download on its
# own, 16 GB in 77 s), so every duration is the reference's times TIME_SCALE = ref-link /
# (scale * link); the bootstrap (instance start, GPU driver and device plugin) is given in reference
# seconds and scaled by the same factor.
#
# Prints one table per regime and bootstrap, the targets, and as its last line:
#   coldstart: qwen3_ratio=Q worst_case_ratio=W warm_pool_ratio=P
# Q = warmstart/default (medians) for the Qwen3-8B row, uncapped regime, the largest bootstrap given;
# W = the largest warmstart/default over all rows, regimes and bootstraps, 3 decimals (target <= 1.0);
# P = the largest warm-pool/default over all rows, regimes and bootstraps (target: below each row's
#     reference ratio).
#
# With --operator the same cases then run through the operator on real nodes of the local cluster
# (bench/coldstart-operator.sh): a real kubelet joining at t0 from an empty containerd root behind the
# same shaped link, the endpoint's pod timed to Ready (Kubernetes' default: the same pod as a plain
# Deployment with the operator scaled to zero), printed beside the harness's numbers, and the last
# line gains operator_<case>_<regime>_b<boot>=<warmstart/default>.
#
# Run as root: bench/coldstart.sh [--quick] [options]; --help lists them. Tools: bench/coldstart-tools.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/shaped-link.sh
source "$ROOT/bench/lib/shaped-link.sh"
# shellcheck source=bench/lib/s3proxy.sh
source "$ROOT/bench/lib/s3proxy.sh"

SCALE=200
LINK_MBIT=320
CONN_MBIT=""
REF_LINK_MBIT=1600
ROUNDS=3
BOOTSTRAPS=0,60
REGIMES=uncapped,capped
CASES=qwen3,customer1,customer2,customer3
SCENARIOS=default,no-gate,warmstart,on-node,warm-pool
PULL_CONCURRENCY=3
GZIP_RATIO=0.45
REGISTRY_PORT=18282
S3_PORT=18283
NETNS="ws-cold"
JAR="$ROOT/operator/target/warmstart.jar"
KEEP_LOGS=""
QUICK=0
OPERATOR=0
CACHE=${WARMSTART_CACHE:-$HOME/.cache/warmstart}/bench/coldstart

usage() {
    cat <<EOF
Usage: $0 [--quick] [--cases LIST] [--rounds N] [--bootstrap LIST] [--regime LIST] [--scenarios LIST]
          [--scale N] [--link-mbit N] [--conn-mbit N] [--ref-link-mbit N] [--keep-logs DIR] [--jar PATH]
  --quick            scale 1/1000, qwen3 and customer1, 1 round: a check of the harness (a couple of
                     minutes), not a measurement
  --cases LIST       of qwen3,customer1,customer2,customer3 (default: all)
  --rounds N         rounds, each running the scenarios in another order (default $ROUNDS)
  --bootstrap LIST   node bootstrap times in reference seconds, scaled like the bytes (default $BOOTSTRAPS)
  --regime LIST      uncapped (one connection may fill the link), capped (each connection capped at
                     --conn-mbit) (default $REGIMES)
  --scenarios LIST   of $SCENARIOS (default: all; the ratios need default)
  --scale N          divide the reference's bytes by N (default $SCALE)
  --link-mbit N      the new node's link, Mbit/s (default $LINK_MBIT)
  --conn-mbit N      per-connection cap in the capped regime, Mbit/s (default link/8)
  --ref-link-mbit N  the reference node's link, Mbit/s, for the time scale (default $REF_LINK_MBIT)
  --keep-logs DIR    copy every run's logs (ctr, fetch-model, gate decisions, timings) to DIR at exit
  --jar PATH         warmstart jar (default operator/target/warmstart.jar; built if missing)
  --operator         also run the same cases through the operator on real nodes of the local cluster
                     (bench/coldstart-operator.sh: default and warmstart scenarios, a new node joining
                     from an empty containerd root behind the same shaped link) and print both side by side
Network: namespace $NETNS, veth wscold-h/wscold-n, 10.211.77.0/30, registry on port $REGISTRY_PORT and
s3proxy on $S3_PORT of the host end. The built images are cached under $CACHE.
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; SCALE=1000; ROUNDS=1; CASES=qwen3,customer1 ;;
        --operator) OPERATOR=1 ;;
        --cases) CASES=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --bootstrap) BOOTSTRAPS=$2; shift ;;
        --regime) REGIMES=$2; shift ;;
        --scenarios) SCENARIOS=$2; shift ;;
        --scale) SCALE=$2; shift ;;
        --link-mbit) LINK_MBIT=$2; shift ;;
        --conn-mbit) CONN_MBIT=$2; shift ;;
        --ref-link-mbit) REF_LINK_MBIT=$2; shift ;;
        --keep-logs) KEEP_LOGS=$2; shift ;;
        --jar) JAR=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
CONN_MBIT=${CONN_MBIT:-$((LINK_MBIT / 8))}
for v in SCALE LINK_MBIT CONN_MBIT REF_LINK_MBIT ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
IFS=, read -r -a CASE_LIST <<<"$CASES"
IFS=, read -r -a BOOT_LIST <<<"$BOOTSTRAPS"
IFS=, read -r -a REGIME_LIST <<<"$REGIMES"
IFS=, read -r -a SCENARIO_LIST <<<"$SCENARIOS"
for c in "${CASE_LIST[@]}"; do
    [[ $c =~ ^(qwen3|customer1|customer2|customer3)$ ]] || { echo "unknown case '$c'" >&2; exit 2; }
done
for b in "${BOOT_LIST[@]}"; do
    [[ $b =~ ^[0-9]+$ ]] || { echo "bootstrap times are whole reference seconds, not '$b'" >&2; exit 2; }
done
for r in "${REGIME_LIST[@]}"; do
    [[ $r =~ ^(uncapped|capped)$ ]] || { echo "unknown regime '$r' (uncapped, capped)" >&2; exit 2; }
done
for s in "${SCENARIO_LIST[@]}"; do
    [[ $s =~ ^(default|no-gate|warmstart|on-node|warm-pool)$ ]] || { echo "unknown scenario '$s'" >&2; exit 2; }
done

log() { printf '%s\n' "$*" >&2; }
die() { log "coldstart.sh: $*"; exit 1; }

# ---------------------------------------------------------------- the reference table
# case -> "label|image GB (compressed)|model GB|before s|after s"
declare -A REF=(
    [qwen3]="Qwen3-8B, g6.2xlarge|17.7|16|525|258"
    [customer1]="customer 1, g4dn.xlarge|15.7|0|381|134"
    [customer2]="customer 2, g5.2xlarge|17.5|5.8|346|164"
    [customer3]="customer 3, g5.xlarge|10.6|6.5|346|216"
)
ref_field() { local f; IFS='|' read -r -a f <<<"${REF[$1]}"; printf '%s' "${f[$2]}"; }
# Scaled bytes of the case's image (compressed) and model.
scaled_bytes() { awk -v gb="$1" -v s="$SCALE" 'BEGIN {printf "%.0f", gb * 1e9 / s}'; }
TIME_SCALE=$(awk -v r="$REF_LINK_MBIT" -v s="$SCALE" -v l="$LINK_MBIT" 'BEGIN {printf "%.6f", r / (s * l)}')
bench_seconds() { awk -v t="$1" -v k="$TIME_SCALE" 'BEGIN {printf "%.3f", t * k}'; }

# ---------------------------------------------------------------- prerequisites
[[ $EUID -eq 0 ]] || die "run as root (network namespace, tc, containerd)"
missing=()
for cmd in containerd ctr docker-registry ip tc curl python3 java javac mvn gzip tar sha256sum md5sum; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]}; install with: bench/coldstart-tools.sh (as root; java, javac and mvn are the project's JDK 17 and Maven)"
if [[ ! -f $JAR ]]; then
    log "building $JAR"
    (cd "$ROOT" && nice -n 15 mvn -B -q -pl operator -am package -DskipTests) || die "could not build the jar"
fi
[[ -f $JAR ]] || die "no jar at $JAR"

# Private /30 that exists only on this veth pair; nothing is routed beyond it.
HOST_IP=10.211.77.1
NODE_IP=10.211.77.2
VETH_HOST=wscold-h
VETH_NODE=wscold-n
S3_ENDPOINT="http://$HOST_IP:$S3_PORT"
REGISTRY="$HOST_IP:$REGISTRY_PORT"
BUCKET=models
ACCESS_KEY=warmstart-bench
SECRET_KEY=warmstart-bench-secret
CTR_NS=k8s.io   # the containerd namespace the kubelet's images live in

ip netns list | awk -v n="$NETNS" '$1 == n {f = 1} END {exit !f}' && die "network namespace '$NETNS' exists already (a run still going, or left over: ip netns del $NETNS)"
ip link show "$VETH_HOST" >/dev/null 2>&1 && die "link $VETH_HOST exists already (left over: ip link del $VETH_HOST)"
ip -o addr show | grep -q ' 10\.211\.77\.' && die "10.211.77.0/30 is in use on this machine"
for port in "$REGISTRY_PORT" "$S3_PORT"; do
    if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then die "port $port is in use"; fi
done

# ---------------------------------------------------------------- cleanup
WORK=""
NETNS_CREATED=0
CONTAINERD_PID=""
REGISTRY_PID=""
S3PROXY_PID=""
GATE_PID=""
BG_PIDS=()

umount_under() { # unmount whatever containerd left mounted below $1 (deepest first)
    local m
    findmnt -rn -o TARGET 2>/dev/null | awk -v w="$1/" 'index($0, w) == 1' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
}
stop_pid() { # pid: TERM, up to 5 s, then KILL
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
    stop_pid "$CONTAINERD_PID"
    stop_pid "$GATE_PID"
    stop_pid "$REGISTRY_PID"
    stop_pid "$S3PROXY_PID"
    if [[ $NETNS_CREATED -eq 1 ]]; then
        ip link del "$VETH_HOST" 2>/dev/null || true   # takes its peer and the qdisc along
        ip netns del "$NETNS" 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        umount_under "$WORK"
        if [[ -n $KEEP_LOGS ]] && mkdir -p "$KEEP_LOGS"; then
            cp -r "$WORK/logs/." "$KEEP_LOGS/" 2>/dev/null || true
        fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d "${TMPDIR:-/tmp}/warmstart-coldstart.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/blobs/$BUCKET" "$WORK/registry" "$CACHE"
# A private copy: every run uses the same build even if the jar is rebuilt meanwhile.
cp "$JAR" "$WORK/warmstart.jar"
JAR="$WORK/warmstart.jar"

# ---------------------------------------------------------------- the serving images
# Five layers like a CUDA/PyTorch serving image (base OS, system libraries, CUDA libraries, Python
# packages, the server), shares of the compressed size below. Each layer mixes incompressible bytes
# (library and weight-like files from /dev/urandom) with generated source-like text, in proportions
# that make gzip -6 shrink the layer to GZIP_RATIO of its tar (0.45: CUDA/PyTorch serving images
# are typically 2-2.5x their compressed size once unpacked). Built once per size and cached.
LAYER_NAMES=(base-os system-libs cuda-libs python-packages server)
LAYER_SHARES=(3 7 45 35 10)

text_base() { # the 4 MiB of source-like text that the text files are cut from
    awk -v seed=7 -v n=4194304 'BEGIN {
        srand(seed); nw = 3000
        for (i = 0; i < nw; i++) { w = ""; l = 3 + int(rand() * 9); for (j = 0; j < l; j++) w = w sprintf("%c", 97 + int(rand() * rand() * 26)); word[i] = w }
        split("def class return import from self if else for in while None True False the of to and is", kw, " ")
        out = 0
        while (out < n) {
            ind = int(rand() * 4); line = sprintf("%" (ind * 4) "s", "")
            k = 2 + int(rand() * 9)
            for (j = 0; j < k; j++) { t = rand() < 0.3 ? kw[1 + int(rand() * 19)] : word[int(rand() * rand() * nw)]; line = line t (rand() < 0.15 ? "(" : " ") }
            if (rand() < 0.2) line = line sprintf("%d", int(rand() * 100000))
            print line; out += length(line) + 1
        }
    }'
}

build_image() { # case compressed-bytes dir
    local case=$1 bytes=$2 dir=$3 tmp base text_ratio rand_frac i layer_c layer_u rand_b text_b n off k
    tmp="$dir.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp/blobs"
    base="$tmp/text.base"
    text_base >"$base"
    text_ratio=$(awk -v c="$(gzip -n -6 -c "$base" | wc -c)" -v u="$(stat -c %s "$base")" 'BEGIN {print c / u}')
    # random share f of the tar: f + (1 - f) * text_ratio = GZIP_RATIO
    rand_frac=$(awk -v r="$GZIP_RATIO" -v t="$text_ratio" 'BEGIN {f = (r - t) / (1 - t); print (f < 0 ? 0 : f)}')
    log "building the $case image: $bytes bytes compressed in ${#LAYER_NAMES[@]} layers (text gzips to $text_ratio; $rand_frac of the bytes incompressible)"
    : >"$tmp/layers"
    for ((i = 0; i < ${#LAYER_NAMES[@]}; i++)); do
        layer_c=$((bytes * LAYER_SHARES[i] / 100))
        layer_u=$(awk -v c="$layer_c" -v r="$GZIP_RATIO" 'BEGIN {printf "%.0f", c / r}')
        rand_b=$(awk -v u="$layer_u" -v f="$rand_frac" 'BEGIN {printf "%.0f", u * f}')
        text_b=$((layer_u - rand_b))
        rm -rf "$tmp/root"
        mkdir -p "$tmp/root/opt/${LAYER_NAMES[i]}/lib" "$tmp/root/opt/${LAYER_NAMES[i]}/src"
        for ((k = 0; rand_b > 0; k++)); do
            n=$((rand_b < 16777216 ? rand_b : 16777216))
            head -c "$n" /dev/urandom >"$tmp/root/opt/${LAYER_NAMES[i]}/lib/lib$k.so"
            rand_b=$((rand_b - n))
        done
        for ((k = 0; text_b > 0; k++)); do
            n=$((text_b < 1048576 ? text_b : 1048576))
            off=$((RANDOM * 96 % (4194304 - n + 1)))
            dd if="$base" of="$tmp/root/opt/${LAYER_NAMES[i]}/src/mod$k.py" iflag=skip_bytes,count_bytes skip="$off" count="$n" status=none
            text_b=$((text_b - n))
        done
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/root" -cf "$tmp/layer.tar" .
        local diff_id digest size
        diff_id=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
        nice -n 15 gzip -n -6 "$tmp/layer.tar"
        digest=$(sha256sum "$tmp/layer.tar.gz" | cut -d' ' -f1)
        size=$(stat -c %s "$tmp/layer.tar.gz")
        mv "$tmp/layer.tar.gz" "$tmp/blobs/$digest"
        echo "$digest $size $diff_id $layer_u ${LAYER_NAMES[i]}" >>"$tmp/layers"
    done
    rm -rf "$tmp/root" "$base"
    local arch diff_ids layers_json config cdigest csize
    arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
    diff_ids=$(awk '{printf "%s\"sha256:%s\"", (NR > 1 ? "," : ""), $3}' "$tmp/layers")
    config="{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/opt/server/bin/serve\"],\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diff_ids]}}"
    printf '%s' "$config" >"$tmp/config.json"
    cdigest=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
    csize=$(stat -c %s "$tmp/config.json")
    cp "$tmp/config.json" "$tmp/blobs/$cdigest"
    layers_json=$(awk '{printf "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%s}", (NR > 1 ? "," : ""), $1, $2}' "$tmp/layers")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "$cdigest" "$csize" "$layers_json" >"$tmp/manifest.json"
    rm -rf "$dir"
    mv "$tmp" "$dir"
}

declare -A IMAGE_DIR=() IMAGE_BYTES=() IMAGE_UNPACKED=() IMAGE_LAYERS=() MODEL_BYTES=() IMAGE_REF=()
for c in "${CASE_LIST[@]}"; do
    IMAGE_BYTES[$c]=$(scaled_bytes "$(ref_field "$c" 1)")
    MODEL_BYTES[$c]=$(scaled_bytes "$(ref_field "$c" 2)")
    dir="$CACHE/image-${IMAGE_BYTES[$c]}-r$GZIP_RATIO-v1"
    [[ -f $dir/manifest.json ]] || build_image "$c" "${IMAGE_BYTES[$c]}" "$dir"
    IMAGE_DIR[$c]=$dir
    IMAGE_BYTES[$c]=$(awk '{s += $2} END {print s}' "$dir/layers")   # what actually crosses the link
    IMAGE_UNPACKED[$c]=$(awk '{s += $4} END {print s}' "$dir/layers")
    IMAGE_LAYERS[$c]=$(wc -l <"$dir/layers")
    IMAGE_REF[$c]="$REGISTRY/bench/serving:$c"
done

# ---------------------------------------------------------------- the link
log "link: $LINK_MBIT Mbit/s ($CONN_MBIT Mbit/s per connection when capped), namespace $NETNS ($HOST_IP <-> $NODE_IP)"
NETNS_CREATED=1
shaped_link_netns "$NETNS" "$VETH_HOST" "$VETH_NODE" "$HOST_IP" "$NODE_IP"
shaped_link_tc "$VETH_HOST" "$LINK_MBIT" "$LINK_MBIT" >"$WORK/logs/tc.batch"
tc -batch "$WORK/logs/tc.batch"
set_regime() {
    local cap=$LINK_MBIT
    [[ $1 == capped ]] && cap=$CONN_MBIT
    shaped_link_cap_tc "$VETH_HOST" "$LINK_MBIT" "$cap" >"$WORK/tc.regime"
    tc -batch "$WORK/tc.regime"
}

# ---------------------------------------------------------------- registry
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/logs/registry.log" 2>&1 &
REGISTRY_PID=$!
for ((i = 0; ; i++)); do
    kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$WORK/logs/registry.log" >&2; die "docker-registry exited"; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/" || true) == 200 ]] && break
    [[ $i -lt 100 ]] || die "docker-registry did not answer on $REGISTRY"
    sleep 0.1
done
push_image() { # case: blobs (upload + PUT with digest), then the manifest, over the registry's HTTP API
    local c=$1 dir=${IMAGE_DIR[$1]} blob digest location
    for blob in "$dir"/blobs/*; do
        digest="sha256:${blob##*/}"
        [[ $(curl -s -o /dev/null -w '%{http_code}' -I "http://$REGISTRY/v2/bench/serving/blobs/$digest") == 200 ]] && continue
        location=$(curl -sSf -X POST -D - -o /dev/null "http://$REGISTRY/v2/bench/serving/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
        [[ $location == http* ]] || location="http://$REGISTRY$location"
        [[ $location == *\?* ]] && location="$location&digest=$digest" || location="$location?digest=$digest"
        curl -sSf -X PUT -H 'Content-Type: application/octet-stream' -T "$blob" "$location" -o /dev/null
    done
    curl -sSf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$dir/manifest.json" \
        "http://$REGISTRY/v2/bench/serving/manifests/$c" -o /dev/null
}
for c in "${CASE_LIST[@]}"; do
    push_image "$c"
done
log "registry: ${CASE_LIST[*]} pushed to $REGISTRY/bench/serving"

# ---------------------------------------------------------------- s3proxy and the models
log "resolving s3proxy's classpath"
mvn -B -q -f "$ROOT/bench/s3proxy/pom.xml" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$WORK/s3proxy.classpath" >"$WORK/logs/mvn.log" 2>&1 \
    || { cat "$WORK/logs/mvn.log" >&2; die "could not resolve s3proxy"; }
# Written straight into s3proxy's filesystem-nio2 layout by bench/lib/write-model.py, as bench/fetch.sh
# does. Shards as a safetensors checkpoint has them: one per 4 GB of the unscaled model (Qwen3-8B: 5).
for c in "${CASE_LIST[@]}"; do
    [[ ${MODEL_BYTES[$c]} -gt 0 ]] || continue
    mkdir -p "$WORK/blobs/$BUCKET/$c"
    shards=$(awk -v gb="$(ref_field "$c" 2)" 'BEGIN {n = int(gb / 4); if (n * 4 < gb) n++; print n}')
    python3 "$ROOT/bench/lib/write-model.py" "$WORK/blobs/$BUCKET/$c" "$shards" $((MODEL_BYTES[$c] / shards)) \
        "$WORK/model-$c.md5"
    MODEL_BYTES[$c]=$(du -sb "$WORK/blobs/$BUCKET/$c" | cut -f1)
done
s3proxy_start "$WORK" "$ROOT" "$S3_ENDPOINT" "$ACCESS_KEY" "$SECRET_KEY"
CURL_S3=(curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
for ((i = 0; ; i++)); do
    kill -0 "$S3PROXY_PID" 2>/dev/null || { cat "$WORK/logs/s3proxy.log" >&2; die "s3proxy exited"; }
    code=$("${CURL_S3[@]}" -o /dev/null -w '%{http_code}' -I "$S3_ENDPOINT/$BUCKET/" 2>/dev/null || true)
    [[ $code == 200 ]] && break
    [[ $i -lt 150 ]] || die "s3proxy did not answer on $S3_ENDPOINT (last HTTP status '$code')"
    sleep 0.2
done

# ---------------------------------------------------------------- fetch-model
# As bench/fetch.sh: the JVM options of the init container (HelperSettings.FETCH_MODEL_JVM_OPTIONS)
# with a class-data-sharing archive made the way image/build.sh makes it, outside the timed runs.
FETCH_JVM_OPTIONS=$(awk '/FETCH_MODEL_JVM_OPTIONS =/ {f = 1} f && /"/ {split($0, q, "\""); print q[2]; exit}' \
    "$ROOT/operator/src/main/java/dev/warmstart/kube/HelperSettings.java" 2>/dev/null || true)
[[ -n $FETCH_JVM_OPTIONS ]] || FETCH_JVM_OPTIONS="-XX:+UseSerialGC -Xss256k -XX:-UsePerfData -Xshare:auto -Xmx256m"
FETCH_JVM_OPTIONS=${FETCH_JVM_OPTIONS//\/app\/warmstart.jsa/$WORK\/warmstart.jsa}
if java -XX:+UseSerialGC -XX:DumpLoadedClassList="$WORK/classes.raw" -jar "$JAR" cds-training \
        >"$WORK/logs/cds-training.log" 2>&1 &&
    awk '$0 !~ /^@/ {print $1}' "$WORK/classes.raw" | sort -u >"$WORK/classes.lst" &&
    java -XX:+UseSerialGC -Xshare:dump -XX:SharedClassListFile="$WORK/classes.lst" \
        -XX:SharedArchiveFile="$WORK/warmstart.jsa" -cp "$JAR" >>"$WORK/logs/cds-training.log" 2>&1; then
    :
else
    log "note: no class-data-sharing archive (see cds-training.log); fetch-model starts without one"
fi
FETCH_ENV=(
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK" TMPDIR="$WORK" LANG=C.UTF-8
    AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY"
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    AWS_ENDPOINT_URL="$S3_ENDPOINT" AWS_S3_FORCE_PATH_STYLE=true
    JAVA_TOOL_OPTIONS="$FETCH_JVM_OPTIONS"
)

# ---------------------------------------------------------------- the gate
javac -nowarn -cp "$JAR" -d "$WORK/gate" "$ROOT/bench/coldstart/ColdStartGate.java" >"$WORK/logs/gate-javac.log" 2>&1 \
    || { cat "$WORK/logs/gate-javac.log" >&2; die "could not compile bench/coldstart/ColdStartGate.java against the jar"; }
coproc GATE { exec java -XX:+UseSerialGC -Xmx128m -cp "$JAR:$WORK/gate" ColdStartGate 2>"$WORK/logs/gate.stderr"; }
GATE_IN=${GATE[1]}
GATE_OUT=${GATE[0]}
GATE_REPLY=""
if ! read -r -t 60 GATE_REPLY <&"$GATE_OUT" || [[ $GATE_REPLY != ready ]]; then
    die "the gate driver did not start: $(cat "$WORK/logs/gate.stderr")"
fi
gate() { # command... -> GATE_REPLY; every exchange logged for the run
    printf '%s\n' "$*" >&"$GATE_IN"
    read -r -t 30 GATE_REPLY <&"$GATE_OUT" || die "the gate driver did not answer '$*'"
    [[ $GATE_REPLY != error* ]] || die "gate driver: $GATE_REPLY"
    printf '%8.3f %s -> %s\n' "$(elapsed)" "$*" "$GATE_REPLY" >>"$RUN_LOG.gate"
}

# ---------------------------------------------------------------- the node
NODE="$WORK/node"
CTD_SOCK="$WORK/ctd.sock"
write_containerd_config() {
    cat >"$WORK/containerd.toml" <<EOF
version = 2
root = "$NODE/containerd"
state = "$WORK/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$CTD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
}
write_containerd_config
CTR=(ctr -a "$CTD_SOCK" -n "$CTR_NS")
start_containerd() { # [in-netns|on-host]
    if [[ $1 == on-host ]]; then
        containerd --config "$WORK/containerd.toml" >>"$RUN_LOG.containerd" 2>&1 &
    else
        ip netns exec "$NETNS" containerd --config "$WORK/containerd.toml" >>"$RUN_LOG.containerd" 2>&1 &
    fi
    CONTAINERD_PID=$!
    local i
    for ((i = 0; ; i++)); do
        kill -0 "$CONTAINERD_PID" 2>/dev/null || { tail -n 20 "$RUN_LOG.containerd" >&2; die "containerd exited"; }
        "${CTR[@]}" version >/dev/null 2>&1 && break
        [[ $i -lt 200 ]] || die "containerd did not answer on $CTD_SOCK"
        sleep 0.05
    done
}
stop_containerd() {
    stop_pid "$CONTAINERD_PID"
    CONTAINERD_PID=""
    umount_under "$NODE"
}

# overlayfs where the kernel lets this sandbox mount it, else native (a full copy per layer).
SNAPSHOTTER=native
mkdir -p "$WORK/ovl/lower" "$WORK/ovl/upper" "$WORK/ovl/work" "$WORK/ovl/merged"
if mount -t overlay overlay -o "lowerdir=$WORK/ovl/lower,upperdir=$WORK/ovl/upper,workdir=$WORK/ovl/work" "$WORK/ovl/merged" 2>/dev/null; then
    umount "$WORK/ovl/merged"
    SNAPSHOTTER=overlayfs
fi
rm -rf "$WORK/ovl"

# ctr fetches in its own process (the daemon unpacks), so it runs where the node's network is.
pull() { # case [on-host]: ctr pull with unpack, as the kubelet's CRI pull (3 layers at a time)
    local c=$1 where=${2:-in-node} pre=(ip netns exec "$NETNS")
    [[ $where == in-node ]] || pre=()
    "${pre[@]}" "${CTR[@]}" images pull --plain-http --snapshotter "$SNAPSHOTTER" --max-concurrent-downloads "$PULL_CONCURRENCY" \
        "${IMAGE_REF[$c]}" >>"$RUN_LOG.pull" 2>&1
}
in_node() { ip netns exec "$NETNS" "$@"; }
fetch_model() { # case pod-uid [on-host]: fetch-model into the pod's directory of the node cache
    local c=$1 uid=$2 where=${3:-in-node}
    local cmd=("${FETCH_ENV[@]}" java -jar "$JAR" fetch-model --uri "s3://$BUCKET/$c/" --cache-dir "$NODE/cache"
        --to "$NODE/cache/pods/bench/$uid" --termination-log "$RUN_LOG.$uid.json")
    if [[ $where == on-host ]]; then "${cmd[@]}"; else in_node "${cmd[@]}"; fi >>"$RUN_LOG.fetch" 2>&1
}
verify_run() { # case model-uid: the image unpacked in containerd, the model's bytes in the pod's directory
    local c=$1 uid=$2 n
    "${CTR[@]}" images ls -q | grep -qx "${IMAGE_REF[$c]}" || die "$RUN_NAME: image ${IMAGE_REF[$c]} not in containerd"
    n=$("${CTR[@]}" snapshots --snapshotter "$SNAPSHOTTER" ls | awk 'NR > 1' | wc -l)
    [[ $n -ge ${IMAGE_LAYERS[$c]} ]] || die "$RUN_NAME: $n snapshots, the image has ${IMAGE_LAYERS[$c]} layers: not unpacked"
    if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
        (cd "$NODE/cache/pods/bench/$uid" && md5sum --quiet -c "$WORK/model-$c.md5") >&2 \
            || die "$RUN_NAME: the model in the pod's directory does not match"
    fi
}

# ---------------------------------------------------------------- timing
T0=0
now_us() { local t=${EPOCHREALTIME/./}; printf '%s' "$t"; }
elapsed() { awk -v a="$T0" -v b="$(now_us)" 'BEGIN {printf "%.3f", (b - a) / 1e6}'; }
sleep_until() { # seconds after T0
    local rem
    rem=$(awk -v a="$T0" -v b="$(now_us)" -v s="$1" 'BEGIN {r = s - (b - a) / 1e6; printf "%.3f", (r > 0 ? r : 0)}')
    [[ $rem == 0.000 ]] || sleep "$rem"
}
# Run "$@" in the background; its end time (s after T0) and exit code land in $WORK/done.NAME.
bg_run() { # name command...
    local name=$1
    shift
    rm -f "$WORK/done.$name"
    { if "$@"; then rc=0; else rc=$?; fi; printf '%s %s\n' "$(elapsed)" "$rc" >"$WORK/done.$name"; } &
    BG_PIDS+=($!)
}
bg_wait() { # name -> BG_END (s after T0); dies if the job failed
    local pid rc
    for pid in "${BG_PIDS[@]}"; do wait "$pid" || true; done
    BG_PIDS=()
    read -r BG_END rc <"$WORK/done.$1" || die "$RUN_NAME: no result from $1"
    [[ $rc -eq 0 ]] || { tail -n 20 "$RUN_LOG.pull" "$RUN_LOG.fetch" 2>/dev/null >&2; die "$RUN_NAME: $1 failed ($rc)"; }
}
bg_done() { [[ -f $WORK/done.$1 ]]; }

# ---------------------------------------------------------------- scenarios
# Each sets RUN_TOTAL (s from registration to "could start") and RUN_NOTE (the phases).
RUN_TOTAL=""
RUN_NOTE=""
scenario_default() { # case boot
    local c=$1 b=$2 t_model=$2 t_pull
    sleep_until "$b"
    if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
        fetch_model "$c" pod || die "$RUN_NAME: fetch-model failed"
        t_model=$(elapsed)
    fi
    pull "$c" || die "$RUN_NAME: pull failed"
    t_pull=$(elapsed)
    RUN_TOTAL=$t_pull
    RUN_NOTE="model $b-$t_model pull $t_model-$t_pull"
    PULL_SECONDS=$(awk -v a="$t_model" -v b="$t_pull" 'BEGIN {printf "%.3f", b - a}')
}
scenario_prepull() { # case boot gated(0|1)
    local c=$1 b=$2 gated=$3 t_ask t_go="" t_model="" t_pull waits=0
    if [[ $gated -eq 1 ]]; then
        gate ask prepull
        [[ $GATE_REPLY == GO* ]] || die "$RUN_NAME: the pre-pull's gate said $GATE_REPLY"
    fi
    bg_run prepull pull "$c"
    sleep_until "$b"
    if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
        t_ask=$(elapsed)
        if [[ $gated -eq 1 ]]; then
            bg_done prepull && gate prepull-done
            gate ask model
            while [[ $GATE_REPLY == WAIT* ]]; do
                # The only event still to come on this node is the pre-pull's end.
                bg_done prepull && break   # nothing left to wait for: the gate fails open
                bg_wait prepull
                gate prepull-done
                gate ask model
                waits=$((waits + 1))
            done
        fi
        t_go=$(elapsed)
        fetch_model "$c" pod || die "$RUN_NAME: fetch-model failed"
        t_model=$(elapsed)
        [[ $gated -eq 0 ]] || gate model-done
    fi
    bg_wait prepull
    t_pull=$BG_END
    RUN_TOTAL=$(awk -v a="$t_pull" -v b="${t_model:-0}" -v c="$b" 'BEGIN {m = a; if (b > m) m = b; if (c > m) m = c; printf "%.3f", m}')
    RUN_NOTE="pull 0-$t_pull${t_model:+ model $t_ask-$t_go-$t_model}"
}
# The model through the gate on a node whose image is cached, where the gate must say go at once; sets T_MODEL.
fetch_model_image_cached() { # case
    gate ask model
    [[ $GATE_REPLY == GO* ]] || die "$RUN_NAME: the gate said $GATE_REPLY with the image cached"
    fetch_model "$1" pod || die "$RUN_NAME: fetch-model failed"
    T_MODEL=$(elapsed)
    gate model-done
}
scenario_on_node() { # case boot: the image seeded before T0
    local c=$1 b=$2 t_model=$2
    gate image-cached
    sleep_until "$b"
    if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
        fetch_model_image_cached "$c"
        t_model=$T_MODEL
    fi
    RUN_TOTAL=$(awk -v a="$t_model" -v b="$b" 'BEGIN {printf "%.3f", (a > b ? a : b)}')
    RUN_NOTE="model $b-$t_model"
}
scenario_warm_pool() { # case: image and model seeded before T0; no bootstrap
    local c=$1 t_model=0.000
    gate image-cached
    if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
        fetch_model_image_cached "$c"
        t_model=$T_MODEL
        grep -q '"cacheHit":true' "$RUN_LOG.pod.json" || die "$RUN_NAME: fetch-model did not find the model in the node cache: $(cat "$RUN_LOG.pod.json")"
    fi
    "${CTR[@]}" images ls -q | grep -qx "${IMAGE_REF[$c]}" || die "$RUN_NAME: the image is not on the node"
    RUN_TOTAL=$(elapsed)
    RUN_NOTE="model from the node cache 0-$t_model"
}

# One run on a fresh node: containerd with an empty root, an empty model cache; on-node and
# warm-pool seed the image (a pull by containerd started outside the namespace, over the host's
# loopback, so it does not cross the shaped link), warm-pool also the node cache (fetch-model from
# the host side), all before the timer starts.
# The seeded node of each case is made once, by those real runs, and copied for every run after.
seed_node() { # case scenario
    local c=$1 s=$2 seed="$WORK/seed-$1"
    if [[ ! -d $seed ]]; then
        T0=$(now_us)
        RUN_LOG="$WORK/logs/seed.$c"
        start_containerd on-host
        pull "$c" on-host || die "seeding the $c image failed"
        stop_containerd
        if [[ ${MODEL_BYTES[$c]} -gt 0 ]]; then
            fetch_model "$c" seed on-host || die "seeding the node cache with the $c model failed"
        fi
        mv "$NODE" "$seed"
        RUN_LOG="$WORK/logs/$RUN_NAME"
    fi
    rm -rf "$NODE"
    mkdir -p "$NODE/cache/pods/bench"
    cp -a "$seed/containerd" "$NODE/containerd"
    [[ $s != warm-pool ]] || cp -a "$seed/cache/." "$NODE/cache/"
}

PULL_SECONDS=""
run_one() { # regime boot-ref case scenario round
    local regime=$1 bref=$2 c=$3 s=$4 r=$5 b
    b=$(bench_seconds "$bref")
    RUN_NAME="$regime.b$bref.$c.$s.r$r"
    RUN_LOG="$WORK/logs/$RUN_NAME"
    umount_under "$NODE"
    rm -rf "$NODE"
    mkdir -p "$NODE/cache/pods/bench"
    if [[ $s == on-node || $s == warm-pool ]]; then
        seed_node "$c" "$s"
    fi
    start_containerd in-netns
    gate reset "${IMAGE_REF[$c]}"
    sync
    sleep 0.5   # let the previous run's writeback and deletions settle
    PULL_SECONDS=""
    T0=$(now_us)
    case "$s" in
        default) scenario_default "$c" "$b" ;;
        no-gate) scenario_prepull "$c" "$b" 0 ;;
        warmstart) scenario_prepull "$c" "$b" 1 ;;
        on-node) scenario_on_node "$c" "$b" ;;
        warm-pool) scenario_warm_pool "$c" ;;
    esac
    verify_run "$c" pod
    stop_containerd
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$regime" "$bref" "$c" "$s" "$r" "$RUN_TOTAL" "${PULL_SECONDS:--}" "$RUN_NOTE" >>"$WORK/logs/runs.tsv"
    log "$(printf '%-8s boot %3s s  %-9s %-9s round %d  %7.2f s   %s' "$regime" "$bref" "$c" "$s" "$r" "$RUN_TOTAL" "$RUN_NOTE")"
}

# ---------------------------------------------------------------- link check
# One connection from the registry: about the link when uncapped, about the cap when capped.
link_check() { # regime -> LINK_CHECK (Mbit/s of payload over one connection)
    local c=${CASE_LIST[0]} blob got
    blob=$(awk '$5 == "cuda-libs" {print $1}' "${IMAGE_DIR[$c]}/layers")
    got=$(in_node curl -s -o /dev/null --max-time 3 -w '%{size_download} %{time_total}' \
        "http://$REGISTRY/v2/bench/serving/blobs/sha256:$blob" || true)
    LINK_CHECK=$(awk -v g="$got" 'BEGIN {split(g, x, " "); printf "%d", (x[2] > 0 ? x[1] * 8 / x[2] / 1e6 : 0)}')
}

# ---------------------------------------------------------------- the runs
# The scenarios' order changes with the round and the case: rotated, and stepped by a stride coprime
# to their number, so that no scenario always starts first or always follows the same one (a run
# after one that wrote a whole image to disk is not quite the same as one after a warm-pool run).
ORDER=()
order_scenarios() { # round case -> ORDER
    local r=$1 c=$2 n=${#SCENARIO_LIST[@]} strides=() st a b t k ci=0
    for ((st = 1; st <= n; st++)); do
        a=$st b=$n
        while ((b > 0)); do t=$((a % b)); a=$b; b=$t; done
        ((a != 1)) || strides+=("$st")
    done
    for ((k = 0; k < ${#CASE_LIST[@]}; k++)); do [[ ${CASE_LIST[k]} != "$c" ]] || ci=$k; done
    st=${strides[$(((r - 1 + ci) % ${#strides[@]}))]}
    ORDER=()
    for ((k = 0; k < n; k++)); do ORDER+=("${SCENARIO_LIST[$(((k * st + r - 1 + ci) % n))]}"); done
}

: >"$WORK/logs/runs.tsv"
n_runs=$((${#REGIME_LIST[@]} * ${#BOOT_LIST[@]} * ROUNDS * ${#CASE_LIST[@]} * ${#SCENARIO_LIST[@]}))
log "snapshotter $SNAPSHOTTER; time scale $TIME_SCALE (bootstrap ${BOOTSTRAPS//,/ s, } s of the reference); $n_runs runs"
START=$(now_us)
declare -A LINK_CHECKS=()
for regime in "${REGIME_LIST[@]}"; do
    set_regime "$regime"
    link_check "$regime"
    LINK_CHECKS[$regime]=$LINK_CHECK
    log "link check ($regime): one connection $LINK_CHECK Mbit/s (link $LINK_MBIT, cap $([[ $regime == capped ]] && echo "$CONN_MBIT" || echo none))"
    for bref in "${BOOT_LIST[@]}"; do
        for ((r = 1; r <= ROUNDS; r++)); do
            for c in "${CASE_LIST[@]}"; do
                order_scenarios "$r" "$c"
                for s in "${ORDER[@]}"; do
                    run_one "$regime" "$bref" "$c" "$s" "$r"
                done
            done
        done
    done
done
DURATION=$(awk -v a="$START" -v b="$(now_us)" 'BEGIN {printf "%.0f", (b - a) / 1e6}')

# ---------------------------------------------------------------- report
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print ""; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() { # regime boot case scenario [column] -> median of the runs' totals (or of column 7: the pull)
    awk -F'\t' -v g="$1" -v b="$2" -v c="$3" -v s="$4" -v col="${5:-6}" '$1 == g && $2 == b && $3 == c && $4 == s && $col != "-" {print $col}' \
        "$WORK/logs/runs.tsv" | tr '\n' ' ' | median
}
spread() { # regime boot case scenario -> "min max" of the runs' totals
    awk -F'\t' -v g="$1" -v b="$2" -v c="$3" -v s="$4" '$1 == g && $2 == b && $3 == c && $4 == s {v = $6 + 0; if (n++ == 0 || v < lo) lo = v; if (v > hi) hi = v}
        END {printf "%.3f %.3f\n", lo, hi}' "$WORK/logs/runs.tsv"
}
fmt() { if [[ -n $1 ]]; then printf '%.2f' "$1"; else printf -- '-'; fi; }
ratio() { if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else printf -- '-'; fi; }
mb() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1e6}'; }

echo "coldstart: scale 1/$SCALE of the reference's bytes; link $LINK_MBIT Mbit/s (capped regime: $CONN_MBIT Mbit/s per connection); time scale $TIME_SCALE of the reference (link ${REF_LINK_MBIT} Mbit/s); $ROUNDS round(s), medians$([[ $QUICK -eq 1 ]] && echo '; --quick: a harness check, not a measurement')"
echo "node: containerd $(containerd --version | awk '{print $3}'), snapshotter $SNAPSHOTTER, ctr pull with unpack, $PULL_CONCURRENCY layers at a time; registry: docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'); model: fetch-model from s3proxy"
echo "image: ${#LAYER_NAMES[@]} gzip layers (${LAYER_SHARES[*]} % of the bytes), compressed/unpacked $GZIP_RATIO ($(for c in "${CASE_LIST[@]}"; do printf '%s %s/%s MB; ' "$c" "$(mb "${IMAGE_BYTES[$c]}")" "$(mb "${IMAGE_UNPACKED[$c]}")"; done)runs took ${DURATION} s)"
for regime in "${REGIME_LIST[@]}"; do
    echo "link check ($regime): one connection from the registry ${LINK_CHECKS[$regime]} Mbit/s of payload"
done
WORST=""
WARM_WORST=""
QWEN=""
SAVE_LINES=()
WARM_LINES=()
SLOW_LINES=()
BOOT_MAX=$(printf '%s\n' "${BOOT_LIST[@]}" | sort -n | tail -n 1)
for regime in "${REGIME_LIST[@]}"; do
    for bref in "${BOOT_LIST[@]}"; do
        b=$(bench_seconds "$bref")
        echo
        echo "regime $regime, bootstrap $bref s of the reference = $b s here; seconds from node registration to 'serving container could start'"
        printf '%-24s %6s %6s | %8s %8s %9s %8s %9s | %6s %5s %5s | %8s %7s | %7s %5s\n' case "image" "model" default no-gate warmstart on-node warm-pool ratio ref "ref*" limit "ws/lim" "pool/d" "ref"
        printf '%-24s %6s %6s | %8s %8s %9s %8s %9s | %6s %5s %5s | %8s %7s | %7s %5s\n' "" MB MB s s s s s "ws/def" "" "" s "" "" ""
        for c in "${CASE_LIST[@]}"; do
            d=$(med "$regime" "$bref" "$c" default)
            ng=$(med "$regime" "$bref" "$c" no-gate)
            ws=$(med "$regime" "$bref" "$c" warmstart)
            on=$(med "$regime" "$bref" "$c" on-node)
            wp=$(med "$regime" "$bref" "$c" warm-pool)
            pullt=$(med "$regime" "$bref" "$c" default 7)
            limit=$(awk -v i="${IMAGE_BYTES[$c]}" -v m="${MODEL_BYTES[$c]}" -v l="$LINK_MBIT" 'BEGIN {printf "%.2f", (i + m) * 8 / (l * 1e6)}')
            refr=$(awk -v a="$(ref_field "$c" 4)" -v b="$(ref_field "$c" 3)" 'BEGIN {printf "%.2f", a / b}')
            wsr=$(ratio "$ws" "$d")
            wsr3=$(awk -v a="$ws" -v b="$d" 'BEGIN {if (a != "" && b != "") printf "%.3f", a / b; else printf "-"}')
            wpr=$(ratio "$wp" "$d")
            printf '%-24s %6s %6s | %8s %8s %9s %8s %9s | %6s %5s %5s | %8s %7s | %7s %5s\n' "$(ref_field "$c" 0)" \
                "$(mb "${IMAGE_BYTES[$c]}")" "$(mb "${MODEL_BYTES[$c]}")" "$(fmt "$d")" "$(fmt "$ng")" "$(fmt "$ws")" "$(fmt "$on")" "$(fmt "$wp")" \
                "$wsr" "$refr" "$(awk -v r="$refr" -v w="$wsr" 'BEGIN {print (w != "-" && w + 0 <= r + 0) ? "met" : "-"}')" \
                "$limit" "$(ratio "$ws" "$limit")" "$wpr" "$refr"
            if [[ $wsr != - ]]; then
                WORST=$(awk -v a="$WORST" -v b="$wsr3" 'BEGIN {print (a == "" || b + 0 > a + 0) ? b : a}')
                [[ $c != qwen3 || $regime != uncapped || $bref -ne $BOOT_MAX ]] || QWEN=$wsr
                SLOW_LINES+=("$(awk -v n="$(ref_field "$c" 0)" -v g="$regime" -v bb="$bref" -v d="$d" -v w="$ws" \
                    -v lo="$(spread "$regime" "$bref" "$c" default | cut -d' ' -f1)" -v hi="$(spread "$regime" "$bref" "$c" default | cut -d' ' -f2)" \
                    'BEGIN {printf "  %-24s %-8s boot %3s s: warmstart %.2f s, default %.2f s (rounds %.2f-%.2f): %s", n, g, bb, w, d, lo, hi,
                        (w <= d ? "met" : (w <= hi ? "NOT met, within the default'"'"'s round-to-round spread" : "NOT met"))}')")
            fi
            if [[ $wpr != - ]]; then
                WARM_WORST=$(awk -v a="$WARM_WORST" -v b="$wpr" 'BEGIN {print (a == "" || b + 0 > a + 0) ? b : a}')
                WARM_LINES+=("$(awk -v w="$wpr" -v r="$refr" -v n="$(ref_field "$c" 0)" -v g="$regime" -v bb="$bref" \
                    'BEGIN {printf "  %-24s %-8s boot %3s s: warm-pool/default %.2f vs reference %.2f: %s", n, g, bb, w, r, (w < r ? "met" : "NOT met")}')")
            fi
            if [[ $bref -gt 0 && -n $d && -n $ws && -n $pullt ]]; then
                SAVE_LINES+=("$(awk -v d="$d" -v w="$ws" -v b="$b" -v p="$pullt" -v n="$(ref_field "$c" 0)" -v g="$regime" -v bb="$bref" \
                    'BEGIN {m = (b < p ? b : p); printf "  %-24s %-8s boot %3s s: saves %.2f s, min(bootstrap %.2f s, pull %.2f s) = %.2f s: %s", n, g, bb, d - w, b, p, m, (d - w >= m ? "met" : "NOT met")}')")
            fi
        done
    done
done
echo
echo "ref* = 'met' where warmstart/default is at or below the reference ratio. limit = (compressed image + model) / link;"
echo "warm-pool runs from the pod landing on a node held warm (image cached, weights in the node cache), so it has no bootstrap."
echo
echo "targets:"
echo "  warmstart never slower than default: worst warmstart/default ${WORST:--}: $(awk -v w="${WORST:-}" 'BEGIN {print (w != "" && w + 0 <= 1.0) ? "met" : "NOT met"}')"
printf '%s\n' "${SLOW_LINES[@]}"
if [[ ${#SAVE_LINES[@]} -gt 0 ]]; then
    echo "  with a bootstrap, warmstart saves at least min(bootstrap, image pull) (pull: the default's pull phase, median):"
    printf '%s\n' "${SAVE_LINES[@]}"
fi
if [[ ${#WARM_LINES[@]} -gt 0 ]]; then
    echo "  warm pool beats the reference ratio in every row:"
    printf '%s\n' "${WARM_LINES[@]}"
fi
FINAL="coldstart: qwen3_ratio=${QWEN:--} worst_case_ratio=${WORST:--} warm_pool_ratio=${WARM_WORST:--}"
if [[ $OPERATOR -eq 1 ]]; then
    # The same cases, scale, link and regimes through the operator on real nodes of the local cluster.
    echo
    echo "operator mode (bench/coldstart-operator.sh): the same cases on real nodes of e2e/cluster.sh"
    "$ROOT/bench/coldstart-operator.sh" --cases "$CASES" --scale "$SCALE" --link-mbit "$LINK_MBIT" \
        --conn-mbit "$CONN_MBIT" --ref-link-mbit "$REF_LINK_MBIT" --rounds "$ROUNDS" --regime "$REGIMES" \
        --bootstrap "$BOOTSTRAPS" --out "$WORK/logs/operator-runs.tsv" | tee "$WORK/logs/operator.out"
    echo
    echo "side by side (medians, seconds): harness = from registration to 'serving container could start'"
    echo "(bench/coldstart.sh above); operator = from the node starting to join to the serving pod Ready"
    printf '%-10s %-9s %5s | %8s %9s %6s | %8s %9s %6s\n' case regime boot "h-def" "h-ws" "h-ratio" "op-def" "op-ws" "op-rat"
    OP_RATIOS=()
    for regime in "${REGIME_LIST[@]}"; do
        for bref in "${BOOT_LIST[@]}"; do
            for c in "${CASE_LIST[@]}"; do
                d=$(med "$regime" "$bref" "$c" default)
                ws=$(med "$regime" "$bref" "$c" warmstart)
                od=$(awk -F'\t' -v g="$regime" -v b="$bref" -v c="$c" '$1 == g && $2 == b && $3 == c && $4 == "default" {print $6}' "$WORK/logs/operator-runs.tsv" | median)
                ow=$(awk -F'\t' -v g="$regime" -v b="$bref" -v c="$c" '$1 == g && $2 == b && $3 == c && $4 == "warmstart" {print $6}' "$WORK/logs/operator-runs.tsv" | median)
                printf '%-10s %-9s %5s | %8s %9s %6s | %8s %9s %6s\n' "$c" "$regime" "$bref" "$(fmt "$d")" "$(fmt "$ws")" "$(ratio "$ws" "$d")" \
                    "$(fmt "$od")" "$(fmt "$ow")" "$(ratio "$ow" "$od")"
                OP_RATIOS+=("operator_${c}_${regime}_b$bref=$(ratio "$ow" "$od")")
            done
        done
    done
    FINAL+=" ${OP_RATIOS[*]}"
fi
echo "$FINAL"
