#!/usr/bin/env bash
# Builds the operator image without a container daemon or registry: a jlink'd Java runtime, the
# shared libraries it links against (taken from this Debian system's packages), a minimal /etc
# and the jar, laid out as three OCI layers (base, runtime, app) in an OCI image archive that
# `ctr images import`, `kind load image-archive`, `skopeo copy oci-archive:...` and `podman load`
# read. The build is reproducible but for the class-data-sharing layer (see cds_archive): files
# sorted, owners 0/65532, times 0, gzip without names; the same jar and JDK give the same base,
# runtime and app layers, and with --check the image is built twice and they are compared.
#
# Usage: image/build.sh [--check] [--tag TAG] [--kubeconfig FILE]  -> operator/target/image/warmstart-TAG.oci.tar
#        env IMAGE_REPOSITORY (default warmstart/warmstart), TAG (default 0.1.0)
# --kubeconfig: also run the operator from the image (chroot, host network) against that cluster,
# watching one empty namespace, until /readyz answers: TLS, HTTP server and informers all work.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REPOSITORY=${IMAGE_REPOSITORY:-warmstart/warmstart}
TAG=${TAG:-0.1.0}
CHECK=0
SMOKE_KUBECONFIG=
while (($#)); do
  case $1 in
    --check) CHECK=1 ;;
    --tag) TAG=$2; shift ;;
    --kubeconfig) SMOKE_KUBECONFIG=$2; shift ;;
    *) echo "usage: image/build.sh [--check] [--tag TAG] [--kubeconfig FILE]" >&2; exit 2 ;;
  esac
  shift
done
JAR=operator/target/warmstart.jar
OUT=operator/target/image
# What the jar needs (jdeps --print-module-deps --ignore-missing-deps --multi-release 17), plus
# jdk.crypto.ec for TLS with elliptic curves (API servers, S3, the Hub) and java.naming for DNS.
MODULES=java.base,java.compiler,java.desktop,java.management,java.naming,java.net.http,java.sql,jdk.crypto.ec,jdk.httpserver,jdk.management,jdk.unsupported
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
log() { echo "image: $*" >&2; }

