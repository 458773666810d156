#!/usr/bin/env bash
# A private Docker engine for ordo's tests: its own socket, data and exec roots, no bridge, no iptables.
#   scripts/docker-engine.sh start   installs docker.io + busybox-static if missing, starts dockerd,
#                                    imports the ordo-test/busybox:1 image, prints DOCKER_HOST=…
#   scripts/docker-engine.sh env     prints DOCKER_HOST=… for the running engine
#   scripts/docker-engine.sh stop    stops the engine started here, by its pid file
# ORDO_DOCKER_DIR sets where it keeps its state (default: /tmp/ordo-docker).
set -euo pipefail

dir=${ORDO_DOCKER_DIR:-/tmp/ordo-docker}
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
image=ordo-test/busybox:1
host="unix://$sock"

log() { echo "docker-engine: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "needs root to run: $*"; return 1
  fi
}

install_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || missing+=(busybox-static)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt"
    as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

engine_up() { docker -H "$host" version >/dev/null 2>&1; }

start_engine() {
  mkdir -p "$dir/data" "$dir/exec"
  if engine_up; then log "engine already running on $sock"; return; fi
  log "starting dockerd on $sock"
  as_root dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --data-root="$dir/data" --exec-root="$dir/exec" -H "$host" --pidfile="$pidfile" \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    engine_up && return
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; its log:"
  tail -n 30 "$dir/dockerd.log" >&2
  return 1
}

import_image() {
  if docker -H "$host" image inspect "$image" >/dev/null 2>&1; then return; fi
  log "importing $image from /bin/busybox"
  local rootfs
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/work"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  tar -C "$rootfs" -c . | docker -H "$host" import -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  rm -rf "$rootfs"
}

stop_engine() {
  if [ ! -f "$pidfile" ]; then log "no engine started here ($pidfile missing)"; return; fi
  local pid
  pid=$(cat "$pidfile")
  log "stopping dockerd (pid $pid)"
  as_root kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && as_root kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  start)
    install_missing
    start_engine
    import_image
    echo "DOCKER_HOST=$host"
    ;;
  env) echo "DOCKER_HOST=$host" ;;
  stop) stop_engine ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
