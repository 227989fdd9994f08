#!/usr/bin/env bash
# Model download on a shaped link: `warmstart fetch-model` against `aws s3 cp --recursive` and
# `rclone copy`, side by side in one run, from a real S3 server (s3proxy, filesystem blob store).
#
# The link lives only on this machine: a network namespace "node" joined to the host by a veth
# pair in a private /30; s3proxy listens on the host end. The host end's egress (server -> node,
# the download direction) is shaped with htb: one class at the link rate, and below it 256 leaf
# classes capped at the per-connection rate, chosen by a u32 hash of the TCP destination port
# (the client's ephemeral port), so one connection cannot fill the link and 8+ parallel ones can
# -- the way an object store caps each connection below a node's NIC.
#
# Prints a table, then as its last line:
#   fetch: link_fraction=F vs_awscli=A vs_rclone=R
# F = fetch-model's median throughput (payload bytes/s) over the nominal link rate; A and R =
# fetch-model's median throughput over each peer's. Targets: F >= 0.9, A > 1, R > 1, and (once
# fetch-model has --cache-dir) a second fetch from the node cache in < 5% of the first's time.
#
# Run as root: bench/fetch.sh [--quick] [options]; --help lists them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/shaped-link.sh
source "$ROOT/bench/lib/shaped-link.sh"
# shellcheck source=bench/lib/s3proxy.sh
source "$ROOT/bench/lib/s3proxy.sh"

LINK_MBIT=800   # aggregate link rate; 4 GiB at 800 Mbit/s takes ~43 s
CONN_MBIT=""    # per-connection cap; default LINK_MBIT / 8
ROUNDS=3
SHARDS=8
SHARD_MIB=512
PORT=18181
NETNS=node
JAR="$ROOT/operator/target/warmstart.jar"
QUICK=0
KEEP_LOGS=""
TOOLS_ARG="fetch-model,awscli,rclone"
FETCH_ARGS=""
SKIP_CACHE=0

usage() {
    cat <<EOF
Usage: $0 [--quick] [--link-mbit N] [--conn-mbit N] [--rounds N] [--shards N] [--shard-mib N]
          [--port N] [--netns NAME] [--jar PATH] [--keep-logs DIR] [--tools LIST]
          [--fetch-args ARGS] [--no-cache]
  --quick        4 x 64 MiB shards and 1 round: a fast check of the harness, not a measurement
  --link-mbit N  aggregate link rate, Mbit/s (default $LINK_MBIT)
  --conn-mbit N  per-connection cap, Mbit/s (default link/8)
  --rounds N     rounds, each running the three tools in a rotated order (default $ROUNDS)
  --shards N     safetensors shards (default $SHARDS)
  --shard-mib N  shard size in MiB (default $SHARD_MIB)
  --port N       s3proxy port on the host end of the veth (default $PORT)
  --netns NAME   network namespace to create (default $NETNS)
  --jar PATH     warmstart jar (default operator/target/warmstart.jar; built if missing)
  --keep-logs DIR  copy each tool's output, s3proxy's log and the tc setup to DIR at exit
  --tools LIST   comma-separated tools to run (default $TOOLS_ARG); the ratios need all three
  --fetch-args ARGS  extra fetch-model options, e.g. "--concurrency 16" (to explore its settings)
  --no-cache     skip the node cache runs
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; SHARDS=4; SHARD_MIB=64; ROUNDS=1 ;;
        --link-mbit) LINK_MBIT=$2; shift ;;
        --conn-mbit) CONN_MBIT=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --shards) SHARDS=$2; shift ;;
        --shard-mib) SHARD_MIB=$2; shift ;;
        --port) PORT=$2; shift ;;
        --netns) NETNS=$2; shift ;;
        --jar) JAR=$2; shift ;;
        --keep-logs) KEEP_LOGS=$2; shift ;;
        --tools) TOOLS_ARG=$2; shift ;;
        --fetch-args) FETCH_ARGS=$2; shift ;;
        --no-cache) SKIP_CACHE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
