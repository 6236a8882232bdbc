/**
 * Keeps a player's HLS signature fresh. The edges serve HLS only under a signed, expiring path
 * prefix (`/hls/s/<expires>/<signature>/`, server/hls/HlsSigner.ts), which the watch API hands
 * out. This asks the watch API for a new one a third of the way through each one's lifetime,
 * and its hls.js loader puts the newest prefix in front of every request the player makes
 * (media playlists on any edge and rendition, fragments), so playback goes on across expiries
 * without reloading the source. When the server refuses a new signature (the viewer's link
 * expired or was revoked) it stops asking: the player then fails at most one lifetime later,
 * and the page asks the watch API again, which says why.
 */
import Hls, { type LoaderCallbacks, type LoaderConfiguration, type LoaderContext } from 'hls.js';
import { api } from './api.js';
import { RequestError } from './connect.js';

/** What the watch API gives as `hls`, and `watch/signature` alone. */
export interface HlsSignatureWire {
  /** Unix seconds. */
  expires: number;
  signature: string;
  /** `/hls/s/<expires>/<signature>/`. */
  prefix: string;
  ttlSeconds: number;
}

const SIGNED_PREFIX = /\/hls\/s\/[0-9]+\/[A-Za-z0-9_-]{22}\//;
/** A refresh that failed for want of an answer is tried again this soon. */
const RETRY_MS = 5000;

export class HlsSignatureKeeper {
  readonly #assembly: string;
  readonly #onChange: (signature: HlsSignatureWire) => void;
  #current: HlsSignatureWire | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** hls.js's own loader with every URL re-signed, for `new Hls({loader})`. */
  readonly loader: HlsConfigLoader;

  constructor(assembly: string, onChange: (signature: HlsSignatureWire) => void) {
    this.#assembly = assembly;
    this.#onChange = onChange;
    const sign = (url: string): string => this.sign(url);
    this.loader = class SignedLoader extends Hls.DefaultConfig.loader {
      load(
        context: LoaderContext,
        config: LoaderConfiguration,
        callbacks: LoaderCallbacks<LoaderContext>,
      ): void {
        context.url = sign(context.url);
        super.load(context, config, callbacks);
      }
    };
  }

  /** Starts from a signature the watch API gave; the next one is fetched before it expires. */
  use(signature: HlsSignatureWire): void {
    this.#current = signature;
    this.#onChange(signature);
    // A third of the lifetime: two more tries fit before it runs out if the server is slow.
    this.#schedule((signature.ttlSeconds * 1000) / 3);
  }

  /** `url` under the newest signature (URLs without a signed prefix are left alone). */
  sign(url: string): string {
    const current = this.#current;
    return current === undefined ? url : url.replace(SIGNED_PREFIX, current.prefix);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#refresh(), delayMs);
  }

  async #refresh(): Promise<void> {
    try {
      this.use(
        await api<HlsSignatureWire>('GET', `/api/assemblies/${this.#assembly}/watch/signature`),
      );
    } catch (error) {
      // Refused (an expired or revoked link, a deleted assembly): no more signatures.
      if (error instanceof RequestError && /^token_|^forbidden|not_found/.test(error.code)) {
        this.stop();
        return;
      }
      this.#schedule(RETRY_MS);
    }
  }
}

type HlsConfigLoader = typeof Hls.DefaultConfig.loader;
