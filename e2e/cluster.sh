#!/usr/bin/env bash
# Local test cluster for the e2e tests: a real etcd, kube-apiserver, kube-controller-manager
# and kube-scheduler plus a KWOK controller that fakes the nodes (and marks their pods Running),
# started by `kwokctl --runtime binary` from the binaries e2e/tools.sh builds and caches.
# The KWOK stages come from e2e/stages/: kwokctl's defaults (pods Running at once), except that
# InferenceEndpoint serving pods (app.kubernetes.io/component=inference-server) go through timed
# gate / fetch-model / image pull / server start phases (see e2e/stages/inference-server.yaml).
# Nothing is downloaded; everything listens on 127.0.0.1; state lives outside the repo under
# ${WARMSTART_CACHE:-~/.cache/warmstart}/clusters/warmstart.
#
# Node pool: gpu-0..gpu-3 look like EKS g6.2xlarge nodes (1x NVIDIA L4, GPU labels,
# nvidia.com/gpu=true:NoSchedule taint, nvidia.com/gpu capacity) and cpu-0 like an m6i.xlarge;
# templates in e2e/nodes/.
#
# Real GPU nodes (--real-nodes N, add-real-node): real kubelets with Debian's containerd beside the
# KWOK pool, each in its own network namespace, with a registry, S3 and cluster DNS on the host; see
# e2e/lib/real-nodes.sh. As root the cluster listens on the private host address 10.213.255.1 (on
# lo) so that the nodes reach it, else on 127.0.0.1 (then no real nodes).
#
# Usage: e2e/cluster.sh up [--real-nodes N]  start (or reuse) the cluster, ensure the nodes (and N real
#                                            GPU nodes real-0..real-<N-1>), wait Ready
#        e2e/cluster.sh down                delete the cluster, the real nodes and all their state
#        e2e/cluster.sh kubeconfig          print the kubeconfig path
#        e2e/cluster.sh kubectl ARGS...     run the cached kubectl against the cluster
#        e2e/cluster.sh add-gpu-node NAME...  add more KWOK GPU nodes like gpu-0, wait until Ready
#        e2e/cluster.sh add-real-node       join one more real GPU node from an empty containerd root;
#                                           prints its name
#        e2e/cluster.sh remove-real-node NAME  stop a real node, remove its state and its Node object
#        e2e/cluster.sh kubelet stop|start NAME  stop or restart a real node's kubelet (a node failing)
#        e2e/cluster.sh service stop|start registry|s3  stop or restart a host service (an outage)
#        e2e/cluster.sh shape NAME MBIT [CONN_MBIT]  shape a real node's download link (htb); 0: off
#        e2e/cluster.sh ctr NAME ARGS...    Debian's ctr against a real node's containerd (namespace k8s.io)
#        e2e/cluster.sh install-operator RELEASE NAMESPACE  the chart from the image built here (by
#                                           digest), one replica on a real node, watching NAMESPACE (made,
#                                           with the Secret s3-credentials for spec.model.credentialsSecret)
#        e2e/cluster.sh env                 print shell assignments: KUBECONFIG, REGISTRY, HELPER_IMAGE,
#                                           SERVER_IMAGE, S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, ...
# Progress goes to stderr; stdout carries only what was asked for.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${WARMSTART_CACHE:-$HOME/.cache/warmstart}
CLUSTER=warmstart
GPU_NODES=(gpu-0 gpu-1 gpu-2 gpu-3)
CPU_NODES=(cpu-0)
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-90}

# kwokctl reads KWOK_* variables over its config file: drop any inherited ones so the cluster
# is always built the same way. KWOK_WORKDIR=$CACHE puts the cluster in $CACHE/clusters/<name>.
for v in $(compgen -e); do
  if [[ $v == KWOK_* ]]; then unset "$v"; fi