CONN_MBIT=${CONN_MBIT:-$((LINK_MBIT / 8))}
read -r -a FETCH_ARGV <<<"$FETCH_ARGS"   # extra fetch-model options, split on spaces
for v in LINK_MBIT CONN_MBIT ROUNDS SHARDS SHARD_MIB PORT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, not '${!v}'" >&2; exit 2; }
done

log() { printf '%s\n' "$*" >&2; }
die() { log "fetch.sh: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (network namespace, tc, page cache)"

# Private /30 that exists only on this veth pair; nothing is routed beyond it.
HOST_IP=10.213.77.1
NODE_IP=10.213.77.2
VETH_HOST=wsbench-h
VETH_NODE=wsbench-n
ENDPOINT="http://$HOST_IP:$PORT"
BUCKET=bucket
PREFIX=model
ACCESS_KEY=warmstart-bench
SECRET_KEY=warmstart-bench-secret
AWS=/usr/bin/aws   # Debian's awscli, whatever else is on PATH

WORK=""
S3PROXY_PID=""
TOOL_PID=""
NETNS_CREATED=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $TOOL_PID ]]; then
        kill "$TOOL_PID" 2>/dev/null || true   # timeout passes it on to the tool
        wait "$TOOL_PID" 2>/dev/null || true
    fi
    if [[ -n $S3PROXY_PID ]]; then
        kill "$S3PROXY_PID" 2>/dev/null || true
        wait "$S3PROXY_PID" 2>/dev/null || true
    fi
    if [[ $NETNS_CREATED -eq 1 ]]; then
        ip link del "$VETH_HOST" 2>/dev/null || true   # takes its peer and the qdisc along
        ip netns del "$NETNS" 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ -n $KEEP_LOGS ]] && mkdir -p "$KEEP_LOGS"; then
            cp -r "$WORK/logs/." "$WORK/tc.batch" "$KEEP_LOGS/" 2>/dev/null || true
        fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
install_missing() {
    local pkg missing=()
    for pkg in awscli rclone iproute2 curl python3; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v java >/dev/null || die "java is missing (the project's JDK 17)"
    command -v mvn >/dev/null || die "mvn is missing (the project's Maven)"
}
install_missing

if [[ ! -f $JAR ]]; then
    log "building $JAR"
    (cd "$ROOT" && mvn -B -q -pl operator package -Dmaven.test.skip=true)
fi
[[ -f $JAR ]] || die "no jar at $JAR"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/warmstart-bench.XXXXXX")
mkdir -p "$WORK/blobs/$BUCKET/$PREFIX" "$WORK/logs"
# A private copy: every run uses the same build even if the jar is rebuilt meanwhile.
cp "$JAR" "$WORK/warmstart.jar"
JAR="$WORK/warmstart.jar"

log "resolving s3proxy's classpath"
mvn -B -q -f "$ROOT/bench/s3proxy/pom.xml" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$WORK/s3proxy.classpath" >"$WORK/logs/mvn.log" 2>&1 \
    || { cat "$WORK/logs/mvn.log" >&2; die "could not resolve s3proxy"; }

# ---------------------------------------------------------------- model
# Written straight into s3proxy's filesystem-nio2 layout (BASEDIR/bucket/key) as single-part uploads
# (ETag = MD5, which rclone then verifies): bench/lib/write-model.py.
MODEL="$WORK/blobs/$BUCKET/$PREFIX"
SHARD_BYTES=$((SHARD_MIB * 1024 * 1024))
log "writing the model: $SHARDS x $SHARD_MIB MiB shards + json"
python3 "$ROOT/bench/lib/write-model.py" "$MODEL" "$SHARDS" "$SHARD_BYTES" "$WORK/model.md5"
TOTAL_BYTES=0
declare -A SIZE=()
while read -r _ name; do
    SIZE[$name]=$(stat -c %s "$MODEL/$name")
    TOTAL_BYTES=$((TOTAL_BYTES + SIZE[$name]))
