#!/usr/bin/env bash
# Installs what bench/autoscale.sh needs besides the e2e cluster tools, once, outside the repo:
# Prometheus from Debian's packages and prometheus-adapter (the external-metrics API server an
# HPA reads) built from its upstream Go module. A second run finds them and returns at once.
#
# Usage: bench/autoscale-tools.sh     print the bin directory holding prometheus-adapter
set -euo pipefail

ADAPTER_VERSION=${ADAPTER_VERSION:-v0.12.0}
CACHE=${WARMSTART_CACHE:-$HOME/.cache/warmstart}
BIN=$CACHE/bin/prometheus-adapter-$ADAPTER_VERSION
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
# Modules and build cache shared with the cluster tools, so nothing is fetched or compiled twice.
export GOCACHE=${GOCACHE:-$HOME/.cache/warmstart/go-build} GOMODCACHE=${GOMODCACHE:-$HOME/.cache/warmstart/go-mod}

log() { echo "autoscale-tools: $*" >&2; }

install_prometheus() {
  command -v prometheus >/dev/null && return 0
  [[ $(id -u) == 0 ]] || { log "not root: install Debian's prometheus package yourself"; exit 1; }
  log "installing Debian's prometheus package"
  if ! apt-cache policy prometheus 2>/dev/null | grep -q Candidate:; then apt-get update -qq >/dev/null; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a system-wide Prometheus on :9090; the benchmark runs its own on loopback.
  if command -v systemctl >/dev/null && systemctl is-active -q prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
}

build_adapter() {
  [[ -x $BIN/prometheus-adapter ]] && return 0
  command -v go >/dev/null || { log "Go is required to build prometheus-adapter"; exit 1; }
  log "building prometheus-adapter $ADAPTER_VERSION (first time only)"
  # Built inside its own module (its go.mod and go.sum pin every dependency); `go install m@v`
  # would also ask the module proxy for the version list, which is not always served.
  local dir src
  src=$(go mod download -json "sigs.k8s.io/prometheus-adapter@$ADAPTER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  dir=$CACHE/src/prometheus-adapter-$ADAPTER_VERSION
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$src/." "$dir" && chmod -R u+w "$dir" && cd "$dir"
  mkdir -p "$BIN"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/prometheus-adapter.tmp" ./cmd/adapter
  mv "$BIN/prometheus-adapter.tmp" "$BIN/prometheus-adapter"
}

mkdir -p "$CACHE/bin"
exec 9>"$CACHE/.autoscale-tools.lock"; flock 9
install_prometheus
build_adapter
echo "$BIN"
