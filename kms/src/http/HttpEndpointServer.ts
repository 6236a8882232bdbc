/**
 * The engine's own HTTP server for HttpPostEndpoints, as Kurento runs one (its HttpEndpoint
 * settings serverAddress, port and announcedAddress). It starts with the first HttpPostEndpoint
 * (an engine that never creates one opens no port), binds 127.0.0.1 unless told otherwise, and
 * hands each request to the endpoint registered under the request's path, a random UUID that
 * getUrl reports. Anything else gets a plain-text error: 404 for a path no endpoint has (never
 * created, or released), 405 for a method other than POST.
 *
 * The POSTed bodies reach the pipeline through FIFOs in a folder only the engine's user may
 * enter (created here with mkdtemp, mode 0700), which the workers create and read.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KurentoError } from '../rpc/KurentoError.js';

export interface HttpEndpointSettings {
  address: string;
  /** 0: any free port. */
  port: number;
  /** The host getUrl names; default: the listening address. */
  announcedAddress: string | undefined;
  /** Most bytes one endpoint accepts. */
  maxBytes: number;
}

/** What a registered endpoint does with a POST to its path. */
export interface PostTarget {
  handlePost(request: IncomingMessage, response: ServerResponse): void;
}

/** Answers a request with a short plain-text reason, as every refusal here does. */
export function refuse(response: ServerResponse, status: number, reason: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  response.end(`${reason}\n`);
}

/**
 * The address getUrl names when none is announced: the listening one, or for a wildcard bind
 * the machine's first external IPv4 address (as Kurento picks "any available address").
 */
export function announceable(address: string): string {
  if (address !== '0.0.0.0' && address !== '::') return address;
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return '127.0.0.1';
}

export class HttpEndpointServer {
  readonly #settings: HttpEndpointSettings;
  readonly #targets = new Map<string, PostTarget>();
  #started: Promise<{ server: Server; port: number; fifoDir: string }> | undefined;

  constructor(settings: HttpEndpointSettings) {
    this.#settings = settings;
  }

  get maxBytes(): number {
    return this.#settings.maxBytes;
  }

  /**
   * Listens (once) and returns the FIFO folder. A port that cannot be bound is a 40300
   * HTTP_END_POINT_REGISTRATION_ERROR, as Kurento's "HttpServer is not created".
   */
  async start(): Promise<string> {
    this.#started ??= this.#listen();
    try {
      return (await this.#started).fifoDir;
    } catch (error) {
      this.#started = undefined;
      throw new KurentoError(
        'HTTP_END_POINT_REGISTRATION_ERROR',
        `The HTTP server of HttpPostEndpoints could not listen on ${this.#settings.address}:${this.#settings.port} (KMS_HTTP_ENDPOINT_ADDRESS, KMS_HTTP_ENDPOINT_PORT): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async #listen(): Promise<{ server: Server; port: number; fifoDir: string }> {
    const server = createServer((request, response) => this.#route(request, response));
    // An upload lasts as long as its media: no limit on the whole request, but headers must
    // come promptly (each endpoint limits idle bodies itself).
    server.requestTimeout = 0;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#settings.port, this.#settings.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const fifoDir = await mkdtemp(join(tmpdir(), 'montage-kms-post-'));
    return { server, port: (server.address() as AddressInfo).port, fifoDir };
  }

  /** Registers `target` under a new random path; returns the URL getUrl reports. */
  async register(target: PostTarget): Promise<{ path: string; url: string }> {
    await this.start();
    const started = await this.#started;
    if (started === undefined) throw KurentoError.internal('HTTP server not started');
    const path = `/${randomUUID()}`;
    this.#targets.set(path, target);
    const host = this.#settings.announcedAddress ?? announceable(this.#settings.address);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return { path, url: `http://${hostPart}:${started.port}${path}` };
  }

  unregister(path: string): void {
    this.#targets.delete(path);
  }

  #route(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const target = this.#targets.get(path);
    if (target === undefined) {
      request.resume();
      refuse(response, 404, 'No HttpPostEndpoint at this URL (never created, or released)');
      return;
    }
    if (request.method !== 'POST') {
      request.resume();
      response.setHeader('Allow', 'POST');
      refuse(response, 405, `An HttpPostEndpoint takes POST, not ${request.method ?? '?'}`);
      return;
    }
    target.handlePost(request, response);
  }

  /** Stops listening, drops open uploads and removes the FIFO folder. Safe to call twice. */
  async close(): Promise<void> {
    const started = this.#started;
    this.#started = undefined;
    this.#targets.clear();
    if (started === undefined) return;
    const { server, fifoDir } = await started.catch(() => ({
      server: undefined,
      fifoDir: undefined,
    }));
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (fifoDir !== undefined) await rm(fifoDir, { recursive: true, force: true });
  }
}
