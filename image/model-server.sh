#!/usr/bin/env bash
# Builds the model-server image (warmstart's stand-in for a vLLM serving image, for the real-node test tier)
# without a container daemon: a jlink'd runtime with only the modules the jar needs, the shared libraries it
# links against (from this Debian system), a minimal /etc with nonroot 65532, and the jar, as three OCI layers
# (base, runtime, app); then --pad-mb MiB of incompressible bytes as further layers of at most 256 MiB each
# (as a CUDA image's layers are), so that a test can make the image as heavy as a real serving image in
# proportion to its link. Everything is reproducible: files sorted, owners 0, times 0, gzip without names, and
# the padding from AES-CTR keyed by the pad size and the layer's index. The same jar, JDK and --pad-mb give
# the same layers and manifest: --check builds twice (the second time without the pad cache) and compares,
# then reads the archive back with skopeo. The image is run from a chroot of its layers before it is kept.
#
# Usage: image/model-server.sh [--check] [--tag TAG] [--pad-mb N]
#        -> model-server/target/image/model-server-TAG.oci.tar (its path is the last line on stdout)
#        env IMAGE_REPOSITORY (default warmstart/model-server), TAG (default 0.1.0)
# Pad layers are kept in model-server/target/image/pad-cache/ (they depend only on their size and index).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=image/lib/oci.sh
source image/lib/oci.sh

