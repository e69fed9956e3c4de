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
  python3-cryptography python3-asn1crypto # the second CMS implementation of the issue-12 interop tests (/usr/bin/python3)
  clamav-daemon python3-olefile # issue 16: clamd, the malware engine of inspection (a world starts its own); olefile reads the test OLE2 files
  postfix) # issue 14: the Postfix organisation (ssmax org postfix) runs instances of its own from generated configs, never the system one

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
  # Nothing installed here may dial out or run as a system service: clamav-freshclam's postinst would
  # otherwise fetch signatures (every debconf choice ends in `invoke-rc.d clamav-freshclam ...`), and
  # clamav-daemon's would start a clamd on /var/lib/clamav. A policy-rc.d answering 101 forbids both
  # (invoke-rc.d(8)); it stays only for the install. The test bed runs clamd itself, with a local database.
  echo 'clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual' | debconf-set-selections
  # Postfix: no system configuration (no /etc/postfix/main.cf), so even without the policy-rc.d nothing listens.
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$own_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi
# Whatever installed clamav before us: no freshclam or system clamd runs (they would fetch signatures or hold the CPU).
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now clamav-freshclam.service clamav-daemon.service clamav-daemon.socket >/dev/null 2>&1 || true
  # The system Postfix is not ours: each Postfix org runs `postfix -c <its dir> start-fg` (docs/postfix-org.md).
  systemctl disable --now postfix.service >/dev/null 2>&1 || true
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
