#!/usr/bin/env bash
# Brings a fresh machine of this kind (Debian bookworm, Node 20, root) to the state the test bed needs,
# and does almost nothing when everything is already there. Called by `npm start` and `npm test`.
#
# Steps: apt packages → npm ci (when the lockfile changed) → TypeScript build → dockerd → SoftHSM2 image.
# Each step checks first and skips when its result is present. Set SSMAX_BOOTSTRAP_SKIP=docker to skip
# the Docker steps (the container token backend then reports itself unavailable and its tests fail loudly).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] cannot continue: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(softhsm2 p11-kit p11-kit-modules opensc docker.io debootstrap openssl gpgsm
  dovecot-core dovecot-imapd dovecot-lmtpd chromium iproute2 ca-certificates zip unzip
  python3-cryptography python3-asn1crypto) # the second CMS implementation of the issue-12 interop tests (/usr/bin/python3)

# ---- 1. apt packages ---------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    die "missing Debian packages: ${missing[*]}. Run as root, or install them first: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get here; install them with your system's package manager"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- 2. npm dependencies ---------------------------------------------------------------------------
stamp=node_modules/.ssmax-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  # npm 11 runs only the install scripts listed in package.json "allowScripts"; make sure the native addons exist.
  node -e 'require("pkcs11js"); new (require("better-sqlite3"))(":memory:")' 2>/dev/null || npm rebuild pkcs11js better-sqlite3 --loglevel=error
  echo "$want" > "$stamp"
fi

# ---- 3. build ---------------------------------------------------------------------------------------
log "building (tsc -b, incremental)"
npx tsc -b packages/core packages/sim-net packages/sim-registry packages/sim-org packages/sim-attacker packages/world packages/cli bench

# ---- 4. dockerd + the SoftHSM2 image ---------------------------------------------------------------
if [ "${SSMAX_BOOTSTRAP_SKIP:-}" != docker ]; then
  bash scripts/docker-up.sh
  bash images/softhsm2/build.sh
fi
log "ready"
