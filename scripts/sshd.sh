#!/usr/bin/env bash
# sshd.sh - a throwaway OpenSSH server on 127.0.0.1 for the remote-engine tests: the docker
# CLI reaches this machine's engine through it (DOCKER_HOST=ssh://root@127.0.0.1:PORT), as a
# laptop reaches a GPU server. Nothing is installed and no system file changes:
#   - Debian's openssh-server (and libwrap0) are fetched with `apt-get download` and unpacked
#     into .test-cache/sshd/ (no maintainer scripts run, so no system sshd starts);
#   - sshd runs in a mount namespace of its own, where /etc/passwd has its privilege-separation
#     user and /run/sshd is a tmpfs;
#   - the keys (host and client), sshd_config and the client's ssh_config live in that folder;
#     clients put .test-cache/sshd/bin first on PATH, whose `ssh` adds `-F` that ssh_config.
#
#   scripts/sshd.sh up      start it (unless ours already runs); prints KEY=VALUE lines for eval
#   scripts/sshd.sh stop    stop it by its PID (and the client's shared connection, if any)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.test-cache/sshd"
PIDFILE="$DIR/sshd.pid"
log() { echo "sshd.sh: $*" >&2; }
die() { log "$*"; exit 1; }

running() {
  [ -s "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = sshd ]
}

fetch() {
  [ -x "$DIR/root/usr/sbin/sshd" ] && return
  command -v apt-get >/dev/null || die "needs apt-get (Debian or Ubuntu) to fetch openssh-server"
  mkdir -p "$DIR/debs" && rm -f "$DIR"/debs/*.deb
  # as root, apt warns that it downloads unsandboxed into a folder _apt cannot write: harmless
  (cd "$DIR/debs" && apt-get download -qq openssh-server libwrap0 2>/dev/null) \
    || { apt-get update -qq >/dev/null && (cd "$DIR/debs" && apt-get download -qq openssh-server libwrap0 2>/dev/null); } \
    || die "apt-get download openssh-server libwrap0 failed"
  rm -rf "$DIR/root"
  for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
  [ -x "$DIR/root/usr/sbin/sshd" ] || die "openssh-server's package has no usr/sbin/sshd"
}

configure() {
  local port=$1
  mkdir -p "$DIR/bin"
  [ -f "$DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C jlcompose-test-host -f "$DIR/host_key"
  [ -f "$DIR/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C jlcompose-test-client -f "$DIR/client_key"
  install -m 600 "$DIR/client_key.pub" "$DIR/authorized_keys"
  { grep -v '^sshd:' /etc/passwd; echo 'sshd:x:65534:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin'; } >"$DIR/passwd"
  cat >"$DIR/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $DIR/host_key
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
UseDNS no
PidFile none
LogLevel ERROR
CFG
  # the client side: this key, this server's host key only, and one shared connection for the
  # docker CLI's many short sessions (jlcompose's own port forward never shares it)
  { printf '[127.0.0.1]:%s ' "$port"; cut -d' ' -f1,2 "$DIR/host_key.pub"; } >"$DIR/known_hosts"
  cat >"$DIR/ssh_config" <<CFG
Host *
  IdentityFile $DIR/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster auto
  ControlPath $DIR/cm-%C
  ControlPersist 60
CFG
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$DIR/ssh_config" >"$DIR/bin/ssh"
  chmod +x "$DIR/bin/ssh"
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root (sshd logs in as root, who may use the Docker socket)"
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || die "needs the OpenSSH client (openssh-client)"
  mkdir -p "$DIR"
  if ! running; then
    fetch
    local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    configure "$port"
    echo "$port" >"$DIR/port"
    [ -d /run/sshd ] || { mkdir -p /run/sshd && touch "$DIR/made-run-sshd"; }
    # exec: the PID started here is sshd's own
    setsid unshare -m --propagation private sh -c "mount --bind '$DIR/passwd' /etc/passwd \
      && mount -t tmpfs -o mode=0755 tmpfs /run/sshd \
      && exec env LD_LIBRARY_PATH='$DIR/root/usr/lib/x86_64-linux-gnu:$DIR/root/lib/x86_64-linux-gnu' \
         '$DIR/root/usr/sbin/sshd' -D -e -f '$DIR/sshd_config'" </dev/null >>"$DIR/sshd.log" 2>&1 &
    echo $! >"$PIDFILE"
    local i; for ((i = 0; i < 100; i++)); do
      PATH="$DIR/bin:$PATH" ssh -o ControlPath=none -p "$port" root@127.0.0.1 true 2>/dev/null && break
      kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { cat "$DIR/sshd.log" >&2; die "sshd exited"; }
      sleep 0.1
    done
    PATH="$DIR/bin:$PATH" ssh -o ControlPath=none -p "$port" root@127.0.0.1 docker version --format '{{.Server.Version}}' >/dev/null \
      || die "logged in, but \`docker version\` failed in the SSH session"
    log "sshd (PID $(cat "$PIDFILE")) on 127.0.0.1:$port"
  fi
  echo "JLC_TEST_SSH_HOST=ssh://root@127.0.0.1:$(cat "$DIR/port")"
  echo "JLC_TEST_SSH_PATH=$DIR/bin"
}

stop() {
  [ -s "$DIR/port" ] && PATH="$DIR/bin:$PATH" ssh -O exit -p "$(cat "$DIR/port")" root@127.0.0.1 2>/dev/null || true
  if running; then
    local pid; pid=$(cat "$PIDFILE")
    kill -TERM "$pid"
    local i; for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "sshd (PID $pid) stopped"
  fi
  rm -f "$PIDFILE"
  if [ -f "$DIR/made-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; rm -f "$DIR/made-run-sshd"; fi
}

case "${1:-up}" in
  up) up ;;
  stop) stop ;;
  *) die "usage: $0 [up|stop]" ;;
esac
