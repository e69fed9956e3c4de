#!/usr/bin/env bash
# Starts dockerd in the background unless a daemon already answers on /var/run/docker.sock.
set -euo pipefail
log() { printf '[docker-up] %s\n' "$*" >&2; }

if docker version >/dev/null 2>&1 && docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { log "dockerd not found: apt-get install -y --no-install-recommends docker.io"; exit 1; }
[ "$(id -u)" = 0 ] || { log "dockerd must be started as root: sudo dockerd &"; exit 1; }

log "starting dockerd (log: /var/log/ssmax-dockerd.log)"
nohup dockerd >/var/log/ssmax-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; then log "dockerd is up"; exit 0; fi
  sleep 0.5
done
log "dockerd did not come up within 30 s; see /var/log/ssmax-dockerd.log"
tail -20 /var/log/ssmax-dockerd.log >&2 || true
exit 1
