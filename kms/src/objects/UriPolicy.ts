/**
 * Where players may read and recorders may write, beyond the syntax `validateMediaUri` checks.
 * Kurento opens any path and fetches any URL it is given, so a client (or a web page that got
 * hold of one) can read /etc/shadow into a pipeline or make the server fetch its cloud metadata.
 *
 * - `file://` paths must lie, with symbolic links resolved, under one of KMS_FILE_ROOTS (the app
 *   sets its media library and recordings folders for the engine it runs). No roots: any path,
 *   as Kurento.
 * - `http(s)://` players may not fetch loopback, link-local (169.254.0.0/16, fe80::/10, where
 *   cloud metadata lives), unspecified addresses or metadata host names, unless the host is
 *   listed in KMS_PLAYER_ALLOWED_HOSTS. Numeric forms such as http://2852039166/ are caught too:
 *   the URL parser normalizes them to dotted quads before the check.
 * - `http(s)://` recorders (which POST the recording there) follow the same host rule, with
 *   their own list, KMS_RECORDER_ALLOWED_HOSTS: a recording is data leaving the engine, and an
 *   upload to a metadata or loopback service is as much a request forgery as a fetch.
 *
 * Host names are checked as written and as resolved: a name whose addresses (as this machine
 * resolves them now) include a forbidden one is refused too, so `internal.example` pointing at
 * 169.254.169.254 is no way round the rule. A name that does not resolve passes (the fetch fails
 * later, as in Kurento); one whose lookup takes longer than RESOLVE_TIMEOUT_MS is refused. The
 * worker resolves the name again when it fetches, so a DNS answer that changes in between (DNS
 * rebinding with a short TTL) is still not caught.
 */
import { existsSync, realpathSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dirname, relative, isAbsolute } from 'node:path';
import { KurentoError } from '../rpc/KurentoError.js';

export interface UriPolicySettings {
  fileRoots: readonly string[];
  playerAllowedHosts: readonly string[];
  /** Hosts recorders may upload to although forbidden otherwise; none when left out. */
  recorderAllowedHosts?: readonly string[];
}

/** How long a host name's lookup may take before the URI is refused. */
const RESOLVE_TIMEOUT_MS = 3000;

const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'instance-data']);

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
function realPath(path: string): string {
  let existing = path;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const real = realpathSync(existing);
  return existing === path ? real : `${real}/${relative(existing, path)}`;
}

function forbiddenAddress(host: string): string | undefined {
  const address = host.replace(/^\[|\]$/g, '').toLowerCase();
  const family = isIP(address);
  if (family === 4) {
    const [a, b] = address.split('.').map(Number);
    if (a === 127) return 'a loopback address';
    if (a === 0) return 'an unspecified address';
    if (a === 169 && b === 254) return 'a link-local address (where cloud metadata lives)';
    return undefined;
  }
  if (family === 6) {
    if (address === '::1') return 'a loopback address';
    if (address === '::') return 'an unspecified address';
    if (/^fe[89ab]/.test(address)) return 'a link-local address';
    // An IPv4-mapped address, as the URL parser writes it (::ffff:7f00:1 is 127.0.0.1).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
    if (mapped === null) return undefined;
    const [high, low] = [parseInt(mapped[1] ?? '0', 16), parseInt(mapped[2] ?? '0', 16)];
    return forbiddenAddress(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  if (address === 'localhost' || address.endsWith('.localhost')) return 'a loopback name';
  if (METADATA_NAMES.has(address)) return 'a cloud metadata name';
  return undefined;
}

export class UriPolicy {
  readonly #roots: string[];
  readonly #allowedHosts: Set<string>;
  readonly #uploadHosts: Set<string>;

  constructor(settings: UriPolicySettings) {
    this.#roots = [...settings.fileRoots];
    this.#allowedHosts = new Set(settings.playerAllowedHosts.map((host) => host.toLowerCase()));
    this.#uploadHosts = new Set(
      (settings.recorderAllowedHosts ?? []).map((host) => host.toLowerCase()),
    );
  }

  /** Rejects with a 40001 (as other bad parameters) when a player may not open `uri`. */
  async checkPlayer(uri: string): Promise<void> {
    const url = new URL(uri);
    if (url.protocol === 'file:') {
      // As the worker reads it: percent-decoded (Kurento clients write '/' as %2F at times).
      this.#checkPath(uri, decodeURIComponent(url.pathname), 'read');
      return;
    }
    await this.#checkHost(uri, url, this.#allowedHosts, 'KMS_PLAYER_ALLOWED_HOSTS', 'play from it');
  }

  /** Throws a 40001 when a recorder may not write `path`. */
  checkRecorder(uri: string, path: string): void {
    this.#checkPath(uri, path, 'write');
  }

  /** Rejects with a 40001 when a recorder may not upload to the http(s) `uri`. */
  async checkRecorderUpload(uri: string): Promise<void> {
    await this.#checkHost(
      uri,
      new URL(uri),
      this.#uploadHosts,
      'KMS_RECORDER_ALLOWED_HOSTS',
      'record to it',
    );
  }

  async #checkHost(
    uri: string,
    url: URL,
    allowed: Set<string>,
    setting: string,
    what: string,
  ): Promise<void> {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (allowed.has(host)) return;
    const why = forbiddenAddress(host);
    if (why !== undefined) {
      throw KurentoError.marshall(
        `Invalid URI '${uri}': ${host} is ${why}; list it in ${setting} to ${what}`,
      );
    }
    if (isIP(host) !== 0) return;
    for (const address of await resolve(uri, host)) {
      if (allowed.has(address)) continue;
      const resolvedWhy = forbiddenAddress(address);
      if (resolvedWhy !== undefined) {
        throw KurentoError.marshall(
          `Invalid URI '${uri}': ${host} resolves to ${address}, ${resolvedWhy}; list it in ${setting} to ${what}`,
        );
      }
    }
  }

  #checkPath(uri: string, path: string, what: 'read' | 'write'): void {
    if (this.#roots.length === 0) return;
    const real = realPath(path);
    // Resolved at each check: the app may create its folders after the engine started.
    const inside = this.#roots.some((root) => {
      const rest = relative(realPath(root), real);
      return rest !== '' && !rest.startsWith('..') && !isAbsolute(rest);
    });
    if (!inside) {
      throw KurentoError.marshall(
        `Invalid URI '${uri}': the engine may ${what} files only under ${this.#roots.join(', ')} (KMS_FILE_ROOTS)`,
      );
    }
  }
}

/** The addresses `host` resolves to now; none when it does not resolve. */
async function resolve(uri: string, host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          KurentoError.marshall(
            `Invalid URI '${uri}': ${host} did not resolve within ${RESOLVE_TIMEOUT_MS} ms`,
          ),
        ),
      RESOLVE_TIMEOUT_MS,
    );
  });
  try {
    const found = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
    return found.map((entry) => entry.address.toLowerCase());
  } catch (error) {
    if (error instanceof KurentoError) throw error;
    return []; // Unknown name: nothing to reach; the fetch fails later, as in Kurento.
  } finally {
    clearTimeout(timer);
  }
}
