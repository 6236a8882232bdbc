import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AccessPolicy, type AccessSettings } from './AccessPolicy.js';
import { Connection } from './Connection.js';
import { errorResponse, parseRequest, type RpcRequest } from './JsonRpc.js';
import { KurentoError } from './KurentoError.js';
import type { Methods } from './Methods.js';
import { RequestQueue } from './RequestQueue.js';
import type { SessionRegistry } from './SessionRegistry.js';

export interface RpcServerOptions {
  host: string;
  port: number;
  /** Without leading slash, like KMS's mediaServer.net.websocket.path. */
  path: string;
  maxMessageBytes: number;
  /** Who may connect (see AccessPolicy); everyone without a browser Origin when absent. */
  access?: AccessSettings;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The Kurento WebSocket endpoint. Accepts text and binary frames (the npm
 * reconnect-ws sends binary), always answers with text, checks the path like
 * KMS (close 1002 "Invalid path"), and refuses frames over the size limit
 * with a JSON-RPC error instead of dropping the connection.
 */
export class RpcServer {
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #options: RpcServerOptions;
  readonly #methods: Methods;
  readonly #sessions: SessionRegistry;
  readonly #queue = new RequestQueue();
  #closed = false;

  private constructor(options: RpcServerOptions, methods: Methods, sessions: SessionRegistry) {
    this.#options = options;
    this.#methods = methods;
    this.#sessions = sessions;
    this.#http = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' });
      response.end('This is a Kurento WebSocket endpoint.\n');
    });
    // ws itself closes (1009) only far beyond the limit; up to there the
    // size check below answers with a readable JSON-RPC error.
    const policy = new AccessPolicy(options.access ?? { allowedOrigins: [], authToken: undefined });
    this.#wss = new WebSocketServer({
      server: this.#http,
      maxPayload: options.maxMessageBytes * 2 + 65536,
      // Refused at the upgrade with an HTTP status and the reason; never a WebSocket.
      verifyClient: ({ req }, done) => {
        const decision = policy.decide({
          origin: req.headers.origin,
          host: req.headers.host,
          url: req.url ?? '/',
          authorization: req.headers.authorization,
        });
        if (decision.ok) done(true);
        else done(false, decision.status, decision.reason);
      },
    });
    this.#wss.on('connection', (socket, request) => this.#onConnection(socket, request.url ?? '/'));
  }

  static async listen(
    options: RpcServerOptions,
    methods: Methods,
    sessions: SessionRegistry,
  ): Promise<RpcServer> {
    const server = new RpcServer(options, methods, sessions);
    await new Promise<void>((resolve, reject) => {
      server.#http.once('error', reject);
      server.#http.listen(options.port, options.host, () => {
        server.#http.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  get url(): string {
    const address = this.#http.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `ws://${host}:${address.port}/${this.#options.path}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #onConnection(socket: WebSocket, url: string): void {
    // KMS strips the leading '/' and any query, then compares (§1.1).
    const path = url.replace(/^\//, '').split('?')[0] ?? '';
    if (path !== this.#options.path) {
      socket.close(1002, 'Invalid path');
      return;
    }
    const connection = new Connection(socket);
    socket.on('message', (data) => this.#onMessage(connection, toBuffer(data)));
    socket.on('close', () => this.#sessions.unbind(connection));
    socket.on('error', (error) =>
      process.stderr.write(`connection ${connection.id}: ${error.message}\n`),
    );
  }

  #onMessage(connection: Connection, data: Buffer): void {
    if (data.length > this.#options.maxMessageBytes) {
      connection.send(
        errorResponse(
          null,
          new KurentoError(
            'INVALID_REQUEST',
            `Invalid JSON-RPC request: message of ${data.length} bytes exceeds the limit of ${this.#options.maxMessageBytes} bytes (KMS_MAX_MESSAGE_BYTES)`,
          ),
        ),
      );
      return;
    }
    const parsed = parseRequest(data.toString('utf8'));
    if (!parsed.ok) {
      connection.send(errorResponse(parsed.id, parsed.error));
      return;
    }
    const request = parsed.request;
    if (request.method === 'ping' && !this.#queue.hasQueued(connection)) {
      this.#dispatch(connection, request);
    } else {
      this.#queue.push(connection, () => this.#dispatch(connection, request));
    }
  }

  #dispatch(connection: Connection, request: RpcRequest): void {
    this.#methods.dispatch(connection, request).then(
      (response) => {
        if (response) connection.send(response);
      },
      (error: unknown) => {
        connection.send(errorResponse(request.id ?? null, KurentoError.internal(error)));
      },
    );
  }
}
