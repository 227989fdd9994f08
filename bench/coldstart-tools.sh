#!/usr/bin/env bash
# Installs what bench/coldstart.sh needs, once: Debian's containerd (the node's container runtime,
# driven with ctr) and docker-registry (the distribution registry, v2 API), plus the tools the
# benchmark shares with bench/fetch.sh (iproute2 for the namespace and tc, curl, python3 for timing).
# Idempotent: a second run finds everything installed and returns at once. Neither package's
# system service is used or touched; the benchmark runs its own instances (own sockets, ports and
# state directories), so a containerd or registry already running on the machine is left alone.
#
# Usage: bench/coldstart-tools.sh
set -euo pipefail

PACKAGES=(containerd docker-registry iproute2 curl python3)

log() { echo "coldstart-tools: $*" >&2; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
[[ $(id -u) == 0 ]] || { log "not root: install Debian's ${missing[*]} yourself"; exit 1; }
log "installing ${missing[*]}"
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq >/dev/null
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed"
