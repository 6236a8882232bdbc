/**
 * The security headers of every app response, pages and refusals included (helmet):
 *
 * - Content-Security-Policy: scripts, styles, fonts and frames only from this origin, and no
 *   inline script, style element or event handler (the pages are shell.html plus /assets
 *   bundles; refusal pages link /assets/notice.css). Media and fetches may also go to the HLS
 *   edges, which serve the watch page's playlists and segments from their own origins (the
 *   fleet is read at each response, so an edge added at run time is allowed at once), and to
 *   `blob:` (hls.js plays through a MediaSource blob URL and may run its transmuxer in a blob
 *   worker). socket.io connects to this origin over ws:/wss:. Camera thumbnails, QR codes and
 *   clip frames are `data:`/`blob:` images.
 * - frame-ancestors 'none' and X-Frame-Options DENY: no page is meant to be framed, and a
 *   framed control panel could be clickjacked.
 * - Referrer-Policy no-referrer: invite tokens are in page URLs, so no URL is ever sent as a
 *   referrer, not even to this origin's own logs or an edge's (strict-origin-when-cross-origin
 *   would still send the full URL, token included, to same-origin requests).
 * - X-Content-Type-Options nosniff, and HSTS (a year) only when MONTAGE_PUBLIC_URL is https:
 *   on plain http it would be ignored, and on a loopback test server it would pin a browser.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { EdgeFleetView } from '../edges/EdgeView.js';
import type { OriginPolicy } from './OriginPolicy.js';

const HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600;

export interface SecurityHeadersOptions {
  origins: OriginPolicy;
  fleet: EdgeFleetView;
  /** MONTAGE_PUBLIC_URL is https: HSTS and upgrade-insecure-requests. */
  https: boolean;
}

type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** The edges' origins, as the watch page's playlists name them. */
function edgeOrigins(fleet: EdgeFleetView): string {
  const origins = new Set<string>();
  for (const edge of fleet.snapshot()) {
    try {
      origins.add(new URL(edge.publicUrl).origin);
    } catch {
      // A registered edge always has an http(s) URL (EdgeRegistry checks it); skip anything else.
    }
  }
  return [...origins].join(' ');
}

/**
 * ws:// and wss:// forms of the allowed origins, for socket.io's WebSocket. An IPv6 literal
 * ([::1]) is left out: CSP source lists cannot name one (Chromium ignores it with a warning).
 */
function socketOrigins(origins: OriginPolicy): string {
  return origins
    .origins()
    .filter((origin) => !origin.includes('['))
    .map((origin) => origin.replace(/^http/, 'ws'))
    .join(' ');
}

export function securityHeaders(options: SecurityHeadersOptions): Middleware {
  const edges = (): string => edgeOrigins(options.fleet);
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'font-src': ["'self'"],
        'media-src': ["'self'", 'blob:', edges],
        'connect-src': ["'self'", () => socketOrigins(options.origins), edges],
        'worker-src': ["'self'", 'blob:'],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // On an https site an http edge would be mixed content: ask for its https form instead.
        'upgrade-insecure-requests': options.https ? [] : null,
      },
    },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: options.https ? { maxAge: HSTS_MAX_AGE_SECONDS } : false,
    xContentTypeOptions: true,
  });
}