done <"$WORK/model.md5"
FILES=${#SIZE[@]}
FIRST_SHARD=$(printf 'model-00001-of-%05d.safetensors' "$SHARDS")
# A small model beside it for the untimed warm-up runs (see "warm-up" below).
WARMUP_PREFIX=warmup
python3 "$ROOT/bench/lib/write-model.py" "$WORK/blobs/$BUCKET/$WARMUP_PREFIX" 4 $((16 << 20)) "$WORK/warmup.md5"

# ---------------------------------------------------------------- link
ip netns list | awk -v n="$NETNS" '$1 == n {f = 1} END {exit !f}' && die "network namespace '$NETNS' exists already (a run still going, or left over: ip netns del $NETNS)"
ip link show "$VETH_HOST" >/dev/null 2>&1 && die "link $VETH_HOST exists already (left over: ip link del $VETH_HOST)"
ip -o addr show | grep -q ' 10\.213\.77\.' && die "10.213.77.0/30 is in use on this machine"

log "link: $LINK_MBIT Mbit/s, $CONN_MBIT Mbit/s per connection, namespace $NETNS ($HOST_IP <-> $NODE_IP)"
NETNS_CREATED=1
shaped_link_netns "$NETNS" "$VETH_HOST" "$VETH_NODE" "$HOST_IP" "$NODE_IP"

# htb: the link, and 256 per-connection leaves chosen by a hash of the client port (bench/lib/shaped-link.sh).
shaped_link_tc "$VETH_HOST" "$LINK_MBIT" "$CONN_MBIT" >"$WORK/tc.batch"
tc -batch "$WORK/tc.batch"

# Bytes each per-connection leaf has sent, "classid bytes" per line.
leaf_bytes() { shaped_link_leaf_bytes "$VETH_HOST"; }
# How many leaves (~ connections) carried at least 1% of the bytes since snapshot $1.
leaves_used() {
    join "$1" <(leaf_bytes) | awk '{d = $3 - $2; if (d > 0) {n[NR] = d; t += d}} END {for (i in n) if (n[i] >= t / 100) k++; print k + 0}'
}

# ---------------------------------------------------------------- s3proxy
s3proxy_start "$WORK" "$ROOT" "$ENDPOINT" "$ACCESS_KEY" "$SECRET_KEY"

CURL_S3=(curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
for ((i = 0; ; i++)); do
    kill -0 "$S3PROXY_PID" 2>/dev/null || { cat "$WORK/logs/s3proxy.log" >&2; die "s3proxy exited"; }
    code=$(ip netns exec "$NETNS" "${CURL_S3[@]}" -o /dev/null -w '%{http_code}' -I "$ENDPOINT/$BUCKET/$PREFIX/config.json" 2>/dev/null || true)
    [[ $code == 200 ]] && break
    [[ $i -lt 150 ]] || die "s3proxy did not answer on $ENDPOINT (last HTTP status '$code'); see its log above"
    sleep 0.2
done
etag=$(ip netns exec "$NETNS" "${CURL_S3[@]}" -I "$ENDPOINT/$BUCKET/$PREFIX/$FIRST_SHARD" | tr -d '\r"' | awk 'tolower($1) == "etag:" {print $2}')
[[ $etag == "$(awk -v f="$FIRST_SHARD" '$2 == f {print $1}' "$WORK/model.md5")" ]] \
    || die "s3proxy's ETag for $FIRST_SHARD is '$etag', not its MD5: xattrs not read?"

# ---------------------------------------------------------------- link check
# One connection should get about the per-connection cap; 16 at once about the link rate.
mbit() { awk -v b="$1" -v ns="$2" 'BEGIN {printf "%.0f", b * 8 / (ns / 1e9) / 1e6}'; }
one_len=$((CONN_MBIT * 125000 * 4))              # ~4 s at the cap
[[ $one_len -le $SHARD_BYTES ]] || one_len=$SHARD_BYTES
t0=$(date +%s%N)
ip netns exec "$NETNS" "${CURL_S3[@]}" -o /dev/null -H "Range: bytes=0-$((one_len - 1))" "$ENDPOINT/$BUCKET/$PREFIX/$FIRST_SHARD"
ONE_MBIT=$(mbit "$one_len" $(($(date +%s%N) - t0)))
# 16 ranges spread over the shards, ~5 s at the link rate in all.
per_shard=$(((16 + SHARDS - 1) / SHARDS))
par_len=$((LINK_MBIT * 125000 * 5 / 16))
[[ $par_len -le $((SHARD_BYTES / per_shard)) ]] || par_len=$((SHARD_BYTES / per_shard))
pids=()
leaf_bytes >"$WORK/leaves.before"
t0=$(date +%s%N)
for ((i = 0; i < 16; i++)); do
    row=$((i / SHARDS))
    off=$((row * par_len))
    ip netns exec "$NETNS" "${CURL_S3[@]}" -o /dev/null -H "Range: bytes=$off-$((off + par_len - 1))" \
        "$ENDPOINT/$BUCKET/$PREFIX/$(printf 'model-%05d-of-%05d.safetensors' $((i % SHARDS + 1)) "$SHARDS")" &
    pids+=($!)
done
wait "${pids[@]}"
PAR_MBIT=$(mbit $((16 * par_len)) $(($(date +%s%N) - t0)))
PAR_LEAVES=$(leaves_used "$WORK/leaves.before")
log "link check: 1 connection $ONE_MBIT Mbit/s (cap $CONN_MBIT), 16 connections $PAR_MBIT Mbit/s of payload (link $LINK_MBIT; $PAR_LEAVES per-connection classes used)"
awk -v got="$ONE_MBIT" -v cap="$CONN_MBIT" 'BEGIN {exit !(got <= cap * 1.1)}' \
    || die "one connection got $ONE_MBIT Mbit/s, above the $CONN_MBIT Mbit/s cap: shaping is not working"

# ---------------------------------------------------------------- tools
# fetch-model runs with the JVM options its init container gets (HelperSettings.FETCH_MODEL_JVM_OPTIONS);
# the peers on their defaults; no config or credentials from this machine.
FETCH_JVM_OPTIONS=$(awk '/FETCH_MODEL_JVM_OPTIONS =/ {f = 1} f && /"/ {split($0, q, "\""); print q[2]; exit}' \
    "$ROOT/operator/src/main/java/dev/warmstart/kube/HelperSettings.java" 2>/dev/null || true)
if [[ -z $FETCH_JVM_OPTIONS ]]; then
    FETCH_JVM_OPTIONS="-XX:+UseSerialGC -Xss256k -XX:-UsePerfData -Xshare:auto -Xmx256m"
    log "note: HelperSettings.FETCH_MODEL_JVM_OPTIONS not found; fetch-model runs with: $FETCH_JVM_OPTIONS"
fi
# The operator image carries a class-data-sharing archive that FETCH_MODEL_JVM_OPTIONS names: made as
# image/build.sh makes it (a cds-training run lists the classes, a static dump archives them), here with
# this machine's JDK and outside the timed runs.
FETCH_JVM_OPTIONS=${FETCH_JVM_OPTIONS//\/app\/warmstart.jsa/$WORK\/warmstart.jsa}
if java -XX:+UseSerialGC -XX:DumpLoadedClassList="$WORK/classes.lst" -jar "$JAR" cds-training \
        >"$WORK/logs/cds-training.log" 2>&1 &&
    java -XX:+UseSerialGC -Xshare:dump -XX:SharedClassListFile="$WORK/classes.lst" \
        -XX:SharedArchiveFile="$WORK/warmstart.jsa" -cp "$JAR" >>"$WORK/logs/cds-training.log" 2>&1; then
    log "fetch-model runs with: $FETCH_JVM_OPTIONS"
else
    log "note: no class-data-sharing archive (see cds-training.log); fetch-model starts without one"
fi
printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n' >"$WORK/aws-config"
: >"$WORK/aws-credentials"
: >"$WORK/rclone.conf"
TOOL_ENV=(
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK" TMPDIR="$WORK"
    LANG=C.UTF-8
    AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY"
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials"
    AWS_ENDPOINT_URL="$ENDPOINT" AWS_S3_FORCE_PATH_STYLE=true
    RCLONE_CONFIG="$WORK/rclone.conf" RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
    RCLONE_CONFIG_BENCH_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_BENCH_REGION=us-east-1
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$ACCESS_KEY" RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$SECRET_KEY"
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
)
tool_cmd() { # tool dest [extra fetch-model args...] -> the command, one word per line
    local tool=$1 dest=$2
    shift 2
    case "$tool" in
        fetch-model) printf '%s\n' env JAVA_TOOL_OPTIONS="$FETCH_JVM_OPTIONS" java -jar "$JAR" fetch-model --uri "s3://$BUCKET/$PREFIX/" --to "$dest" \
            --termination-log "$WORK/logs/termination.json" "${FETCH_ARGV[@]}" "$@" ;;
        awscli) printf '%s\n' "$AWS" --endpoint-url "$ENDPOINT" s3 cp --recursive --only-show-errors "s3://$BUCKET/$PREFIX/" "$dest/" ;;
        rclone) printf '%s\n' rclone copy -q "bench:$BUCKET/$PREFIX" "$dest" ;;
    esac
}