done
export KWOK_WORKDIR=$CACHE
DIR=$CACHE/clusters/$CLUSTER
KUBECONFIG_FILE=$DIR/kubeconfig.yaml
CONFIG_FILE=$CACHE/kwokctl-$CLUSTER.yaml
LOCK_FILE=$CACHE/.cluster-$CLUSTER.lock
STAGES_DIR=$HERE/stages
REAL_DIR=$CACHE/clusters/$CLUSTER-real
# shellcheck source=bench/lib/shaped-link.sh
source "$ROOT/bench/lib/shaped-link.sh"
# shellcheck source=e2e/lib/real-nodes.sh
source "$HERE/lib/real-nodes.sh"
# Component name (kwokctl's pid file / bin link) -> binary in the tools bin directory.
declare -A COMPONENT_BINARY=(
  [etcd]=etcd
  [kube-apiserver]=kube-apiserver
  [kube-controller-manager]=kube-controller-manager
  [kube-scheduler]=kube-scheduler
  [kwok-controller]=kwok
)

log() { echo "cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '/^# Usage:/,/^# Progress/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit "${1:-2}"
}

bin_dir() { # the cached tools; with "build", build what is missing first (slow only once)
  if [[ ${1:-} == build ]]; then "$HERE/tools.sh"; else "$HERE/tools.sh" --print; fi
}

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Serialises up/down between concurrent callers (kwokctl() keeps the fd from the daemons).
take_lock() {
  mkdir -p "$CACHE"
  exec 8>"$LOCK_FILE"
  flock 8
}

