#!/usr/bin/env bash
# Brings a fresh Debian/Ubuntu machine to the point where `npm start`, `npm test`, `npm run kms`
# and `npm run bench` work: distribution packages (GStreamer, ffmpeg, nginx-rtmp, Chromium),
# node_modules, the C worker and the TypeScript build. Every step is skipped when it is already
# done, so a second run takes a second or two.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[bootstrap] $*"; }
die() {
  echo "[bootstrap] error: $*" >&2
  exit 1
}

# --- Distribution packages -------------------------------------------------------------------
# The media path uses only distribution packages (see README.md): GStreamer 1.22+ with its
# WebRTC, x264, libav and nice plugins, json-glib for the worker, ffmpeg, nginx with the RTMP
# module for the edges, and Chromium for the browser tests. build-essential, pkg-config and
# python3 build the worker and native npm modules. docker-compose (1.29, Python) validates
# kms/docker-compose.yml in the tests with `docker-compose config`, which needs no Docker engine.
# gstreamer1.0-opencv (facedetect) and opencv-data (its Haar cascades in
# /usr/share/opencv4/haarcascades) serve the FaceOverlayFilter; zbar comes with plugins-bad.
# openssl makes the self-signed certificate of the recorder's https upload test.
APT_PACKAGES=(
  build-essential pkg-config python3
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice
  gstreamer1.0-x libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libjson-glib-dev ffmpeg nginx libnginx-mod-rtmp chromium
  docker-compose gstreamer1.0-opencv opencv-data openssl
)

missing_packages() {
  local installed
  # dpkg-query lists the packages it knows; "ii" means installed and configured.
  installed="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null |
    awk '$1 == "ii" { print $2 }' || true)"
  local package
  for package in "${APT_PACKAGES[@]}"; do
    if ! grep -qxF "$package" <<<"$installed"; then
      echo "$package"
    fi
  done
}

command -v dpkg-query >/dev/null || die "dpkg-query not found: Montage needs Debian 12+ or Ubuntu 22.04+"

mapfile -t MISSING < <(missing_packages)
if ((${#MISSING[@]} > 0)); then
  log "missing packages: ${MISSING[*]}"
  if [[ "$(id -u)" == 0 ]]; then
    log "apt-get update"
    apt-get update -q
    log "apt-get install ${MISSING[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${MISSING[@]}"
  else
    echo "[bootstrap] run this once, then try again:" >&2
    echo "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${MISSING[*]}" >&2
    exit 1
  fi
fi

# --- Node ------------------------------------------------------------------------------------
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js 20 or newer is required (found $(node --version))"

# npm writes node_modules/.package-lock.json after every install, so it is the stamp of the
# last install: reinstall only when the manifest or the lockfile is newer than it.
install_stamp=node_modules/.package-lock.json
if [[ ! -f "$install_stamp" || package.json -nt "$install_stamp" ||
  (-f package-lock.json && package-lock.json -nt "$install_stamp") ]]; then
  if [[ "${CI:-}" == true && -f package-lock.json ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund
  else
    log "npm install"
    npm install --no-audit --no-fund
  fi
  touch "$install_stamp"
fi

# --- Build -----------------------------------------------------------------------------------
# The build is redone when any source file is newer than the last successful build, or when the
# set of source files changed (a deleted test must not survive as stale JavaScript in dist/).
build_stamp=dist/.build-stamp
# Lists the build's source files; extra arguments are added find predicates (e.g. -newer FILE).
build_inputs() {
  find package.json tsconfig.json server kms/src kms/worker test public \
    \( -name node_modules -o -name dist -o -name build \) -prune -o \
    -type f \( -name '*.ts' -o -name '*.mjs' -o -name '*.css' -o -name '*.c' -o -name '*.h' -o -name Makefile -o -name 'tsconfig.json' \
    -o -name package.json \) "$@" -print 2>/dev/null
}
inputs_digest="$(build_inputs | LC_ALL=C sort | md5sum | cut -d' ' -f1)"

needs_build=false
if [[ ! -f "$build_stamp" || ! -x kms/worker/build/montage-worker || ! -x kms/worker/build/webrtc-echo ||
  ! -f server/packages/reconnect-ws/dist/index.js ]]; then
  needs_build=true
elif [[ "$(cat "$build_stamp")" != "$inputs_digest" ]]; then
  needs_build=true
elif [[ -n "$(build_inputs -newer "$build_stamp" | head -n 1)" ]]; then
  needs_build=true
fi

if [[ "$needs_build" == true ]]; then
  log "npm run build"
  # Sources edited while the build runs must trigger the next build, so the stamp gets the time
  # the build started, and only once the build succeeded.
  build_started="$(mktemp)"
  trap 'rm -f "$build_started"' EXIT
  npm run -s build || die "build failed"
  mkdir -p dist
  echo "$inputs_digest" >"$build_stamp"
  touch -r "$build_started" "$build_stamp"
fi

log "ready"
