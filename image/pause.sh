#!/usr/bin/env bash
# Builds the pod-sandbox ("pause") image for the real-node test tier's kubelets, without a container daemon:
# one layer holding only /pause, the project's static pause binary (written by `warmstart.jar install-pause`:
# it blocks until SIGTERM, SIGINT or SIGHUP and exits 0), run as 65535:65535 like the upstream pause image.
# The layer and manifest are reproducible; the image is run from a chroot of its layer before it is kept, and
# read back with skopeo. With --check it is built twice and the manifests compared.
#
# Usage: image/pause.sh [--check] [--tag TAG]
#        -> operator/target/image/pause-TAG.oci.tar (its path is the last line on stdout)
#        env IMAGE_REPOSITORY (default warmstart/pause), TAG (default 3.10)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=image/lib/oci.sh
source image/lib/oci.sh

REPOSITORY=${IMAGE_REPOSITORY:-warmstart/pause}
TAG=${TAG:-3.10}
CHECK=0
usage() { echo "usage: image/pause.sh [--check] [--tag TAG]" >&2; exit 2; }
while (($#)); do
  case $1 in
    --check) CHECK=1 ;;
    --tag) (($# > 1)) || usage; TAG=$2; shift ;;
    *) usage ;;
  esac
  shift
done
JAR="operator/target/warmstart.jar"
OUT="operator/target/image"
log() { echo "pause image: $*" >&2; }

# -f: this module (and the parent pom) only, whatever state the other modules' poms are in.
[[ -f $JAR ]] || { log "building $JAR"; nice -n 10 mvn -B -q -f operator/pom.xml package -DskipTests; }
ARCH=$(oci_arch)

build() { # workdir -> workdir/image.oci.tar, OCI_MANIFEST, OCI_LAYER_DIGESTS
  local w=$1
  rm -rf "$w" && mkdir -p "$w/rootfs"
  oci_begin "$w"
  java -jar "$JAR" install-pause --arch "$ARCH" "$w/rootfs/pause" >&2
  [[ $(find "$w/rootfs" -mindepth 1 | wc -l) == 1 ]] || { log "install-pause left other files"; return 1; }
  chmod 0555 "$w/rootfs/pause"
  oci_add_layer "$w" "$w/rootfs" 9
  oci_finish "$w" "$REPOSITORY" "$TAG" "$(printf '{"User":"65535:65535","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":["/pause"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"warmstart pause","org.opencontainers.image.description":"Pod sandbox image: the static pause binary of warmstart install-pause","org.opencontainers.image.version":"%s"}}' "$TAG")"
}

# /pause from a chroot of the layer as 65535, as pid 1 of its own pid namespace (as in a pod sandbox): it
# must still run after a second, then exit 0 on SIGTERM (and likewise on SIGINT).
smoke() { # workdir
  local w=$1 root=$1/root pid init sig i status
  if [[ $(id -u) != 0 ]]; then log "not root: cannot chroot into the image to run it"; return 1; fi
  oci_rootfs "$w" "$root" "${OCI_LAYER_DIGESTS[@]}"
  for sig in TERM INT; do
    # unshare itself in the background (not through a function), so that $! is its pid.
    unshare --mount --pid --fork --mount-proc="$root/proc" chroot --userspec=65535:65535 "$root" /pause \
      >"$w/smoke.log" 2>&1 &
    pid=$!
    init=$(oci_namespace_init "$pid") || { wait "$pid" || true; log "/pause did not start"; return 1; }
    sleep 1
    if ! kill -0 "$init" 2>/dev/null; then
      status=0; wait "$pid" || status=$?
      cat "$w/smoke.log" >&2; log "/pause exited by itself (status $status)"; return 1
    fi
    [[ $(ps -o user= -p "$init" | tr -d ' ') == 65535 ]] || { kill -KILL "$init"; log "/pause does not run as 65535"; return 1; }
    kill "-$sig" "$init"
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$init" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      log "/pause did not exit within 1 s of SIG$sig"; return 1
    fi
    status=0; wait "$pid" || status=$?
    ((status == 0)) || { cat "$w/smoke.log" >&2; log "/pause exited $status on SIG$sig, not 0"; return 1; }
  done
  log "ran /pause from the image as 65535 (pid 1 of its namespace): alive until SIGTERM/SIGINT, then exit 0"
  rm -rf "$root"
}

mkdir -p "$OUT"
build "$OUT/pause-work"
smoke "$OUT/pause-work"
ARCHIVE=$OUT/pause-$TAG.oci.tar
mv "$OUT/pause-work/image.oci.tar" "$ARCHIVE"
MANIFEST=$OCI_MANIFEST
if ((CHECK)); then
  build "$OUT/pause-work2"
  [[ $OCI_MANIFEST == "$MANIFEST" ]] || { log "error: a second build gave manifest $OCI_MANIFEST, not $MANIFEST"; exit 1; }
  rm -rf "$OUT/pause-work2"
  log "a second build is identical"
fi
oci_read_back "$ARCHIVE" "$MANIFEST"
rm -rf "$OUT/pause-work"
echo "sha256:$MANIFEST" >"$OUT/pause-$TAG.digest"
log "$REPOSITORY:$TAG manifest sha256:$MANIFEST ($(stat -c %s "$ARCHIVE") bytes; skopeo reads it)"
echo "$ARCHIVE"