REPOSITORY=${IMAGE_REPOSITORY:-warmstart/model-server}
TAG=${TAG:-0.1.0}
CHECK=0
PAD_MB=0
PAD_SHARES=""
usage() { echo "usage: image/model-server.sh [--check] [--tag TAG] [--pad-mb N [--pad-shares P,P,...]]" >&2; exit 2; }
while (($#)); do
  case $1 in
    --check) CHECK=1 ;;
    --tag) (($# > 1)) || usage; TAG=$2; shift ;;
    --pad-mb) if (($# < 2)) || [[ ! $2 =~ ^[0-9]+$ ]]; then usage; fi; PAD_MB=$((10#$2)); shift ;;
    # The pad's split into layers, in percent (bench/coldstart.sh: 3,7,45,35,10 like a CUDA serving
    # image's base OS, system libraries, CUDA, Python packages and server); default 256 MiB layers.
    --pad-shares) if (($# < 2)) || [[ ! $2 =~ ^[0-9]+(,[0-9]+)*$ ]]; then usage; fi; PAD_SHARES=$2; shift ;;
    *) usage ;;
  esac
  shift
done
JAR="model-server/target/model-server.jar"
OUT="model-server/target/image"
PAD_CACHE=$OUT/pad-cache
PAD_LAYER_MB=256
ENTRYPOINT='["/opt/java/bin/java","-XX:+UseSerialGC","-XX:TieredStopAtLevel=1","-Xshare:auto","-jar","/app/model-server.jar"]'
log() { echo "model-server image: $*" >&2; }

# -f: this module (and the parent pom) only, whatever state the other modules' poms are in.
[[ -f $JAR ]] || { log "building $JAR"; nice -n 10 mvn -B -q -f model-server/pom.xml package -DskipTests; }
command -v jlink >/dev/null || { log "jlink (a full JDK 17) is required"; exit 1; }
command -v openssl >/dev/null || { log "openssl is required for the pad layers"; exit 1; }
# What the jar needs (java.base and jdk.httpserver as of writing): nothing more goes into the runtime.
MODULES=$(jdeps --print-module-deps --ignore-missing-deps --multi-release 17 "$JAR")

# One pad layer: /var/lib/warmstart-pad/layer-I.bin of MIB MiB from AES-128-CTR over zeros, keyed by the
# image's pad size and the layer's index (so the layers differ from each other: no blob is shared), gzip -1.
pad_layer() { # work total-mb index mib use-cache
  local w=$1 total=$2 i=$3 mib=$4 cached name key dir diff_id
  name=$(printf 'pad-%dmb-%02d-%dmib' "$total" "$i" "$mib")
  cached=$PAD_CACHE/$name
  if [[ $5 == 1 && -f $cached.tar.gz && -f $cached.diffid ]]; then
    cp "$cached.tar.gz" "$w/$name.tar.gz"
    oci_add_gz "$w" "$w/$name.tar.gz" "$(cat "$cached.diffid")"
    return
  fi
  key=$(printf 'warmstart model-server pad: %d MiB, layer %d' "$total" "$i" | sha256sum | cut -c1-32)
  dir=$w/$name
  rm -rf "$dir" && mkdir -p "$dir/var/lib/warmstart-pad"
  # head closes the pipe once it has its bytes: openssl's SIGPIPE is expected.
  { openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null || true; } |
    head -c $((mib << 20)) >"$dir/var/lib/warmstart-pad/layer-$(printf %02d "$i").bin"
  [[ $(stat -c %s "$dir/var/lib/warmstart-pad/layer-$(printf %02d "$i").bin") == $((mib << 20)) ]] ||
    { log "openssl gave fewer bytes than $mib MiB"; return 1; }
  oci_layer "$dir" "$w/$name.tar"
  rm -rf "$dir"
  diff_id=$(oci_sha "$w/$name.tar")
  nice -n 10 gzip -n -1 "$w/$name.tar"
  if [[ $5 == 1 ]]; then
    mkdir -p "$PAD_CACHE"
    cp "$w/$name.tar.gz" "$cached.tar.gz.tmp" && mv "$cached.tar.gz.tmp" "$cached.tar.gz"
    echo "$diff_id" >"$cached.diffid"
  fi
  oci_add_gz "$w" "$w/$name.tar.gz" "$diff_id"
}

build() { # workdir use-pad-cache -> workdir/image.oci.tar, OCI_MANIFEST, OCI_LAYER_DIGESTS
  local w=$1 base=$1/base runtime=$1/runtime app=$1/app
  rm -rf "$w" && mkdir -p "$base" "$runtime/opt" "$app/app"
  oci_begin "$w"

  nice -n 10 jlink --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages --compress=2 \
    --output "$runtime/opt/java"
  local f
  for f in "$runtime"/opt/java/lib/security/* "$runtime"/opt/java/conf/security/*; do
    if [[ -L $f ]]; then cp --remove-destination -L "$f" "$f"; fi
  done
  oci_copy_libs "$runtime/opt/java" "$base"
  oci_base_etc "$base"
  cp "$JAR" "$app/app/model-server.jar"
  chmod 0644 "$app/app/model-server.jar"

  oci_add_layer "$w" "$base" 9
  oci_add_layer "$w" "$runtime" 9
  oci_add_layer "$w" "$app" 9
  local left=$PAD_MB i=1 mib share shares=()
  if [[ -n $PAD_SHARES ]]; then
    IFS=, read -r -a shares <<<"$PAD_SHARES"
    for share in "${shares[@]}"; do
      mib=$((PAD_MB * share / 100))
      if ((i == ${#shares[@]})); then mib=$left; fi # the rounding goes to the last layer
      if ((mib > 0)); then pad_layer "$w" "$PAD_MB" "$i" "$mib" "$2"; fi
      left=$((left - mib)) i=$((i + 1))
    done
  fi
  while ((left > 0)); do
    mib=$((left < PAD_LAYER_MB ? left : PAD_LAYER_MB))
    pad_layer "$w" "$PAD_MB" "$i" "$mib" "$2"
    left=$((left - mib)) i=$((i + 1))
  done
  oci_finish "$w" "$REPOSITORY" "$TAG" "$(printf '{"User":"65532:65532","ExposedPorts":{"8000/tcp":{}},"Env":["PATH=/opt/java/bin:/usr/bin:/bin","JAVA_HOME=/opt/java"],"Entrypoint":%s,"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"warmstart model-server","org.opencontainers.image.description":"A stand-in for a vLLM serving image (OpenAI completions, vLLM metrics)","org.opencontainers.image.version":"%s","dev.warmstart.pad-mb":"%s"}}' \
    "$ENTRYPOINT" "$TAG" "$PAD_MB")"
}

# Runs the entrypoint from a chroot of the base, runtime and app layers as 65532 against a small model
# directory (with checksums.sha256) inside the root: /health must turn 200 and a completion must answer.
# The pad layers are checked whole (gzip) and by their contents' sizes.
smoke() { # workdir
  local w=$1 root=$1/rootfs digest
  if [[ $(id -u) != 0 ]]; then log "not root: cannot chroot into the image to run it"; return 1; fi
  oci_rootfs "$w" "$root" "${OCI_LAYER_DIGESTS[@]:0:3}"
  local padded=0
  for digest in "${OCI_LAYER_DIGESTS[@]:3}"; do
    padded=$((padded + $(tar -tvzf "$w/oci/blobs/sha256/$digest" | awk '$1 ~ /^-/ {s += $3} END {print s + 0}')))
  done
  ((padded == PAD_MB << 20)) || { log "the pad layers hold $padded bytes, not $PAD_MB MiB"; return 1; }

  local model=$root/tmp/model
  mkdir -p "$model/weights"
  printf '{"_name_or_path": "warmstart/smoke-model"}\n' >"$model/config.json"
  head -c 3000000 /dev/zero >"$model/weights/model.safetensors"
  (cd "$model" && sha256sum config.json weights/model.safetensors >checksums.sha256)

  local entry=() e
  for e in $(tr -d '[]"' <<<"$ENTRYPOINT" | tr ',' ' '); do entry+=("$e"); done
  local start pid jvm port code i
  start=$(date +%s%N)
  # The log exists before the server does: the loop below may read it before the background job has opened it.
  : >"$w/smoke.log"
  # unshare itself in the background (not a function: that would be a subshell), so that $! is its pid.
  unshare --mount --pid --fork --mount-proc="$root/proc" chroot --userspec=65532:65532 "$root" "${entry[@]}" \
    --host 127.0.0.1 --port 0 --token-delay-ms 1 /tmp/model >"$w/smoke.log" 2>&1 &
  pid=$!
  port=
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$w/smoke.log")
    [[ -z $port ]] || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  code=000
  if [[ -n $port ]]; then
    for ((i = 0; i < 300; i++)); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
      [[ $code != 200 ]] || break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
  fi
  local ready_ms=$((($(date +%s%N) - start) / 1000000)) answer=
  if [[ $code == 200 ]]; then
    answer=$(curl -s "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"smoke test","max_tokens":3}' || true)
    curl -s "http://127.0.0.1:$port/metrics" >"$w/smoke.metrics" || true
  fi
  jvm=$(oci_namespace_init "$pid" || true)
  if [[ -n $jvm ]]; then kill -TERM "$jvm" 2>/dev/null || true; fi
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    [[ -z $jvm ]] || kill -KILL "$jvm" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cat "$w/smoke.log" >&2; log "the server did not stop within 1 s of SIGTERM"; return 1
  fi
  wait "$pid" 2>/dev/null || true
  if [[ $code != 200 ]]; then cat "$w/smoke.log" >&2; log "the server in the image did not become healthy"; return 1; fi
  [[ $answer == *'"object":"text_completion"'* && $answer == *'"model":"warmstart/smoke-model"'* ]] ||
    { cat "$w/smoke.log" >&2; log "unexpected completion: $answer"; return 1; }
  grep -q '^vllm:request_success_total{model_name="warmstart/smoke-model"} 1$' "$w/smoke.metrics" ||
    { cat "$w/smoke.metrics" >&2; log "unexpected metrics"; return 1; }
  grep -q 'loaded warmstart/smoke-model: 3 files' "$w/smoke.log" || { cat "$w/smoke.log" >&2; return 1; }
  log "ran from the image as 65532: healthy $ready_ms ms after start, completion and metrics answered, SIGTERM honoured"
  rm -rf "$root"
}

mkdir -p "$OUT"
build "$OUT/work" 1
smoke "$OUT/work"
ARCHIVE=$OUT/model-server-$TAG.oci.tar
mv "$OUT/work/image.oci.tar" "$ARCHIVE"
MANIFEST=$OCI_MANIFEST
if ((CHECK)); then
  first=("${OCI_LAYER_DIGESTS[@]}")
  build "$OUT/work2" 0
  [[ $OCI_MANIFEST == "$MANIFEST" ]] ||
    { log "error: a second build gave manifest $OCI_MANIFEST (layers ${OCI_LAYER_DIGESTS[*]}), not $MANIFEST (${first[*]})"; exit 1; }
  rm -rf "$OUT/work2"
  log "a second build (pad layers made afresh) is identical: manifest sha256:$MANIFEST"
  oci_read_back "$ARCHIVE" "$MANIFEST"
  log "skopeo reads the archive: manifest sha256:$MANIFEST"
fi
rm -rf "$OUT/work"
echo "sha256:$MANIFEST" >"$OUT/model-server-$TAG.digest"
log "$REPOSITORY:$TAG manifest sha256:$MANIFEST, $((${#OCI_LAYER_DIGESTS[@]} - 3)) pad layers ($PAD_MB MiB), archive $(du -h "$ARCHIVE" | cut -f1)"
echo "$ARCHIVE"