DROP_CACHES=1
drop_caches() {
    sync
    if [[ $DROP_CACHES -eq 1 ]] && ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        DROP_CACHES=0
        log "note: cannot write /proc/sys/vm/drop_caches here; the page cache is not dropped between runs"
    fi
}

# Byte counts and MD5 of what a tool left in $1 against the model.
verify() {
    local dest=$1 name n=0 bytes=0
    while IFS= read -r -d '' name; do
        name=${name#"$dest"/}
        [[ -n ${SIZE[$name]:-} ]] || { log "unexpected file $name"; return 1; }
        [[ $(stat -c %s "$dest/$name") -eq ${SIZE[$name]} ]] || { log "$name: wrong size"; return 1; }
        bytes=$((bytes + SIZE[$name]))
        n=$((n + 1))
    done < <(find "$dest" -type f -print0)
    [[ $n -eq $FILES && $bytes -eq $TOTAL_BYTES ]] || { log "$n files, $bytes bytes; expected $FILES, $TOTAL_BYTES"; return 1; }
    (cd "$dest" && md5sum --quiet -c "$WORK/model.md5") >&2 || return 1
}

# Busy share of all CPUs between two /proc/stat samples ("busy total" in jiffies).
cpu_sample() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
cpu_busy() { # before after -> percent
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}'
}

