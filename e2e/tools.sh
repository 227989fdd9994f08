#!/usr/bin/env bash
# Builds the upstream cluster tools once and caches them outside the repo:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and for the real nodes kubelet and
# kube-proxy (k8s.io/kubernetes), etcd, kwok, kwokctl, helm and CoreDNS (the real nodes' cluster DNS). A second run finds them and returns at once.
# Also stages etcd, kube-apiserver and kubectl where io.fabric8:kube-api-test looks,
# so *IT tests start a real API server without any download.
#
# Usage: e2e/tools.sh            build what is missing, print the bin directory
#        e2e/tools.sh --print    print the bin directory only
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}

CACHE=${WARMSTART_CACHE:-$HOME/.cache/warmstart}
BIN=$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOCACHE=${GOCACHE:-$CACHE/go-build} GOMODCACHE=${GOMODCACHE:-$CACHE/go-mod}

log() { echo "tools: $*" >&2; }

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy) missing=() b
  for b in "${want[@]}"; do [[ -x $BIN/$b ]] || missing+=("$b"); done
  (( ${#missing[@]} )) || return 0
  log "building Kubernetes v$K8S_VERSION ${missing[*]} (first time only, ~20 min on 2 cores)"
  local dir=$CACHE/src/kubernetes-$K8S_VERSION staging=v0.${K8S_VERSION#1.} minor
  minor=$(cut -d. -f2 <<<"$K8S_VERSION")
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init local/k8sbins >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # k8s.io/kubernetes requires its staging modules at v0.0.0 through replaces that a
  # dependent module does not inherit: pin each one to the matching published version.
  local m
  while read -r m; do
    go mod edit -replace="$m=$m@$staging"
  done < <(awk '$1 ~ /^k8s.io\// && $2=="v0.0.0" {print $1}' "$gomod")
  local p=k8s.io/kubernetes/cmd
  go get "$p/kube-apiserver@v$K8S_VERSION" >/dev/null
  # kwokctl and kube-api-test parse --version: stamp it the way the official build does.
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ld+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  ld+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  for b in "${missing[@]}"; do
    log "  go build $b"
    CGO_ENABLED=0 go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$BIN/$b.tmp" "$p/$b"
    mv "$BIN/$b.tmp" "$BIN/$b"
  done
}

build_etcd() {
  [[ -x $BIN/etcd ]] && return 0
  log "building etcd $ETCD_VERSION"
  # etcd's server module carries replace directives, so it cannot be `go install`ed;
  # a wrapper module calling etcdmain.Main takes the published api/client versions instead.
  local dir=$CACHE/src/etcd-$ETCD_VERSION
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init local/etcd >/dev/null 2>&1
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
  go mod tidy >/dev/null
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" . && mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_go_install() { # name module version [ldflags]
  local name=$1 module=$2 version=$3 ld=${4:-}
  [[ -x $BIN/$name ]] && return 0
  log "building $name $version"
  GOBIN=$BIN CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $ld" "$module@$version"
}

install_debian_packages() {
  # qemu-user-static runs the arm64 pause binary in its unit test; prometheus is the real
  # Prometheus the autoscaling E2E test and bench/autoscale.sh start on loopback; lua5.1 (the Lua
  # of Argo CD's gopher-lua) runs the Argo CD health checks' tests; shellcheck checks the scripts;
  # skopeo reads the operator image archive back (image/build.sh --check) and pushes images to the
  # real nodes' registry; the real nodes (e2e/lib/real-nodes.sh) run Debian's containerd, runc and CNI
  # plugins, pull from docker-registry (htpasswd from apache2-utils for its private instance), and
  # kube-proxy programs iptables (conntrack for its UDP clean-up).
  local missing=()
  command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v lua5.1 >/dev/null || missing+=(lua5.1)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v skopeo >/dev/null || missing+=(skopeo)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  (( ${#missing[@]} )) || return 0
  if [[ $(id -u) != 0 ]]; then
    log "not root: install ${missing[*]} yourself (Debian packages)"
    return 0
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

stage_kube_api_test() {
  # kube-api-test wants <dir>/k8s/<X.Y.Z>-linux-<arch>/{etcd,kube-apiserver,kubectl}.
  local arch dir
  arch=$(go env GOARCH)
  dir=${KUBE_API_TEST_DIR:-$HOME/.kubeapitest}/k8s/$K8S_VERSION-linux-$arch
  mkdir -p "$dir"
  for b in etcd kube-apiserver kubectl; do ln -sfn "$BIN/$b" "$dir/$b"; done
}

if [[ ${1:-} == --print ]]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { log "Go is required to build the cluster tools"; exit 1; }
mkdir -p "$BIN"
# Concurrent callers (CI and a developer shell) must not build into the same place at once.
exec 9>"$CACHE/.tools.lock"; flock 9
install_debian_packages
build_etcd
build_go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
build_go_install kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION"
build_go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
build_go_install coredns github.com/coredns/coredns "$COREDNS_VERSION"
build_kubernetes
stage_kube_api_test
echo "$BIN"
