/**
 * Carries RecorderEndpoint uploads to https:// URIs. The worker uploads with curlhttpsink, whose
 * https support cannot work with Debian's libcurl-gnutls ("failed to set default crypto
 * engine"), so for an https:// URI the worker POSTs to this loopback relay instead, and the relay
 * sends the same body on, chunked, to the real URI over Node's TLS, which verifies the server's
 * certificate against the system's CAs (and NODE_EXTRA_CA_CERTS). The server's status goes back
 * to the worker; a failure to reach it is a 502 whose reason the recorder reports
 * (`failure(path)`), since curl only sees the status.
 *
 * Listens on 127.0.0.1, on a free port, from the first https recorder; each recorder has its own
 * unguessable path.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

export class HttpsUploadRelay {
  readonly #targets = new Map<string, string>();
  readonly #failures = new Map<string, string>();
  #started: Promise<{ server: Server; port: number }> | undefined;

  /** Registers an https URL; returns the loopback URL the worker uploads to, and its path. */
  async register(target: string): Promise<{ path: string; url: string }> {
    this.#started ??= this.#listen();
    const { port } = await this.#started;
    const path = `/${randomUUID()}`;
    this.#targets.set(path, target);
    return { path, url: `http://127.0.0.1:${port}${path}` };
  }

  unregister(path: string): void {
    this.#targets.delete(path);
    this.#failures.delete(path);
  }

  /** Why the latest upload of `path` could not reach its server, if it could not. */
  failure(path: string): string | undefined {
    return this.#failures.get(path);
  }

  async #listen(): Promise<{ server: Server; port: number }> {
    const server = createServer((request, response) => this.#relay(request, response));
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return { server, port: (server.address() as AddressInfo).port };
  }

  #relay(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? '';
    const target = this.#targets.get(path);
    if (target === undefined || request.method !== 'POST') {
      request.resume();
      response.writeHead(404).end();
      return;
    }
    this.#failures.delete(path);
    const headers: Record<string, string> = {};
    const type = request.headers['content-type'];
    if (type !== undefined) headers['Content-Type'] = type;
    // No Content-Length: Node sends the body with Transfer-Encoding: chunked, as curl does.
    const upstream = httpsRequest(target, { method: 'POST', headers });
    const fail = (reason: string): void => {
      this.#failures.set(path, reason);
      if (!response.headersSent) response.writeHead(502, { Connection: 'close' });
      response.end();
      request.destroy();
    };
    upstream.on('error', (error) => fail(`${new URL(target).host}: ${error.message}`));
    upstream.on('response', (answer) => {
      answer.resume();
      const status = answer.statusCode ?? 502;
      if (status >= 400) this.#failures.set(path, `HTTP ${status} from ${new URL(target).host}`);
      if (!response.headersSent) response.writeHead(status);
      response.end();
    });
    request.pipe(upstream);
    // The worker stopping mid-upload ends its request; the server must not get a truncated
    // body that looks complete.
    request.on('aborted', () => upstream.destroy());
  }

  async close(): Promise<void> {
    const started = this.#started;
    this.#started = undefined;
    this.#targets.clear();
    if (started === undefined) return;
    const { server } = await started;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
