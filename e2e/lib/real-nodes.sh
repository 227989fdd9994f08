# shellcheck shell=bash
# Real GPU nodes for the local cluster (sourced by e2e/cluster.sh): each is a real kubelet with its
# own Debian containerd and a kube-proxy, inside its own network namespace joined to the host by a
# veth pair (shapeable with bench/lib/shaped-link.sh), beside the KWOK pool. The host side carries
# what a cloud gives a node pool: the API server, a registry (Debian's docker-registry, as ECR), an
# object store (s3proxy, as S3) and cluster DNS (CoreDNS), all on one host address.
#
# Addresses (all private, on links this script creates):
#   HOST_ADDR 10.213.255.1/32  on the host's loopback device (this kernel has no dummy links): API server, registry :5000, private
#                              registry :5001 (htpasswd), S3 :9000, DNS :53, and whatever the tests
#                              run on the host (the operator's gate and metrics)
#   real-I                     netns wsr-real-I; veth wsrIh (host, 10.213.I.1/30) - wsrIn (node,
#                              10.213.I.2/30); pods in 10.214.I.0/24 on the node's cni0 bridge
# Services (10.0.0.0/24, the API server's default range) are routed by kube-proxy on each node.
#
# A real node has the labels and taint of the KWOK GPU nodes (e2e/nodes/gpu-node.yaml) plus the label
# warmstart.dev/real-node=true and the taint warmstart.dev/real-node=true:NoSchedule: workloads written
# for the fake pool (they tolerate nvidia.com/gpu) never land on a kubelet that would really pull their
# multi-GB images; the real-node tests tolerate both.
#
# State: $REAL_DIR/<node>/ (containerd root and state, kubelet root, CNI config, logs, pids),
# $REAL_DIR/host/ (registry data, s3proxy blobs, CoreDNS); `down` unmounts and removes all of it.

HOST_ADDR=10.213.255.1
REGISTRY_PORT=5000
PRIVATE_REGISTRY_PORT=5001
S3_PORT=9000
S3_ACCESS_KEY=warmstart-e2e
S3_SECRET_KEY=warmstart-e2e-secret
PRIVATE_REGISTRY_USER=warmstart
PRIVATE_REGISTRY_PASSWORD=warmstart-e2e-pull
POD_CIDR_PREFIX=10.214
# shellcheck disable=SC2034 # the kubernetes Service's address, in the API server's certificate (cluster.sh)
SERVICE_IP=10.0.0.1
REAL_PREFIX=real-
HELPER_TAG=0.1.0
SERVER_TAG=0.1.0
PAUSE_TAG=3.10
REGISTRY=$HOST_ADDR:$REGISTRY_PORT
PRIVATE_REGISTRY=$HOST_ADDR:$PRIVATE_REGISTRY_PORT
HELPER_IMAGE=$REGISTRY/warmstart/warmstart:$HELPER_TAG
SERVER_IMAGE=$REGISTRY/warmstart/model-server:$SERVER_TAG
PAUSE_IMAGE=$REGISTRY/warmstart/pause:$PAUSE_TAG
S3_ENDPOINT=http://$HOST_ADDR:$S3_PORT
REAL_LABELS=(
  kubernetes.io/os=linux
  node.kubernetes.io/instance-type=g6.2xlarge
  karpenter.sh/nodepool=gpu
  nvidia.com/gpu.present=true
  nvidia.com/gpu.product=NVIDIA-L4
  nvidia.com/gpu.count=1
  warmstart.dev/real-node=true
)

# ---------------------------------------------------------------- prerequisites

# Can this machine run real nodes at all? Prints what is missing, one item per line.
real_missing() {
  [[ $(id -u) == 0 ]] || echo "root (network namespaces, containerd, mounts)"
  local c
  for c in ip iptables nsenter containerd ctr runc docker-registry htpasswd skopeo curl java mvn findmnt; do
    command -v "$c" >/dev/null || echo "$c"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    echo "CNI plugins in /usr/lib/cni (Debian's containernetworking-plugins)"
  local b
  for b in kubelet kube-proxy coredns; do [[ -x $BIN/$b ]] || echo "$BIN/$b (e2e/tools.sh builds it)"; done
  return 0
}

