/**
 * Who may open the engine's WebSocket. Kurento accepts any connection; a media server on a
 * machine where people also browse can then be driven by any web page (a cross-site WebSocket,
 * or DNS rebinding a name to 127.0.0.1). The engine refuses, at the HTTP upgrade:
 *
 * - a browser `Origin` that is not listed in KMS_ALLOWED_ORIGINS (kurento-client on Node, like
 *   every non-browser client, sends none and is not affected);
 * - a `Host` that is a name other than localhost or a listed one: a rebound name arrives as
 *   its own Host, while an IP literal cannot be rebound;
 * - with KMS_AUTH_TOKEN set, a connection that does not present it, as `?token=` in the
 *   WebSocket URL (kurento-client passes the URL as given) or as `Authorization: Bearer`.
 *
 * The protocol itself is unchanged: what is refused never becomes a WebSocket.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export interface AccessSettings {
  /** Origins ("https://panel.school.example") and host names ("media1.internal") allowed. */
  allowedOrigins: readonly string[];
  authToken: string | undefined;
}

export interface UpgradeRequest {
  origin: string | undefined;
  host: string | undefined;
  url: string;
  authorization: string | undefined;
}

export type AccessDecision = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** The host name of a Host header value ("[::1]:8888" → "::1", "a.example:80" → "a.example"). */
function hostName(host: string): string {
  const trimmed = host.trim().toLowerCase();
  if (trimmed.startsWith('[')) return trimmed.slice(1, trimmed.indexOf(']'));
  const colon = trimmed.lastIndexOf(':');
  return colon > 0 && trimmed.indexOf(':') === colon ? trimmed.slice(0, colon) : trimmed;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class AccessPolicy {
  readonly #origins: Set<string>;
  readonly #hosts: Set<string>;
  readonly #token: Buffer | undefined;

  constructor(settings: AccessSettings) {
    this.#origins = new Set();
    this.#hosts = new Set(['localhost']);
    for (const entry of settings.allowedOrigins) {
      if (entry.includes('://')) {
        const url = new URL(entry);
        this.#origins.add(url.origin);
        this.#hosts.add(url.hostname.replace(/^\[|\]$/g, '').toLowerCase());
      } else {
        this.#hosts.add(entry.toLowerCase());
      }
    }
    // Compared as digests of equal length, in constant time.
    this.#token = settings.authToken === undefined ? undefined : digest(settings.authToken);
  }

  decide(request: UpgradeRequest): AccessDecision {
    if (request.origin !== undefined && !this.#origins.has(request.origin)) {
      return {
        ok: false,
        status: 403,
        reason: `the Origin ${request.origin} is not allowed (list it in KMS_ALLOWED_ORIGINS)`,
      };
    }
    const host = request.host === undefined ? '' : hostName(request.host);
    if (host === '' || (isIP(host) === 0 && !this.#hosts.has(host))) {
      return {
        ok: false,
        status: 403,
        reason: `the Host ${request.host ?? '(none)'} is not allowed (list it in KMS_ALLOWED_ORIGINS)`,
      };
    }
    if (this.#token !== undefined && !this.#tokenMatches(request)) {
      return {
        ok: false,
        status: 401,
        reason: 'KMS_AUTH_TOKEN is set: pass it as ?token= in the WebSocket URL',
      };
    }
    return { ok: true };
  }

  #tokenMatches(request: UpgradeRequest): boolean {
    const expected = this.#token;
    if (expected === undefined) return true;
    const query = new URL(request.url, 'ws://engine').searchParams.get('token');
    const bearer = /^Bearer (.+)$/i.exec(request.authorization ?? '')?.[1];
    return [query, bearer].some(
      (given) => given !== null && given !== undefined && timingSafeEqual(digest(given), expected),
    );
  }
}