LIMIT_S=$((TOTAL_BYTES * 8 * 3 / (CONN_MBIT * 1000000) + 120))   # bounded even for one connection
stamp() { # start-ns: prefix each line of stdin with the seconds since start-ns
    python3 -u -c 'import sys, time
t0 = int(sys.argv[1]) / 1e9
for line in sys.stdin:
    sys.stdout.write("%7.3f %s" % (time.time() - t0, line))' "$1"
}
RUN_SECONDS=""
RUN_LEAVES=""
RUN_CPU=""
run_tool() { # tool dest label [extra args] -> RUN_SECONDS, RUN_LEAVES, RUN_CPU
    local tool=$1 dest=$2 label=$3 t0 t1 c0 c1 snap="$WORK/leaves.before"
    shift 3
    local cmd=()
    mapfile -t cmd < <(tool_cmd "$tool" "$dest" "$@")
    rm -rf "$dest"
    mkdir -p "$dest"
    drop_caches
    leaf_bytes >"$snap"
    c0=$(cpu_sample)
    t0=$(date +%s%N)
    # In the background, so that a signal to this script is handled at once (wait returns).
    # Each output line stamped with the seconds since the start, to see where the time goes.
    timeout -k 10 "$LIMIT_S" ip netns exec "$NETNS" "${TOOL_ENV[@]}" "${cmd[@]}" \
        > >(stamp "$t0" >"$WORK/logs/$label.log") 2>&1 &
    TOOL_PID=$!
    if ! wait "$TOOL_PID"; then
        TOOL_PID=""
        tail -n 30 "$WORK/logs/$label.log" >&2
        die "$label failed"
    fi
    TOOL_PID=""
    t1=$(date +%s%N)
    c1=$(cpu_sample)
    RUN_CPU=$(cpu_busy "$c0" "$c1")
    RUN_LEAVES=$(leaves_used "$snap")
    verify "$dest" || die "$label: the download does not match the model"
    RUN_SECONDS=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e9}')
}