# kwokctl logs JSON lines when not on a terminal: show them only when it fails.
# The daemons it forks inherit every open descriptor but 0-2, and would hold them for their
# whole life (our lock, a caller's lock or pipe): close them all first.
kwokctl() {
  local out
  if ! out=$(
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done
    exec "$BIN/kwokctl" "$@" 2>&1
  ); then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

# The executable a live pid runs, or nothing.
proc_exe() { readlink "/proc/$1/exe" 2>/dev/null || true; }

# Prints the pid recorded for a component if that pid is alive and runs the binary linked in the
# cluster's bin/ directory (or a since replaced copy of it); nothing for a stale pid file (the pid
# may belong to an unrelated process after a reboot).
component_pid() {
  local name=$1 pidfile=$DIR/pids/$1.pid pid exe want
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  exe=$(proc_exe "$pid")
  want=$(readlink -f "$DIR/bin/$name" 2>/dev/null || true)
  [[ -n $exe && -n $want && ${exe% (deleted)} == "$want" ]] && echo "$pid"
  return 0
}

# The kwokctl configuration for today's tools and e2e/stages/: the options, then every Stage.
# Giving any Stage makes kwokctl drop all its default node and pod stages, so e2e/stages/ carries
# copies of them.
render_config() {
  local f address
  address=$(cluster_address)
  # The KWOK controller manages only the nodes annotated as fake (kwokctl passes --manage-all-nodes,
  # which would take over the real nodes' pods and leases). The API server presents the admin
  # certificate to kubelets, which accept only the cluster's CA, and its own certificate names the
  # Service address pods use (10.0.0.1) and the host address nodes use.
  cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
  kubectlBinary: $BIN/kubectl
  kubeApiserverCertSANs: [$SERVICE_IP, $address]
  # kwokctl stretches node heartbeats 5x by default (a 200 s lease, NotReady after 3m20s); 1 keeps
  # a real cluster's timing, so a real node whose kubelet stops turns NotReady within 40 s.
  heartbeatFactor: 1
componentsPatches:
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false", override: true}
  - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
- name: kube-apiserver
  extraArgs:
  - {key: kubelet-client-certificate, value: $DIR/pki/admin.crt}
  - {key: kubelet-client-key, value: $DIR/pki/admin.key}
  - {key: kubelet-preferred-address-types, value: "InternalIP,Hostname"}
EOF
  # With real nodes possible (root), the API server alone also listens beyond loopback (kwokctl and
  # its kubeconfig keep 127.0.0.1) and advertises the host address, where the nodes' kubelets and
  # kube-proxies and the pods' in-cluster clients (through the kubernetes Service) reach it. Its
  # clients authenticate with certificates or tokens; etcd and the rest stay on loopback.
  if [[ $address != 127.0.0.1 ]]; then
    cat <<EOF
  - {key: bind-address, value: 0.0.0.0, override: true}
  - {key: advertise-address, value: $address}
EOF
  fi
  for f in "$STAGES_DIR"/*.yaml; do
    [[ -e $f ]] || die "no stages in $STAGES_DIR"
    printf -- '---\n# %s\n' "${f#"$HERE"/}"
    cat "$f"
  done
}

healthy() {
  [[ -f $KUBECONFIG_FILE && -d $DIR/pids ]] || return 1
  # Created from another configuration (options or e2e/stages/ changed since): a new cluster.
  if [[ ! -f $CONFIG_FILE || $(<"$CONFIG_FILE") != "$(render_config)" ]]; then
    log "the kwokctl configuration or e2e/stages/ changed since the cluster was created"
    return 1
  fi
  local name pid
  for name in "${!COMPONENT_BINARY[@]}"; do
    pid=$(component_pid "$name")
    # Alive and running today's cached binary (a rebuilt tools dir means a new cluster).
    [[ -n $pid && $(proc_exe "$pid") == "$(readlink -f "$BIN/${COMPONENT_BINARY[$name]}")" ]] || return 1
  done
  kctl get --raw=/readyz --request-timeout=5s >/dev/null 2>&1
}

delete_cluster() {
  [[ -e $DIR ]] || return 0
  # kwokctl kills whatever pid a pid file names: drop the stale ones first.
  local f name
  for f in "$DIR"/pids/*.pid; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .pid)
    [[ -n $(component_pid "$name") ]] || rm -f "$f"
  done
  # --kubeconfig: the context to remove; the default would touch ~/.kube/config.
  if ! kwokctl delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE"; then
    log "kwokctl delete failed; stopping the components directly"
    for name in "${!COMPONENT_BINARY[@]}"; do
      f=$(component_pid "$name")
      if [[ -n $f ]]; then kill -9 "$f" 2>/dev/null || true; fi
    done
  fi
  rm -rf "$DIR"
}

create_cluster() {
  ensure_host_address
  # bindAddress has no flag or env var; kubectl is used by `kwokctl kubectl` only, still local.
  # The file doubles as the record of what the cluster was created from (see healthy).
  render_config >"$CONFIG_FILE"
  # Every binary is a local path (a URL would make kwokctl download it). kwokctl copies the
  # stages into $DIR/kwok.yaml, which the kwok controller reads. --kubeconfig '' leaves
  # ~/.kube/config alone; the cluster's own kubeconfig is $DIR/kubeconfig.yaml.
  kwokctl create cluster --name "$CLUSTER" --config "$CONFIG_FILE" \
    --runtime binary \
    --etcd-binary "$BIN/etcd" \
    --kube-apiserver-binary "$BIN/kube-apiserver" \
    --kube-controller-manager-binary "$BIN/kube-controller-manager" \
    --kube-scheduler-binary "$BIN/kube-scheduler" \
    --kwok-controller-binary "$BIN/kwok" \
    --kubeconfig '' --quiet-pull --wait 2m
}

valid_name() { [[ $1 =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ && ${#1} -le 63 ]]; }

apply_nodes() { # kind(gpu|cpu) name...
  local kind=$1 name manifests=''
  shift
  for name in "$@"; do
    valid_name "$name" || die "invalid node name: $name"
    manifests+=$'---\n'$(sed "s/__NAME__/$name/g" "$HERE/nodes/$kind-node.yaml")$'\n'
  done
  printf '%s' "$manifests" |
    kctl apply --server-side --force-conflicts --field-manager=warmstart-e2e -f - >&2
}

wait_nodes_ready() {
  local nodes=() n
  for n in "$@"; do nodes+=("node/$n"); done
  kctl wait --for=condition=Ready --timeout="${READY_TIMEOUT}s" "${nodes[@]}" >/dev/null
}

wait_default_service_account() { # pods are rejected until the controller-manager creates it
  local i
  for ((i = 0; i < READY_TIMEOUT * 2; i++)); do
    kctl get serviceaccount default -n default >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "service account default/default did not appear"
}

require_running() {
  [[ -f $KUBECONFIG_FILE ]] || die "cluster $CLUSTER is not up: run e2e/cluster.sh up"
}

cmd_up() {
  local start=${EPOCHREALTIME//[!0-9]/} tenths real=0
  while (($#)); do
    case $1 in
      --real-nodes) real=${2:-}; shift ;;
      --real-nodes=*) real=${1#*=} ;;
      *) usage ;;
    esac
    shift
  done
  [[ $real =~ ^[0-9]+$ ]] || die "--real-nodes takes a number, not '$real'"
  BIN=$(bin_dir build)
  if ((real > 0)); then require_real; fi
  take_lock
  ensure_host_address
  if healthy; then
    log "cluster $CLUSTER is running"
  else
    # Real nodes of an older cluster would register with a cluster that no longer exists.
    real_down_all
    ensure_host_address
    if [[ -e $DIR ]]; then
      log "cluster $CLUSTER is stale or unhealthy: recreating it"
      delete_cluster
    fi
    log "creating cluster $CLUSTER (state in $DIR)"
    create_cluster
  fi
  log "ensuring nodes ${GPU_NODES[*]} ${CPU_NODES[*]}"
  apply_nodes gpu "${GPU_NODES[@]}"
  apply_nodes cpu "${CPU_NODES[@]}"
  wait_nodes_ready "${GPU_NODES[@]}" "${CPU_NODES[@]}"
  wait_default_service_account
  if ((real > 0)); then
    host_services_up
    local i names=()
    for ((i = 0; i < real; i++)); do names+=("$REAL_PREFIX$i"); done
    log "ensuring real GPU nodes ${names[*]}"
    for i in "${names[@]}"; do join_real_node "$i"; done
    forget_moved_tags "${names[@]}"
  fi
  tenths=$(((${EPOCHREALTIME//[!0-9]/} - start) / 100000))
  log "cluster $CLUSTER ready in $((tenths / 10)).$((tenths % 10))s; kubeconfig: $KUBECONFIG_FILE"
}

cmd_down() {
  BIN=$(bin_dir)
  take_lock
  if [[ -n $(real_nodes) || -d $REAL_DIR ]] || host_address_present; then
    log "removing the real nodes and host services"
    real_down_all
  fi
  if [[ -e $DIR ]]; then
    log "deleting cluster $CLUSTER"
    if [[ -x $BIN/kwokctl ]]; then
      delete_cluster
    else
      die "no kwokctl in $BIN: run e2e/tools.sh first"
    fi
  else
    log "cluster $CLUSTER does not exist"
  fi
  rm -f "$CONFIG_FILE"
}

cmd_add_gpu_node() {
  (($# > 0)) || usage
  BIN=$(bin_dir)
  require_running
  log "adding GPU node(s) $*"
  apply_nodes gpu "$@"
  wait_nodes_ready "$@"
}

# A node that fails to join (its kubelet exits, it never turns Ready) leaves nothing behind: its
# processes, mounts, namespace, link and Node object are removed before the error is reported.
join_real_node() { # name
  if ! (real_node_up "$1"); then
    log "real node $1 did not join; removing what it left"
    real_node_down "$1" delete-node-object
    exit 1
  fi
}

cmd_add_real_node() {
  BIN=$(bin_dir)
  require_running
  require_real
  take_lock
  host_services_up
  local name
  name=$REAL_PREFIX$(next_real_index)
  log "adding real GPU node $name"
  join_real_node "$name"
  echo "$name"
}

cmd_remove_real_node() {
  (($# == 1)) || usage
  BIN=$(bin_dir)
  take_lock
  # The name is checked before anything is derived from it: an empty one would name every node's state.
  [[ $1 =~ ^${REAL_PREFIX}[0-9]+$ ]] || die "a real node is named ${REAL_PREFIX}N, not '$1'"
  [[ -d $(node_dir "$1") ]] || ip netns list 2>/dev/null | grep -q "^$(node_netns "$1")\b" || die "no real node $1"
  log "removing real node $1"
  real_node_down "$1" delete-node-object
}

cmd_kubelet() { # stop|start NAME
  (($# == 2)) || usage
  BIN=$(bin_dir)
  require_running
  local d
  d=$(node_dir "$2")
  [[ -f $d/kubelet.yaml ]] || die "no real node $2"
  case $1 in
    stop) stop_pidfile "$d/kubelet.pid" ;;
    start) node_processes_up "$2"; kctl wait --for=condition=Ready --timeout="${READY_TIMEOUT}s" "node/$2" >/dev/null
      advertise_gpu "$2" ;;
    *) usage ;;
  esac
}

cmd_service() { # stop|start registry|s3
  (($# == 2)) || usage
  BIN=$(bin_dir)
  require_running
  local pidfile
  case $2 in
    registry) pidfile=$(HOST_DIR)/registry.pid ;;
    s3) pidfile=$(HOST_DIR)/s3proxy.pid ;;
    *) usage ;;
  esac
  case $1 in
    stop) stop_pidfile "$pidfile" ;;
    start) if [[ $2 == registry ]]; then start_registry registry "$REGISTRY_PORT"; else start_s3; fi ;;
    *) usage ;;
  esac
}

cmd_install_operator() { # RELEASE NAMESPACE
  (($# == 2)) || usage
  BIN=$(bin_dir)
  require_running
  local release=$1 ns=$2 pc=true
  eval "$(print_env)"
  kctl create namespace "$ns" --dry-run=client -o yaml | kctl apply -f - >/dev/null
  kctl -n "$ns" create secret generic s3-credentials --dry-run=client -o yaml \
    --from-literal=AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" --from-literal=AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    --from-literal=AWS_ENDPOINT_URL="$S3_ENDPOINT" --from-literal=AWS_REGION=us-east-1 \
    --from-literal=AWS_S3_FORCE_PATH_STYLE=true | kctl apply -f - >/dev/null
  # The chart's PriorityClass is cluster-wide: created only where no release has it yet.
  if kctl get priorityclass warmstart-warm-pool >/dev/null 2>&1; then pc=false; fi
  log "helm upgrade --install $release (namespace $release, watching $ns) on a real node"
  "$BIN/helm" upgrade --install "$release" "$ROOT/charts/warmstart" --namespace "$release" --create-namespace \
    --kubeconfig "$KUBECONFIG_FILE" --set image.repository="${HELPER_IMAGE%:*}" --set image.digest="$HELPER_IMAGE_DIGEST" \
    --set replicaCount=1 --set "watchNamespaces={$ns}" --set warmPool.priorityClass.create=$pc \
    --set-string 'nodeSelector.warmstart\.dev/real-node=true' --set 'tolerations[0].operator=Exists' \
    --wait --timeout 5m >/dev/null
}

cmd_shape() { # NAME MBIT [CONN_MBIT]
  (($# >= 2)) || usage
  local i dev
  i=$(node_index "$1")
  dev=wsr${i}h
  ip link show "$dev" >/dev/null 2>&1 || die "no real node $1"
  [[ $2 =~ ^[0-9]+$ && ${3:-$2} =~ ^[0-9]+$ ]] || die "rates are whole Mbit/s"
  tc qdisc del dev "$dev" root 2>/dev/null || true
  if (($2 > 0)); then
    shaped_link_tc "$dev" "$2" "${3:-$2}" | tc -batch -
  fi
}

main() {
  local cmd=${1:-}
  (($# > 0)) && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    kubeconfig)
      [[ -f $KUBECONFIG_FILE ]] || log "warning: cluster $CLUSTER is not up yet"
      echo "$KUBECONFIG_FILE"
      ;;
    kubectl)
      BIN=$(bin_dir)
      require_running
      exec "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"
      ;;
    add-gpu-node) cmd_add_gpu_node "$@" ;;
    add-real-node) cmd_add_real_node ;;
    remove-real-node) cmd_remove_real_node "$@" ;;
    kubelet) cmd_kubelet "$@" ;;
    service) cmd_service "$@" ;;
    shape) cmd_shape "$@" ;;
    install-operator) cmd_install_operator "$@" ;;
    ctr)
      (($# >= 1)) || usage
      [[ -S $(node_dir "$1")/containerd.sock ]] || die "no real node $1"
      exec ctr --address "$(node_dir "$1")/containerd.sock" -n k8s.io "${@:2}"
      ;;
    env)
      BIN=$(bin_dir)
      print_env
      ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
