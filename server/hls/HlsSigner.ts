/**
 * Signed, expiring HLS URLs, which the edges check with nginx's secure_link module
 * (nginx/edge.conf.template). The signature is a path prefix, not a query string: a player
 * resolves every fragment URI relative to its media playlist's URL, and a query string is not
 * inherited by relative URIs, while a path prefix is:
 *
 *   /hls/s/<expires>/<signature>/<stream>/<file>
 *
 * `expires` is Unix seconds; `signature` is base64url(md5("<expires>/<assembly>/<key>")), what
 * `secure_link_md5` computes from the path's captures. It covers the assembly, not one stream, so
 * one signature opens every rendition of the assembly (`A`, `A_360p`) on every edge: a player
 * swaps the prefix of every request for the newest one (public/src/watch.ts) without knowing
 * which stream or edge a request is for. The edges hold no per-assembly state, and an edge
 * refuses a bad signature with 403 and an expired one with 410.
 *
 * The key is derived from the edge secret (HMAC-SHA256 with a fixed label), so an edge needs no
 * second secret, while the secret the origin publishes with never goes into an md5 construction.
 */
import { createHash, createHmac } from 'node:crypto';
import { assemblyOfStream } from './renditions.js';

/** Every signed HLS path starts with this. */
export const SIGNED_HLS_PREFIX = '/hls/s/';

const KEY_LABEL = 'montage hls url signing v1';

/** The key the edges and the app sign HLS URLs with, derived from the shared edge secret. */
export function hlsSigningKey(edgeSecret: string): string {
  return createHmac('sha256', edgeSecret).update(KEY_LABEL).digest('base64url');
}

/** What opens an assembly's HLS until `expires`. */
export interface HlsSignature {
  /** Unix seconds after which the edges answer 410. */
  expires: number;
  /** base64url(md5), 22 characters. */
  signature: string;
  /** `/hls/s/<expires>/<signature>/`: what goes before `<stream>/<file>` on an edge. */
  prefix: string;
}

export interface HlsSignerOptions {
  edgeSecret: string;
  /** How long a signature is valid. */
  ttlSeconds: number;
  /** Milliseconds since the epoch; tests pass their own clock. */
  now?: () => number;
}

export class HlsSigner {
  readonly ttlSeconds: number;
  readonly #key: string;
  readonly #now: () => number;

  constructor(options: HlsSignerOptions) {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new TypeError('ttlSeconds must be a positive integer');
    }
    this.ttlSeconds = options.ttlSeconds;
    this.#key = hlsSigningKey(options.edgeSecret);
    this.#now = options.now ?? Date.now;
  }

  /** A signature for `assembly` valid from now for `ttlSeconds` (or the given seconds). */
  sign(assembly: string, ttlSeconds = this.ttlSeconds): HlsSignature {
    const expires = Math.floor(this.#now() / 1000) + ttlSeconds;
    return signatureFor(assembly, expires, this.#key);
  }

  /** The signed path of `file` of `stream` (any rendition of an assembly), from now. */
  path(stream: string, file: string, ttlSeconds = this.ttlSeconds): string {
    return `${this.sign(assemblyOfStream(stream), ttlSeconds).prefix}${stream}/${file}`;
  }
}

/** The signature of `assembly` until `expires` with `key` (tests forge with other keys). */
export function signatureFor(assembly: string, expires: number, key: string): HlsSignature {
  const signature = createHash('md5').update(`${expires}/${assembly}/${key}`).digest('base64url');
  return { expires, signature, prefix: `${SIGNED_HLS_PREFIX}${expires}/${signature}/` };
}
