/**
 * Which browser origins may use the REST API and socket.io: the public URL's (MONTAGE_PUBLIC_URL,
 * or the server's own address when unset) and MONTAGE_ALLOWED_ORIGINS. A request without an
 * `Origin` header is not a browser's cross-site request (curl, edges, other servers, tests) and
 * is allowed: what it may do is decided by its token, as before.
 */
import { isLoopback } from '../config.js';

export class OriginPolicy {
  readonly #publicBaseUrl: () => string;
  readonly #configured: boolean;
  readonly #extra: readonly string[];

  /**
   * `publicBaseUrl` is asked at each check (the server's own address is known only once it
   * listens); `configured` says whether it is MONTAGE_PUBLIC_URL rather than that address.
   */
  constructor(publicBaseUrl: () => string, configured: boolean, extra: readonly string[]) {
    this.#publicBaseUrl = publicBaseUrl;
    this.#configured = configured;
    this.#extra = extra;
  }

  /** The allowed origins, e.g. `https://assembly.school.example`. */
  origins(): string[] {
    const own = new URL(this.#publicBaseUrl());
    const origins = [own.origin];
    // Without a public URL the server is reached on this machine, by any of loopback's names.
    if (!this.#configured && isLoopback(own.hostname)) {
      for (const name of ['127.0.0.1', 'localhost', '[::1]']) {
        origins.push(`${own.protocol}//${name}${own.port === '' ? '' : `:${own.port}`}`);
      }
    }
    return [...new Set([...origins, ...this.#extra])];
  }

  /** Whether a request with this `Origin` header (undefined: none) may go on. */
  allows(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    return this.origins().includes(origin);
  }

  /** Why a request from `origin` was refused, for its error message. */
  refusal(origin: string): string {
    return (
      `requests from the origin ${origin} are not accepted: this server serves its pages ` +
      `from ${this.origins().join(', ')} (MONTAGE_PUBLIC_URL, MONTAGE_ALLOWED_ORIGINS)`
    );
  }
}