require_real() {
  local missing
  missing=$(real_missing)
  [[ -z $missing ]] || die "real nodes need: $(tr '\n' ',' <<<"$missing" | sed 's/,$//; s/,/, /g')"
}

# The cluster listens on HOST_ADDR when this machine can create the link (root), else on loopback.
cluster_address() {
  if [[ $(id -u) == 0 ]] && command -v ip >/dev/null; then echo "$HOST_ADDR"; else echo 127.0.0.1; fi
}

host_address_present() { ip -4 addr show dev lo | grep -q "inet $HOST_ADDR/32"; }

# The host address, on lo: local to the host, reached by the nodes through their veth's default route.
ensure_host_address() {
  [[ $(cluster_address) == "$HOST_ADDR" ]] || return 0
  host_address_present || ip addr add "$HOST_ADDR/32" dev lo
}

# ---------------------------------------------------------------- processes

# A daemon in the background with its own session, none of our descriptors (locks, pipes), its pid in
# $1. The rest: [nsenter --net=...] command...
start_daemon() { # pidfile logfile command...
  local pidfile=$1 logfile=$2
  shift 2
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done
    exec setsid "$@" </dev/null >>"$logfile" 2>&1
  ) &
  echo $! >"$pidfile"
}

pid_alive() { # pidfile
  [[ -f $1 ]] || return 1
  local pid
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

stop_pidfile() { # pidfile [seconds]: TERM, then KILL
  [[ -f $1 ]] || return 0
  local pid i
  pid=$(<"$1")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < ${2:-5} * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

wait_http() { # url what seconds [pidfile]
  local i code
  for ((i = 0; i < $3 * 5; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)
    [[ $code =~ ^[234] ]] && return 0
    if [[ -n ${4:-} ]] && ! pid_alive "$4"; then return 1; fi
    sleep 0.2
  done
  return 1
}

umount_under() { # unmount everything below $1, deepest first
  local m
  findmnt -rn -o TARGET 2>/dev/null | awk -v w="$1/" 'index($0, w) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- host services

HOST_DIR() { echo "$REAL_DIR/host"; }

start_registry() { # name port [htpasswd]
  local name=$1 port=$2 auth=${3:-} dir
  dir=$(HOST_DIR)
  pid_alive "$dir/$name.pid" && return 0
  mkdir -p "$dir/$name"
  {
    printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$dir/$name"
    printf 'http:\n  addr: %s:%s\n' "$HOST_ADDR" "$port"
    if [[ -n $auth ]]; then
      printf 'auth:\n  htpasswd:\n    realm: warmstart-e2e\n    path: %s\n' "$auth"
    fi
  } >"$dir/$name.yml"
  start_daemon "$dir/$name.pid" "$dir/$name.log" docker-registry serve "$dir/$name.yml"
  wait_http "http://$HOST_ADDR:$port/v2/" "$name" 20 "$dir/$name.pid" ||
    { tail -n 20 "$dir/$name.log" >&2; die "$name did not answer on $HOST_ADDR:$port"; }
}

# The private registry's one user, bcrypt as the registry requires (htpasswd from apache2-utils).
private_registry_htpasswd() {
  [[ -s $1 ]] || htpasswd -Bbn "$PRIVATE_REGISTRY_USER" "$PRIVATE_REGISTRY_PASSWORD" >"$1"
}

start_s3() {
  local dir
  dir=$(HOST_DIR)
  pid_alive "$dir/s3proxy.pid" && return 0
  mkdir -p "$dir/s3/blobs/models" "$dir/s3/logs"
  if [[ ! -s $dir/s3/s3proxy.classpath ]]; then
    log "resolving s3proxy's classpath (Maven)"
    mvn -B -q -f "$ROOT/bench/s3proxy/pom.xml" dependency:build-classpath \
      -Dmdep.includeScope=runtime -Dmdep.outputFile="$dir/s3/s3proxy.classpath" >"$dir/s3/logs/mvn.log" 2>&1 ||
      { cat "$dir/s3/logs/mvn.log" >&2; die "could not resolve s3proxy"; }
  fi
  # The tiny model every real-node test serves: s3://models/tiny-llm/ (written once).
  if [[ ! -d $dir/s3/blobs/models/tiny-llm ]]; then
    mkdir -p "$dir/s3/blobs/models/tiny-llm.tmp"
    python3 "$ROOT/bench/lib/write-model.py" "$dir/s3/blobs/models/tiny-llm.tmp" 2 $((4 * 1024 * 1024)) "$dir/s3/tiny-llm.md5"
    mv "$dir/s3/blobs/models/tiny-llm.tmp" "$dir/s3/blobs/models/tiny-llm"
  fi
  cat >"$dir/s3/s3proxy.properties" <<PROPS
s3proxy.endpoint=$S3_ENDPOINT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY
s3proxy.credential=$S3_SECRET_KEY
jclouds.provider=filesystem-nio2
jclouds.identity=$S3_ACCESS_KEY
jclouds.credential=$S3_SECRET_KEY
jclouds.filesystem.basedir=$dir/s3/blobs
PROPS
  start_daemon "$dir/s3proxy.pid" "$dir/s3/logs/s3proxy.log" java -Xmx256m -XX:+UseSerialGC \
    -Dlogback.configurationFile="$ROOT/bench/s3proxy/logback.xml" -cp "$(cat "$dir/s3/s3proxy.classpath")" \
    org.gaul.s3proxy.Main --properties "$dir/s3/s3proxy.properties"
  local i code
  for ((i = 0; i < 300; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/" 2>/dev/null || true)
    [[ $code =~ ^[1-9] && $code != 000 ]] && return 0
    pid_alive "$dir/s3proxy.pid" || break
    sleep 0.2
  done
  tail -n 20 "$dir/s3/logs/s3proxy.log" >&2
  die "s3proxy did not answer on $S3_ENDPOINT"
}

# Cluster DNS for the pods on real nodes: CoreDNS's kubernetes plugin (Services by name, as in kind),
# everything else refused (no upstream: this machine has no resolver pods could use).
start_dns() {
  local dir
  dir=$(HOST_DIR)
  pid_alive "$dir/coredns.pid" && return 0
  cat >"$dir/Corefile" <<EOF
.:53 {
    bind $HOST_ADDR
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_FILE
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  start_daemon "$dir/coredns.pid" "$dir/coredns.log" "$BIN/coredns" -conf "$dir/Corefile"
  local i
  for ((i = 0; i < 100; i++)); do
    ss -Hlun "sport = :53" 2>/dev/null | grep -q "$HOST_ADDR" && return 0
    pid_alive "$dir/coredns.pid" || break
    sleep 0.1
  done
  tail -n 20 "$dir/coredns.log" >&2
  die "CoreDNS did not start on $HOST_ADDR:53"
}

# The images the real nodes run, built here (no container daemon) and pushed with skopeo: the pod
# sandbox, the operator/helper image and the model server. A push is skipped when the registry holds
# the same manifest already.
push_archive() { # oci-archive reference
  local archive=$1 ref=$2 want have
  want=$(skopeo inspect --raw "oci-archive:$archive" | sha256sum | cut -d' ' -f1)
  have=$(skopeo inspect --tls-verify=false --raw "docker://$ref" 2>/dev/null | sha256sum | cut -d' ' -f1 || true)
  [[ $want == "$have" ]] && return 0
  log "pushing $ref"
  skopeo copy -q --dest-tls-verify=false "oci-archive:$archive" "docker://$ref" >&2
}

ensure_images() {
  local helper=$ROOT/operator/target/image/warmstart-$HELPER_TAG.oci.tar
  local pause=$ROOT/operator/target/image/pause-$PAUSE_TAG.oci.tar
  local server=$ROOT/model-server/target/image/model-server-$SERVER_TAG.oci.tar
  [[ -f $helper ]] || { log "building the operator image (image/build.sh)"; "$ROOT/image/build.sh" >/dev/null; }
  [[ -f $pause ]] || { log "building the pause image (image/pause.sh)"; "$ROOT/image/pause.sh" >/dev/null; }
  [[ -f $server ]] || { log "building the model-server image (image/model-server.sh)"; "$ROOT/image/model-server.sh" >/dev/null; }
  push_archive "$pause" "$PAUSE_IMAGE"
  push_archive "$helper" "$HELPER_IMAGE"
  push_archive "$server" "$SERVER_IMAGE"
}

# A tag pushed again with new content (image/*.sh after a source change) stays on the nodes that pulled
# it before, and the kubelet (IfNotPresent) would go on running the old content: such a node's containerd
# forgets the tag, so that the next pod pulls what the registry serves now.
forget_moved_tags() { # node...
  local n sock ref want have
  for ref in "$PAUSE_IMAGE" "$HELPER_IMAGE" "$SERVER_IMAGE"; do
    want=$(registry_digest "$ref")
    [[ -n $want ]] || continue
    for n in "$@"; do
      sock=$(node_dir "$n")/containerd.sock
      [[ -S $sock ]] || continue
      have=$(ctr --address "$sock" -n k8s.io images ls "name==$ref" 2>/dev/null | awk 'NR > 1 {print $3}')
      if [[ -n $have && $have != "$want" ]]; then
        log "$n holds $ref as $have, the registry serves $want: forgetting the tag there"
        ctr --address "$sock" -n k8s.io images rm "$ref" >/dev/null 2>&1 || true
      fi
    done
  done
}

host_services_up() {
  mkdir -p "$(HOST_DIR)"
  # Nodes route pod traffic through the host; the previous value is restored by `down`.
  [[ -f $(HOST_DIR)/ip_forward.saved ]] || sysctl -n net.ipv4.ip_forward >"$(HOST_DIR)/ip_forward.saved"
  sysctl -qw net.ipv4.ip_forward=1
  start_registry registry "$REGISTRY_PORT"
  private_registry_htpasswd "$(HOST_DIR)/htpasswd"
  start_registry private-registry "$PRIVATE_REGISTRY_PORT" "$(HOST_DIR)/htpasswd"
  start_s3
  start_dns
  ensure_images
}

host_services_down() {
  local dir name
  dir=$(HOST_DIR)
  [[ -d $dir ]] || return 0
  for name in coredns s3proxy private-registry registry; do stop_pidfile "$dir/$name.pid"; done
  if [[ -f $dir/ip_forward.saved ]]; then
    sysctl -qw "net.ipv4.ip_forward=$(<"$dir/ip_forward.saved")" || true
    rm -f "$dir/ip_forward.saved"
  fi
}

# ---------------------------------------------------------------- one node

node_index() { echo "${1#"$REAL_PREFIX"}"; }
node_netns() { echo "wsr-$1"; }
node_dir() { echo "$REAL_DIR/$1"; }
node_ip() { echo "10.213.$(node_index "$1").2"; }
in_node() { local n=$1; shift; nsenter --net="/run/netns/$(node_netns "$n")" -- "$@"; }

# Every real node this machine has state or a namespace for.
real_nodes() {
  {
    if [[ -d $REAL_DIR ]]; then find "$REAL_DIR" -mindepth 1 -maxdepth 1 -type d -name "$REAL_PREFIX*" -printf '%f\n'; fi
    ip netns list 2>/dev/null | awk -v p="wsr-$REAL_PREFIX" 'index($1, p) == 1 {print substr($1, 5)}'
  } | sort -u -t- -k2,2n
}

next_real_index() {
  local i=0
  while [[ -d $REAL_DIR/$REAL_PREFIX$i ]] || ip netns list 2>/dev/null | grep -q "^wsr-$REAL_PREFIX$i\b"; do
    i=$((i + 1))
  done
  ((i < 200)) || die "no free real node index below 200"
  echo "$i"
}

write_node_config() { # node
  local n=$1 d i runc=/usr/sbin/runc
  d=$(node_dir "$n")
  i=$(node_index "$n")
  mkdir -p "$d/cni" "$d/certs.d/$REGISTRY" "$d/certs.d/$PRIVATE_REGISTRY" "$d/logs" "$d/kubelet" "$d/opt"
  # This machine refuses a negative oom_score_adj even to root: then runc goes through the wrapper.
  if ! (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then runc=$HERE/lib/runc-wrapper; fi
  cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$d/certs.d"
EOF
  local reg
  for reg in "$REGISTRY" "$PRIVATE_REGISTRY"; do
    printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$reg" "$reg" \
      >"$d/certs.d/$reg/hosts.toml"
  done
  # Routed, not masqueraded: the host routes each node's pod range to it, so pods see each other's
  # and the host's real addresses (the operator scrapes pods by IP).
  cat >"$d/cni/10-bridge.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "warmstart-$n",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR_PREFIX.$i.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$d/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  printf 'nameserver %s\nsearch cluster.local\n' "$HOST_ADDR" >"$d/resolv.conf"
  # The node's own credentials: the cluster's admin kubeconfig (the nodes are test fixtures of one
  # cluster; NodeRestriction is not what is under test).
  # The same API server, at the host address (127.0.0.1 is the node's own loopback).
  sed "s#https://127.0.0.1:#https://$HOST_ADDR:#" "$KUBECONFIG_FILE" >"$d/kubeconfig"
  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$d/containerd.sock
address: $(node_ip "$n")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# The API server presents the cluster's admin certificate (kwokctl's --kubelet-client-certificate
# patch in cluster.sh); anything else is refused.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
cgroupsPerQOS: false
enforceNodeAllocatable: []
resolvConf: $d/resolv.conf
clusterDNS: [$HOST_ADDR]
clusterDomain: cluster.local
podCIDR: $POD_CIDR_PREFIX.$i.0/24
serializeImagePulls: false
maxPods: 110
evictionHard: {}
imageGCHighThresholdPercent: ${REAL_IMAGE_GC_HIGH:-95}
imageGCLowThresholdPercent: ${REAL_IMAGE_GC_LOW:-90}
imageMinimumGCAge: ${REAL_IMAGE_GC_MIN_AGE:-2m}
registerWithTaints:
- {key: nvidia.com/gpu, value: "true", effect: NoSchedule}
- {key: warmstart.dev/real-node, value: "true", effect: NoSchedule}
EOF
  # kube-proxy exits when its config file is written, even with the same content, and `up` on a running
  # node would then leave it dead: write the file only when it changes, and then restart kube-proxy.
  local proxy_config
  proxy_config=$(cat <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $n
bindAddress: $(node_ip "$n")
clusterCIDR: $POD_CIDR_PREFIX.0.0/16
clientConnection: {kubeconfig: $d/kubeconfig}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# conntrack limits are the host kernel's, shared by every node here: leave them alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  )
  if [[ ! -f $d/kube-proxy.yaml || $(<"$d/kube-proxy.yaml") != "$proxy_config" ]]; then
    printf '%s\n' "$proxy_config" >"$d/kube-proxy.yaml"
    stop_pidfile "$d/kube-proxy.pid"
  fi
}

node_net_up() { # node
  local n=$1 i netns
  i=$(node_index "$n")
  netns=$(node_netns "$n")
  if ! ip netns list 2>/dev/null | grep -q "^$netns\b"; then
    shaped_link_netns "$netns" "wsr${i}h" "wsr${i}n" "10.213.$i.1" "10.213.$i.2"
  fi
  # A shaped link from the first byte (bench/coldstart.sh --operator): env REAL_LINK_MBIT, and
  # REAL_CONN_MBIT to cap each connection as a registry or object store does.
  if [[ -n ${REAL_LINK_MBIT:-} ]]; then
    tc qdisc del dev "wsr${i}h" root 2>/dev/null || true
    shaped_link_tc "wsr${i}h" "$REAL_LINK_MBIT" "${REAL_CONN_MBIT:-$REAL_LINK_MBIT}" | tc -batch -
  fi
  ip -n "$netns" route replace default via "10.213.$i.1"
  ip route replace "$POD_CIDR_PREFIX.$i.0/24" via "10.213.$i.2" dev "wsr${i}h"
  in_node "$n" sysctl -qw net.ipv4.ip_forward=1
  # Service traffic between pods on one bridge goes through kube-proxy's rules only with these.
  modprobe br_netfilter 2>/dev/null || true
  in_node "$n" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
}

wait_containerd() { # node pidfile
  local i
  for ((i = 0; i < 200; i++)); do
    ctr --address "$(node_dir "$1")/containerd.sock" version >/dev/null 2>&1 && return 0
    pid_alive "$2" || break
    sleep 0.05
  done
  tail -n 20 "$(node_dir "$1")/logs/containerd.log" >&2
  die "containerd of $1 did not start"
}

# The node's own /var/lib/warmstart, where hostPath volumes such as the node model cache live: real
# nodes share this machine's filesystem, while a cloud node has a disk of its own (without this, a
# "cold" node would find the weights another node cached). A mount namespace per node, a slave of
# the host's (the host's mounts still show in it), persisted at $d/ns/mnt, binds $d/hostpath over
# /var/lib/warmstart (and its own /var/log); the node's processes run in it, so the kubelet's volume
# mounts are containerd's.
node_mntns_up() { # node
  local d
  d=$(node_dir "$1")
  [[ -f $d/ns/mnt ]] && nsenter --mount="$d/ns/mnt" true 2>/dev/null && return 0
  mkdir -p "$d/ns" "$d/hostpath" /var/lib/warmstart
  # unshare persists a namespace with a bind mount, which needs a private mount to sit on.
  if ! mountpoint -q "$d/ns"; then
    mount --bind "$d/ns" "$d/ns"
    mount --make-private "$d/ns"
  fi
  touch "$d/ns/mnt"
  # /var/log too: each kubelet's container GC removes the pod log directories of pods it does not know,
  # which on a shared /var/log/pods are the other nodes' (their `kubectl logs` then fail).
  mkdir -p "$d/log"
  unshare --mount="$d/ns/mnt" --propagation slave sh -c \
    "mount --bind '$d/hostpath' /var/lib/warmstart && mount --bind '$d/log' /var/log"
}

node_mntns_down() { # node: the namespace goes with its last process and this bind
  local d
  d=$(node_dir "$1")
  if [[ -e $d/ns/mnt ]]; then umount "$d/ns/mnt" 2>/dev/null || true; fi
  if mountpoint -q "$d/ns" 2>/dev/null; then umount -l "$d/ns" 2>/dev/null || true; fi
}

# The node's components: containerd, the kubelet and kube-proxy, each in the node's network namespace
# and its mount namespace (node_mntns_up).
node_ns_command() { # node -> NS_COMMAND: the prefix that runs a command in the node's namespaces
  local d
  d=$(node_dir "$1")
  NS_COMMAND=(nsenter --mount="$d/ns/mnt" --net="/run/netns/$(node_netns "$1")" --)
  # A node whose containerd runs in the host's mount namespace (made by an older script) keeps it.
  if ! mountpoint -q "$d/ns" 2>/dev/null; then NS_COMMAND=(nsenter --net="/run/netns/$(node_netns "$1")" --); fi
}

node_processes_up() { # node
  local n=$1 d
  d=$(node_dir "$n")
  if ! pid_alive "$d/containerd.pid"; then node_mntns_up "$n"; fi
  local NS_COMMAND
  node_ns_command "$n"
  if ! pid_alive "$d/containerd.pid"; then
    start_daemon "$d/containerd.pid" "$d/logs/containerd.log" "${NS_COMMAND[@]}" containerd --config "$d/containerd.toml"
    wait_containerd "$n" "$d/containerd.pid"
  fi
  if ! pid_alive "$d/kubelet.pid"; then
    local labels
    labels=$(IFS=,; echo "${REAL_LABELS[*]}")
    # env REAL_EXTRA_LABELS (k=v,...): a node a benchmark or test can select alone.
    labels+=${REAL_EXTRA_LABELS:+,$REAL_EXTRA_LABELS}
    start_daemon "$d/kubelet.pid" "$d/logs/kubelet.log" "${NS_COMMAND[@]}" "$BIN/kubelet" --config "$d/kubelet.yaml" \
      --kubeconfig "$d/kubeconfig" --hostname-override "$n" --node-ip "$(node_ip "$n")" \
      --root-dir "$d/kubelet" --cert-dir "$d/kubelet/pki" --node-labels "$labels" --v=1
  fi
  if ! pid_alive "$d/kube-proxy.pid"; then
    start_daemon "$d/kube-proxy.pid" "$d/logs/kube-proxy.log" "${NS_COMMAND[@]}" "$BIN/kube-proxy" --config "$d/kube-proxy.yaml" --v=1
  fi
}

# nvidia.com/gpu as a real cluster sees it from the device plugin: one GPU. The kubelet zeroes
# extended resources it does not manage when it (re)starts, so this runs after every kubelet start.
advertise_gpu() { # node
  kctl patch node "$1" --subresource=status --type=merge \
    -p '{"status":{"capacity":{"nvidia.com/gpu":"1"},"allocatable":{"nvidia.com/gpu":"1"}}}' >/dev/null
}

real_node_up() { # node
  local n=$1 i d
  d=$(node_dir "$n")
  if ! [[ $n =~ ^$REAL_PREFIX([0-9]|[1-9][0-9]|1[0-9][0-9])$ ]]; then
    die "a real node is named ${REAL_PREFIX}N with N below 200, not '$n'"
  fi
  mkdir -p "$d"
  write_node_config "$n"
  node_net_up "$n"
  node_processes_up "$n"
  local t
  for ((t = 0; t < READY_TIMEOUT * 2; t++)); do
    kctl get node "$n" >/dev/null 2>&1 && break
    pid_alive "$d/kubelet.pid" || { tail -n 30 "$d/logs/kubelet.log" >&2; die "the kubelet of $n exited"; }
    sleep 0.5
  done
  kctl wait --for=condition=Ready --timeout="${READY_TIMEOUT}s" "node/$n" >/dev/null ||
    { tail -n 30 "$d/logs/kubelet.log" >&2; die "$n did not become Ready"; }
  # env REAL_GPU_DELAY (seconds): the GPU shows up that long after the node is Ready, as on a cloud
  # GPU node whose driver and device plugin start after the kubelet registers.
  if [[ -n ${REAL_GPU_DELAY:-} ]]; then sleep "$REAL_GPU_DELAY"; fi
  advertise_gpu "$n"
}

# Stops a node's processes, removes its containers, mounts, namespace, link and state; keeps the
# Node object unless asked (`down` deletes the cluster anyway).
real_node_down() { # node [delete-node-object]
  local n=$1 d i netns
  [[ $n =~ ^${REAL_PREFIX}[0-9]+$ ]] || die "not a real node's name: '$n'"
  d=$(node_dir "$n")
  i=$(node_index "$n")
  netns=$(node_netns "$n")
  stop_pidfile "$d/kube-proxy.pid"
  stop_pidfile "$d/kubelet.pid"
  if pid_alive "$d/containerd.pid"; then
    local ctr_cmd=(ctr --address "$d/containerd.sock" -n k8s.io) c
    for c in $("${ctr_cmd[@]}" tasks ls -q 2>/dev/null); do "${ctr_cmd[@]}" tasks kill -s 9 "$c" >/dev/null 2>&1 || true; done
    sleep 0.5
    for c in $("${ctr_cmd[@]}" tasks ls -q 2>/dev/null); do "${ctr_cmd[@]}" tasks delete -f "$c" >/dev/null 2>&1 || true; done
  fi
  stop_pidfile "$d/containerd.pid"
  # The shims of this containerd (they outlive it): their command line names its socket.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $d/containerd.sock" 2>/dev/null || true
  # Pod network namespaces this node's containerd made and did not get to remove.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
    if [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && ip -n "$ns" route 2>/dev/null | grep -q "$POD_CIDR_PREFIX.$i."; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  node_mntns_down "$n"
  [[ -d $d ]] && umount_under "$d"
  ip route del "$POD_CIDR_PREFIX.$i.0/24" 2>/dev/null || true
  ip link del "wsr${i}h" 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
  [[ -d $d ]] && rm -rf "$d"
  if [[ ${2:-} == delete-node-object && -f $KUBECONFIG_FILE ]]; then
    kctl delete node "$n" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
}

real_down_all() {
  local n
  for n in $(real_nodes); do real_node_down "$n"; done
  # Processes of nodes whose state went before them (pid files lost): found by the paths they run with.
  pkill -9 -f -- "--config $REAL_DIR/" 2>/dev/null || true
  pkill -9 -f -- "-address $REAL_DIR/" 2>/dev/null || true
  # Pod namespaces whose node went away before they could be matched above.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && ip -n "$ns" route 2>/dev/null | grep -q "$POD_CIDR_PREFIX\." &&
      ip netns del "$ns" 2>/dev/null
  done
  host_services_down
  [[ -d $REAL_DIR ]] && umount_under "$REAL_DIR"
  rm -rf "$REAL_DIR"
  if host_address_present; then ip addr del "$HOST_ADDR/32" dev lo; fi
  return 0
}

registry_digest() { # reference -> sha256:... of the manifest the registry serves, or nothing
  skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$1" 2>/dev/null || true
}

# The shell assignments tests, benchmarks and users read (e2e/cluster.sh env). The digests pin what
# was pushed last: a node keeps an image it pulled under a tag that has since moved.
print_env() {
  cat <<EOF
KUBECONFIG=$KUBECONFIG_FILE
REGISTRY=$REGISTRY
PRIVATE_REGISTRY=$PRIVATE_REGISTRY
PRIVATE_REGISTRY_USER=$PRIVATE_REGISTRY_USER
PRIVATE_REGISTRY_PASSWORD=$PRIVATE_REGISTRY_PASSWORD
HELPER_IMAGE=$HELPER_IMAGE
SERVER_IMAGE=$SERVER_IMAGE
PAUSE_IMAGE=$PAUSE_IMAGE
S3_ENDPOINT=$S3_ENDPOINT
S3_ACCESS_KEY=$S3_ACCESS_KEY
S3_SECRET_KEY=$S3_SECRET_KEY
S3_BLOBS=$(HOST_DIR)/s3/blobs
HELPER_IMAGE_DIGEST=$(registry_digest "$HELPER_IMAGE")
SERVER_IMAGE_DIGEST=$(registry_digest "$SERVER_IMAGE")
HOST_ADDR=$HOST_ADDR
REAL_NODES="$(real_nodes | tr '\n' ' ' | sed 's/ $//')"
EOF
}
