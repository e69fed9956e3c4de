#!/usr/bin/env bash
# Builds the SoftHSM2 + p11-kit container image locally (no image registry is reachable from here):
# a minimal Debian bookworm root file system from debootstrap, imported with `docker import`.
# Idempotent: does nothing when the image tag already exists.
set -euo pipefail
TAG=${SSMAX_SOFTHSM_IMAGE:-ssmax/softhsm2:bookworm-1}
log() { printf '[softhsm2-image] %s\n' "$*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install -y debootstrap"; exit 1; }

# Use the Debian mirror apt already uses (the only one reachable here).
mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1 || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

work=$(mktemp -d /tmp/ssmax-softhsm-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "debootstrap bookworm from $mirror (about 30 s)"
debootstrap --variant=minbase --include=softhsm2,p11-kit,p11-kit-modules bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }
rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* \
  "$work/rootfs"/usr/share/locale/* "$work/rootfs"/var/cache/apt/*
mkdir -p "$work/rootfs/sock" "$work/rootfs/var/lib/softhsm/tokens"
log "docker import → $TAG"
tar -C "$work/rootfs" -c . | docker import \
  -c 'ENV SOFTHSM2_CONF=/etc/softhsm/softhsm2.conf' \
  -c 'CMD ["/bin/sleep","infinity"]' - "$TAG" >/dev/null
log "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"