[[ -f $JAR ]] || { log "building $JAR"; mvn -B -q package -DskipTests -pl operator; }
command -v jlink >/dev/null || { log "jlink (a full JDK 17) is required"; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
# A layer from a directory: a tar that depends only on the files' contents and modes.
layer() { # dir out.tar
  tar --create --file="$2" --directory="$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
}

build() { # workdir -> writes workdir/image.oci.tar
  local w=$1 base=$1/base runtime=$1/runtime app=$1/app cds=$1/cds
  rm -rf "$w" && mkdir -p "$base" "$runtime/opt" "$app/app" "$cds/app" "$w/oci/blobs/sha256"

  # Runtime: jlink, then the certificates as real files (Debian's JDK links them into /etc).
  jlink --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages --compress=2 \
    --output "$runtime/opt/java"
  local f
  for f in "$runtime"/opt/java/lib/security/* "$runtime"/opt/java/conf/security/*; do
    if [[ -L $f ]]; then cp --remove-destination -L "$f" "$f"; fi
  done

  # Base: the libraries the runtime loads, from this system's (Debian) packages, at their paths.
  local libs
  libs=$(find "$runtime/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) -print0 |
    xargs -0 ldd 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' |
    grep -v "^$(realpath "$runtime")/" | sort -u)
  for f in $libs; do
    mkdir -p "$base$(dirname "$f")"
    cp -L "$f" "$base$f"
  done
  # /lib64 -> ld.so as on Debian (merged /usr); the dynamic loader path is absolute in every ELF.
  mkdir -p "$base/etc" "$base/tmp" "$base/home/nonroot"
  chmod 1777 "$base/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$base/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
  printf 'hosts: files dns\n' >"$base/etc/nsswitch.conf"
  find "$base" "$runtime" -exec touch -h -d @0 {} +

  cp "$JAR" "$app/app/warmstart.jar"
  chmod 0644 "$app/app/warmstart.jar"
  # The archive records the jar's size and mtime and is refused if they differ: give it the layer's mtime.
  touch -d @0 "$app/app/warmstart.jar"
  cds_archive "$w" "$base" "$runtime" "$app" "$cds"

  local diff_ids=() layers=() docker_layers=() name tarball digest
  LAYER_DIGESTS=()
  for name in base runtime app cds; do
    tarball=$w/$name.tar
    layer "$w/$name" "$tarball"
    diff_ids+=("\"sha256:$(sha "$tarball")\"")
    gzip -n -9 "$tarball"
    digest=$(sha "$tarball.gz")
    mv "$tarball.gz" "$w/oci/blobs/sha256/$digest"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$(stat -c %s "$w/oci/blobs/sha256/$digest")}")
    docker_layers+=("\"blobs/sha256/$digest\"")
    LAYER_DIGESTS+=("$digest")
  done
  local IFS=,
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"User":"65532:65532","Env":["PATH=/opt/java/bin:/usr/bin:/bin","JAVA_HOME=/opt/java"],"Entrypoint":["/opt/java/bin/java","-jar","/app/warmstart.jar"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"warmstart","org.opencontainers.image.version":"%s"}},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$TAG" "${diff_ids[*]}" >"$w/config.json"
  local config
  config=$(sha "$w/config.json")
  mv "$w/config.json" "$w/oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config" "$(stat -c %s "$w/oci/blobs/sha256/$config")" "${layers[*]}" >"$w/manifest.json"
  MANIFEST=$(sha "$w/manifest.json")
  local size
  size=$(stat -c %s "$w/manifest.json")
  mv "$w/manifest.json" "$w/oci/blobs/sha256/$MANIFEST"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s:%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$MANIFEST" "$size" "$REPOSITORY" "$TAG" "$TAG" >"$w/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci/oci-layout"
  # Docker's archive manifest too, so `docker load` takes the same file.
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s:%s"],"Layers":[%s]}]' \
    "$config" "$REPOSITORY" "$TAG" "${docker_layers[*]}" >"$w/oci/manifest.json"
  find "$w/oci" -exec touch -h -d @0 {} +
  layer "$w/oci" "$w/image.oci.tar"
}

# Class-data sharing for fetch-model, which runs on every cold start and spends half its start-up loading
# classes (the AWS SDK's): a training run in the image's own runtime lists the classes it loads
# (warmstart cds-training: two fetches through the node cache from an in-process S3 stand-in), and a static
# dump of that list writes /app/warmstart.jsa, which HelperSettings.FETCH_MODEL_JVM_OPTIONS names. The
# archive is the image's last layer and the only part that is not reproducible: a JDK 17 dump lays out its
# tables differently on every run. --check compares the other layers.
cds_archive() { # workdir base runtime app cds -> cds/app/warmstart.jsa
  local root=$1/cdsroot
  rm -rf "$root" && mkdir -p "$root"
  cp -a "$2/." "$3/." "$4/." "$root/"
  mkdir -p "$root/proc" "$root/tmp"
  chmod 1777 "$root/tmp"
  # The GC must be the runtime's (FETCH_MODEL_JVM_OPTIONS) for the archive to be used.
  in_root() { unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root" /opt/java/bin/java \
    -XX:+UseSerialGC -Xshare:auto "$@"; }
  # The list as the run wrote it: its @lambda-proxy and @lambda-form-invoker lines put the lambdas'
  # classes in the archive too (about 1,000 of them; spinning them up at run time cost 0.2 s of start-up).
  in_root -XX:DumpLoadedClassList=/tmp/classes.lst -jar /app/warmstart.jar cds-training >"$1/cds.log" 2>&1 ||
    { cat "$1/cds.log" >&2; log "the class-data-sharing training run failed"; return 1; }
  in_root -Xshare:dump -XX:SharedClassListFile=/tmp/classes.lst -XX:SharedArchiveFile=/app/warmstart.jsa \
    -cp /app/warmstart.jar >>"$1/cds.log" 2>&1 ||
    { cat "$1/cds.log" >&2; log "the class-data-sharing dump failed"; return 1; }
  cp "$root/app/warmstart.jsa" "$5/app/warmstart.jsa"
  chmod 0644 "$5/app/warmstart.jsa"
  rm -rf "$root"
}

# Runs the image's entrypoint in a chroot of its layers as its user: the runtime and libraries are complete.
smoke() { # workdir
  local root=$1/rootfs digest
  rm -rf "$root" && mkdir -p "$root"
  for digest in "${LAYER_DIGESTS[@]}"; do
    tar -xzf "$1/oci/blobs/sha256/$digest" -C "$root"
  done
  if [[ $(id -u) != 0 ]]; then
    log "not root: cannot chroot into the image to run it"; return 1
  fi
  mkdir -p "$root/proc"
  # A container has /proc (the loader resolves $ORIGIN through /proc/self/exe): a private one here.
  in_image() { unshare --mount --pid --fork --mount-proc="$root/proc" chroot --userspec=65532:65532 "$root" "$@"; }
  in_image /opt/java/bin/java -jar /app/warmstart.jar --help >"$1/smoke.out" 2>&1 ||
    { cat "$1/smoke.out" >&2; log "the image's java did not run"; return 1; }
  grep -q 'fetch-model' "$1/smoke.out" || { cat "$1/smoke.out" >&2; return 1; }
  # fetch-model's class-data-sharing archive maps in this runtime (-Xshare:on fails rather than ignore it).
  in_image /opt/java/bin/java -XX:+UseSerialGC -Xshare:on -XX:SharedArchiveFile=/app/warmstart.jsa \
    -jar /app/warmstart.jar --help >/dev/null 2>"$1/smoke.err" ||
    { cat "$1/smoke.err" >&2; log "the class-data-sharing archive does not map"; return 1; }
  in_image /opt/java/bin/java -XshowSettings:properties -version 2>&1 |
    grep -q 'java.home = /opt/java' || { log "unexpected java.home"; return 1; }
  # TLS trust store present and readable by the image's user (fetch-model talks HTTPS).
  [[ -s $root/opt/java/lib/security/cacerts && ! -L $root/opt/java/lib/security/cacerts ]]
  [[ -z $SMOKE_KUBECONFIG ]] || run_operator "$root"
}

run_operator() { # rootfs
  local root=$1 port=18099 pid i
  kubectl_bin=$(e2e/tools.sh --print)/kubectl
  "$kubectl_bin" --kubeconfig "$SMOKE_KUBECONFIG" config view --raw --flatten >"$root/tmp/kubeconfig"
  chmod 0644 "$root/tmp/kubeconfig"
  # A freshly made cluster has no CRDs yet (the chart installs them later): the operator's informers
  # would get 404 and never become ready.
  "$kubectl_bin" --kubeconfig "$SMOKE_KUBECONFIG" apply --server-side --force-conflicts \
    --field-manager=warmstart-image-smoke -f charts/warmstart/crds/ >/dev/null
  "$kubectl_bin" --kubeconfig "$SMOKE_KUBECONFIG" wait --for=condition=Established --timeout=60s \
    -f charts/warmstart/crds/ >/dev/null
  # unshare itself in the background, so that $! is its pid and the JVM is its only child.
  KUBECONFIG=/tmp/kubeconfig unshare --mount --pid --fork --mount-proc="$root/proc" \
    chroot --userspec=65532:65532 "$root" /opt/java/bin/java -jar /app/warmstart.jar operator \
    --http-port=$port --namespaces=warmstart-image-smoke >"$root/tmp/operator.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 120; i++)); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; then break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  # unshare ignores SIGTERM while its child runs: stop the JVM (the namespace's init), unshare follows.
  local jvm
  jvm=$(ps -o pid= --ppid "$pid" | tr -d ' ')
  if [[ -n $jvm ]]; then kill -KILL "$jvm" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  if [[ $code != 200 ]]; then
    cat "$root/tmp/operator.log" >&2; log "the operator in the image did not become ready"; return 1
  fi
  log "the operator ran from the image against the cluster: /readyz 200"
}

mkdir -p "$OUT"
build "$OUT/work"
smoke "$OUT/work"
mv "$OUT/work/image.oci.tar" "$OUT/warmstart-$TAG.oci.tar"
if ((CHECK)); then
  first=("${LAYER_DIGESTS[@]:0:3}")
  first_manifest=$MANIFEST
  build "$OUT/work2"
  [[ ${LAYER_DIGESTS[*]:0:3} == "${first[*]}" ]] ||
    { log "error: a second build gave layers ${LAYER_DIGESTS[*]:0:3}, not ${first[*]}"; exit 1; }
  rm -rf "$OUT/work2"
  MANIFEST=$first_manifest
  log "second build identical but for the class-data-sharing layer"
  # An independent reader of OCI archives (skopeo, from e2e/tools.sh) finds the same image.
  read_back=$(skopeo inspect --raw "oci-archive:$OUT/warmstart-$TAG.oci.tar" | sha256sum | cut -d' ' -f1)
  [[ $read_back == "$MANIFEST" ]] || { log "error: skopeo reads manifest $read_back, not $MANIFEST"; exit 1; }
  skopeo inspect "oci-archive:$OUT/warmstart-$TAG.oci.tar" >/dev/null
  log "skopeo reads the archive: manifest sha256:$read_back"
fi
rm -rf "$OUT/work"
log "$REPOSITORY:$TAG manifest sha256:$MANIFEST ($(du -h "$OUT/warmstart-$TAG.oci.tar" | cut -f1))"
echo "$OUT/warmstart-$TAG.oci.tar"
echo "sha256:$MANIFEST" >"$OUT/warmstart-$TAG.digest"