IFS=, read -r -a TOOLS <<<"$TOOLS_ARG"
for tool in "${TOOLS[@]}"; do
    [[ $tool == fetch-model || $tool == awscli || $tool == rclone ]] || die "unknown tool '$tool' (fetch-model, awscli, rclone)"
done
# ---------------------------------------------------------------- warm-up
# One untimed run of each tool on the small model first. The first downloads after s3proxy starts run
# while its JIT is still compiling the serving path (the link check's curls do not take the SDKs' path:
# signed listings and HEADs, conditional ranged GETs), so without this whichever tool opens round 1 pays.
PREFIX=$WARMUP_PREFIX
for tool in "${TOOLS[@]}"; do
    mapfile -t cmd < <(tool_cmd "$tool" "$WORK/warmup")
    rm -rf "$WORK/warmup"
    mkdir -p "$WORK/warmup"
    timeout -k 10 "$LIMIT_S" ip netns exec "$NETNS" "${TOOL_ENV[@]}" "${cmd[@]}" >"$WORK/logs/$tool.warmup.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/$tool.warmup.log" >&2; die "$tool failed its warm-up run"; }
    (cd "$WORK/warmup" && md5sum --quiet -c "$WORK/warmup.md5") >&2 || die "$tool: the warm-up download does not match"
done
rm -rf "$WORK/warmup"
PREFIX=model

