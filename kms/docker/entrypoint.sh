#!/usr/bin/env bash
# Entry point of the Montage image (kms/docker/Dockerfile), used by kms/docker-compose.yml.
#
#   entrypoint.sh app         the app server (dist/server/main.js) against KMS_URI
#   entrypoint.sh app-health  exits 0 when the app server's /healthz answers 200 (healthcheck)
#   entrypoint.sh edge        renders a standalone nginx-rtmp edge from nginx/edge.conf.template
#                             and runs nginx in the foreground
#   entrypoint.sh edge-check  renders the edge config the same way and checks it with nginx -t,
#                             without starting anything (for operators and for the tests)
#
# The repository root is found from this file's place (kms/docker/), so the script also runs
# from a checkout: that is how test/server/dockerCompose.test.ts checks the edge it renders.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() {
  echo "[montage] error: $*" >&2
  exit 1
}

run_app() {
  # The image has no embedded engine (no C worker), so without KMS_URI main.js would start one
  # that cannot run, and restart it forever. Say what is missing instead.
  [[ -n "${KMS_URI:-}" ]] || die "KMS_URI is not set: this image runs against a Kurento Media Server (see kms/docker-compose.yml)"

  local data="${MONTAGE_DATA_DIR:-/var/lib/montage}"
  local media="${MONTAGE_MEDIA_DIR:-$data/media}"
  local recordings="${MONTAGE_RECORDINGS_DIR:-$data/recordings}"
  local server=(node "$ROOT/dist/server/main.js")
  if [[ "$(id -u)" == 0 ]]; then
    # Fresh named volumes and host folders arrive owned by root. The app server runs as
    # `montage` and Kurento writes recordings with the same uid (KMS_UID), so both need these
    # folders to belong to it. Only the folders themselves: everything inside was written by
    # one of the two already.
    install -d -o montage -g montage "$data" "$media" "$recordings" "$data/edge"
    exec setpriv --reuid=montage --regid=montage --init-groups -- "${server[@]}"
  fi
  exec "${server[@]}"
}

run_app_health() {
  # The app server answers on its configured address; 0.0.0.0 (every interface) includes
  # loopback. Node's fetch, because the slim image has no curl.
  node -e '
    const configured = process.env.MONTAGE_HTTP_HOST || "127.0.0.1";
    const host = configured === "0.0.0.0" ? "127.0.0.1" : configured;
    const port = process.env.MONTAGE_HTTP_PORT || "8080";
    fetch(`http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`, {
      signal: AbortSignal.timeout(3000),
    }).then(
      (response) => process.exit(response.ok ? 0 : 1),
      () => process.exit(1),
    );
  '
}

# Renders the edge's prefix folder (nginx.conf, logs, tmp, hls) with the edge CLI, exactly as
# an edge VM does (nginx/README.md), from the EDGE_* settings documented in docker-compose.yml.
render_edge() {
  [[ -n "${MONTAGE_EDGE_SECRET:-}" ]] || die "MONTAGE_EDGE_SECRET is not set: the edge accepts only the origin's pushes signed with it"
  local args=(
    render
    --out "$EDGE_PREFIX"
    --secret "$MONTAGE_EDGE_SECRET"
    --http-host "${EDGE_HTTP_HOST:-127.0.0.1}"
    --http-port "${EDGE_HTTP_PORT:-8090}"
    --rtmp-host "${EDGE_RTMP_HOST:-127.0.0.1}"
    --rtmp-port "${EDGE_RTMP_PORT:-1935}"
    --origin-allow "${EDGE_ORIGIN_ALLOW:-127.0.0.1}"
    --stat-allow "${EDGE_STAT_ALLOW:-${EDGE_ORIGIN_ALLOW:-127.0.0.1}}"
    --playlist-length "${EDGE_PLAYLIST_LENGTH:-8h}"
    --fragment "${EDGE_FRAGMENT:-900ms}"
    # Unset: www-data, which owns the HLS folder. Empty: no `user` directive (nginx not root).
    --user "${EDGE_USER-www-data}"
  )
  if [[ -n "${EDGE_PUBLIC_HOST:-}" ]]; then
    args+=(--public-host "$EDGE_PUBLIC_HOST")
  fi
  node "$ROOT/dist/server/edges/cli.js" "${args[@]}"
}

# The edge's own folder: config, pid, logs, temp paths and HLS (a volume in docker-compose.yml).
EDGE_PREFIX="${EDGE_PREFIX:-/var/lib/montage-edge}"
# -e: nginx opens its default error log before it reads the config; point it at the prefix's.
NGINX=(/usr/sbin/nginx -p "$EDGE_PREFIX" -c "$EDGE_PREFIX/nginx.conf" -e logs/error.log)

case "${1:-app}" in
  app)
    run_app
    ;;
  app-health)
    run_app_health
    ;;
  edge)
    render_edge
    # nginx logs into the prefix (the template says so); linking the error log to stderr makes
    # it visible in `docker logs` as well. daemon off: the container lives as long as nginx.
    ln -sf /dev/stderr "$EDGE_PREFIX/logs/error.log"
    exec "${NGINX[@]}" -g 'daemon off;'
    ;;
  edge-check)
    render_edge
    "${NGINX[@]}" -t -q
    echo "[montage] $EDGE_PREFIX/nginx.conf is valid"
    ;;
  *)
    die "unknown command '$1' (app, app-health, edge, edge-check)"
    ;;
esac
