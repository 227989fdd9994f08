# shellcheck shell=bash
# OCI image archives without a container daemon, for image/model-server.sh and image/pause.sh (the same
# technique as image/build.sh, which keeps its own copy): reproducible tar layers, the shared libraries a
# jlink'd runtime links against taken from this (Debian) system, and an OCI layout tar whose index names the
# image for `ctr images import` (io.containerd.image.name) and skopeo (org.opencontainers.image.ref.name),
# with Docker's manifest.json beside it for `docker load`. Source it, then:
#   oci_begin WORK; oci_add_layer WORK DIR LEVEL...; oci_finish WORK REPOSITORY TAG CONFIG_JSON
# which leaves WORK/image.oci.tar and sets OCI_MANIFEST (hex) and OCI_LAYER_DIGESTS (the blobs, in order).

export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
umask 022

oci_sha() { sha256sum "$1" | cut -d' ' -f1; }

# The platform's name in OCI terms (the libraries and the pause binary are this machine's).
oci_arch() {
  case $(uname -m) in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "unsupported architecture $(uname -m)" >&2; return 1 ;;
  esac
}

# A layer from a directory: a tar that depends only on the files' names, contents and modes.
oci_layer() { # dir out.tar
  find "$1" -exec touch -h -d @0 {} +
  tar --create --file="$2" --directory="$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
}

# The shared libraries (and the dynamic loader) that the ELF files under DIR need, copied from this system
# to the same paths under BASE.
oci_copy_libs() { # dir base
  local libs f
  libs=$(find "$1" -type f \( -name '*.so' -o -path '*/bin/*' \) -print0 |
    xargs -0 ldd 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' |
    grep -v "^$(realpath "$1")/" | sort -u)
  for f in $libs; do
    mkdir -p "$2$(dirname "$f")"
    cp -L "$f" "$2$f"
  done
}

# A minimal /etc (root and nonroot 65532), /tmp and nonroot's home.
oci_base_etc() { # base
  mkdir -p "$1/etc" "$1/tmp" "$1/home/nonroot"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
  printf 'hosts: files dns\n' >"$1/etc/nsswitch.conf"
}

oci_begin() { # work
  rm -rf "$1/oci" && mkdir -p "$1/oci/blobs/sha256"
  OCI_DIFF_IDS=() OCI_LAYERS=() OCI_DOCKER_LAYERS=() OCI_LAYER_DIGESTS=()
}

# Adds a layer already compressed: its gzip file (moved into the layout) and the sha256 of the tar inside.
oci_add_gz() { # work layer.tar.gz diff_id
  local digest
  digest=$(oci_sha "$2")
  mv "$2" "$1/oci/blobs/sha256/$digest"
  OCI_DIFF_IDS+=("\"sha256:$3\"")
  OCI_LAYERS+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$(stat -c %s "$1/oci/blobs/sha256/$digest")}")
  OCI_DOCKER_LAYERS+=("\"blobs/sha256/$digest\"")
  OCI_LAYER_DIGESTS+=("$digest")
}

# Adds DIR as a layer, gzipped at LEVEL (1-9) without a name or time.
oci_add_layer() { # work dir level
  local tarball=$2.tar diff_id
  oci_layer "$2" "$tarball"
  diff_id=$(oci_sha "$tarball")
  gzip -n "-$3" "$tarball"
  oci_add_gz "$1" "$tarball.gz" "$diff_id"
}

# Writes the config, the manifest, the index and Docker's manifest.json, then WORK/image.oci.tar.
oci_finish() { # work repository tag config-object-json
  local w=$1 repository=$2 tag=$3 arch config size IFS=,
  arch=$(oci_arch)
  printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$arch" "$4" "${OCI_DIFF_IDS[*]}" >"$w/config.json"
  config=$(oci_sha "$w/config.json")
  mv "$w/config.json" "$w/oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config" "$(stat -c %s "$w/oci/blobs/sha256/$config")" "${OCI_LAYERS[*]}" >"$w/manifest.json"
  OCI_MANIFEST=$(oci_sha "$w/manifest.json")
  size=$(stat -c %s "$w/manifest.json")
  mv "$w/manifest.json" "$w/oci/blobs/sha256/$OCI_MANIFEST"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s:%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$OCI_MANIFEST" "$size" "$arch" "$repository" "$tag" "$tag" >"$w/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci/oci-layout"
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s:%s"],"Layers":[%s]}]' \
    "$config" "$repository" "$tag" "${OCI_DOCKER_LAYERS[*]}" >"$w/oci/manifest.json"
  oci_layer "$w/oci" "$w/image.oci.tar"
}

# An independent reader of OCI archives (skopeo) finds the manifest MANIFEST and can parse the image.
oci_read_back() { # archive manifest-hex
  command -v skopeo >/dev/null || { echo "skopeo is needed to read the archive back (apt-get install skopeo)" >&2; return 1; }
  local read_back
  read_back=$(skopeo inspect --raw "oci-archive:$1" | sha256sum | cut -d' ' -f1)
  [[ $read_back == "$2" ]] || { echo "skopeo reads manifest $read_back from $1, not $2" >&2; return 1; }
  skopeo inspect "oci-archive:$1" >/dev/null
}

# Extracts the given layer blobs of WORK's layout into ROOT, with a /proc mount point for oci_in_root.
oci_rootfs() { # work root digest...
  local w=$1 root=$2 digest
  shift 2
  rm -rf "$root" && mkdir -p "$root"
  for digest in "$@"; do
    tar -xzf "$w/oci/blobs/sha256/$digest" -C "$root"
  done
  mkdir -p "$root/proc"
}

# Runs a command in ROOT as USER in private mount and pid namespaces with their own /proc (a container has
# one: the loader resolves $ORIGIN through /proc/self/exe), sharing the host's network. Needs root.
oci_in_root() { # root uid:gid command...
  local root=$1 user=$2
  shift 2
  unshare --mount --pid --fork --mount-proc="$root/proc" chroot --userspec="$user" "$root" "$@"
}

# The process that unshare --fork started (pid 1 of the new namespace): unshare itself ignores SIGTERM while
# its child runs, so signals go to this one. Start unshare itself with & (not through a function, which would
# put a subshell between), so that $! is its pid.
oci_namespace_init() { # unshare-pid
  local i child
  for ((i = 0; i < 50; i++)); do
    child=$(ps -o pid= --ppid "$1" | tr -d ' ')
    if [[ -n $child ]]; then echo "$child"; return 0; fi
    sleep 0.1
  done
  return 1
}