declare -A SECS=() CPUS=()
log "model: $FILES files, $TOTAL_BYTES bytes; $ROUNDS round(s) after an untimed warm-up run of each tool"
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#TOOLS[@]}; k++)); do
        tool=${TOOLS[$(((k + r - 1) % ${#TOOLS[@]}))]}
        run_tool "$tool" "$WORK/dst" "$tool.r$r"
        SECS[$tool]+="$RUN_SECONDS "
        CPUS[$tool]+="$RUN_CPU "
        log "$(printf 'round %d  %-11s %7.2f s  %7.1f MB/s  %.2f of link  ~%s connections  host CPU %s%% busy' "$r" "$tool" "$RUN_SECONDS" \
            "$(awk -v b="$TOTAL_BYTES" -v s="$RUN_SECONDS" 'BEGIN {print b / s / 1e6}')" \
            "$(awk -v b="$TOTAL_BYTES" -v s="$RUN_SECONDS" -v l="$LINK_MBIT" 'BEGIN {print b * 8 / s / (l * 1e6)}')" "$RUN_LEAVES" "$RUN_CPU")"
    done
done

# Second fetch on the same node, from the node cache, laid out as in the pod: the cache is the hostPath,
# each pod's model directory is DIR/pods/<namespace>/<pod uid> on the same mount, so a model already in the
# cache is hard-linked there (the server mounts that directory read-only).
CACHE_LINE="fetch-cache: skipped (fetch-model has no --cache-dir yet)"
if [[ $SKIP_CACHE -eq 1 ]]; then
    CACHE_LINE="fetch-cache: skipped (--no-cache)"
elif java -jar "$JAR" fetch-model --help 2>/dev/null | grep -q -- '--cache-dir'; then
    CACHE_DIR="$WORK/nodecache"
    run_tool fetch-model "$CACHE_DIR/pods/bench/11111111-1111-1111-1111-111111111111" cache.first --cache-dir "$CACHE_DIR"
    first=$RUN_SECONDS
    run_tool fetch-model "$CACHE_DIR/pods/bench/22222222-2222-2222-2222-222222222222" cache.second --cache-dir "$CACHE_DIR"
    second=$RUN_SECONDS
    log "cache: second fetch: $(grep -h 'node cache' "$WORK/logs/cache.second.log" | head -n 3 | tr '\n' ' ')$(cat "$WORK/logs/termination.json" 2>/dev/null || true)"
    CACHE_LINE=$(awk -v a="$first" -v b="$second" 'BEGIN {printf "fetch-cache: first=%.2fs second=%.2fs second/first=%.3f (target < 0.05)", a, b, b / a}')
fi

# ---------------------------------------------------------------- report
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A MED=() TPUT=()
for tool in "${TOOLS[@]}"; do
    MED[$tool]=$(median <<<"${SECS[$tool]}")
    TPUT[$tool]=$(awk -v b="$TOTAL_BYTES" -v s="${MED[$tool]}" 'BEGIN {print b / s}')
done
echo "model: $FILES files, $(awk -v b="$TOTAL_BYTES" 'BEGIN {printf "%.2f GiB", b / 2^30}'); link $LINK_MBIT Mbit/s, $CONN_MBIT Mbit/s per connection; $ROUNDS round(s)$([[ $QUICK -eq 1 ]] && echo ' (--quick: a harness check, not a measurement)')"
echo "link check: 1 connection $ONE_MBIT Mbit/s (cap $CONN_MBIT), 16 curls $PAR_MBIT Mbit/s of payload = $(awk -v p="$PAR_MBIT" -v l="$LINK_MBIT" 'BEGIN {printf "%.2f", p / l}') of the link (TCP/IP/Ethernet headers alone cost 0.04)"
[[ $DROP_CACHES -eq 1 ]] || echo "note: page cache not dropped between runs"
printf '%-12s %-26s %8s %8s %14s %10s\n' tool "seconds per round" median MB/s link_fraction "host CPU"
for tool in "${TOOLS[@]}"; do
    printf '%-12s %-26s %8.2f %8.1f %14.2f %9s%%\n' "$tool" "${SECS[$tool]}" "${MED[$tool]}" \
        "$(awk -v t="${TPUT[$tool]}" 'BEGIN {print t / 1e6}')" \
        "$(awk -v t="${TPUT[$tool]}" -v l="$LINK_MBIT" 'BEGIN {print t * 8 / (l * 1e6)}')" "$(median <<<"${CPUS[$tool]}")"
done
echo "$CACHE_LINE"
if [[ -n ${TPUT[fetch-model]:-} && -n ${TPUT[awscli]:-} && -n ${TPUT[rclone]:-} ]]; then
    awk -v f="${TPUT[fetch-model]}" -v a="${TPUT[awscli]}" -v r="${TPUT[rclone]}" -v l="$LINK_MBIT" \
        'BEGIN {printf "fetch: link_fraction=%.2f vs_awscli=%.2f vs_rclone=%.2f\n", f * 8 / (l * 1e6), f / a, f / r}'
else
    echo "fetch: ratios need all three tools (--tools $TOOLS_ARG)"
fi
