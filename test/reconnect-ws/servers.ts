/**
 * Real `ws` servers on 127.0.0.1 for the reconnect-ws tests: a plain recording echo server and a
 * tiny Kurento-protocol JSON-RPC server that answers just enough for kurento-client to connect.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/** A frame as the server received it. */
export interface ReceivedFrame {
  text: string;
  isBinary: boolean;
}

/** Returns a TCP port on 127.0.0.1 that nothing listens on right now. */
export async function findFreePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * A WebSocket server that can be stopped and started again on the same port, so tests can
 * simulate a server restart. `onMessage` decides the reply to each frame (none if undefined).
 */
export class TestServer {
  readonly port: number;
  readonly frames: ReceivedFrame[] = [];
  connections = 0;
  #server: WebSocketServer | undefined;
  readonly #onMessage: (text: string, socket: WebSocket) => string | undefined;

  constructor(port: number, onMessage: (text: string, socket: WebSocket) => string | undefined) {
    this.port = port;
    this.#onMessage = onMessage;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/kurento`;
  }

  async start(): Promise<void> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: this.port });
    server.on('connection', (socket) => {
      this.connections += 1;
      socket.on('message', (data, isBinary) => {
        const text = rawToString(data);
        this.frames.push({ text, isBinary });
        const reply = this.#onMessage(text, socket);
        if (reply !== undefined) socket.send(reply);
      });
    });
    await once(server, 'listening');
    this.#server = server;
  }

  /** Drops every client abruptly (as a crash would) and stops listening. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
    });
  }

  /** Resolves with the first received frame (past or future) that satisfies `match`. */
  async waitForFrame(
    match: (frame: ReceivedFrame) => boolean,
    timeoutMs = 5000,
  ): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** The fields of a JSON-RPC request this fake server looks at. */
interface RpcRequest {
  id?: number;
  method?: string;
  params?: { sessionId?: string; object?: string; operation?: string };
}

const INVALID_SESSION = 40007;

function moduleInfo(name: string): Record<string, unknown> {
  return {
    __module__: 'kurento',
    __type__: 'ModuleInfo',
    factories: [],
    generationTime: 'test',
    name,
    version: '7.2.0',
  };
}

/**
 * Answers ping, describe of the ServerManager, ServerManager.getInfo (listing the modules core,
 * elements and filters that kurento-client's strict check needs) and connect with a known
 * session. Sessions survive `stop()`/`start()`, as they survive a dropped socket in KMS.
 */
export function fakeKurentoServer(port: number): TestServer {
  const sessionId = 'session-1';
  const knownSessions = new Set<string>([sessionId]);

  return new TestServer(port, (text) => {
    let request: RpcRequest;
    try {
      request = JSON.parse(text) as RpcRequest;
    } catch {
      return JSON.stringify({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' } });
    }
    const reply = (result: Record<string, unknown>): string =>
      JSON.stringify({ id: request.id, jsonrpc: '2.0', result });
    const session = request.params?.sessionId ?? sessionId;

    switch (request.method) {
      case 'ping':
        return reply({ value: 'pong' });
      case 'describe':
        return reply({
          hierarchy: ['kurento.MediaObject'],
          qualifiedType: 'kurento.ServerManager',
          sessionId: session,
          type: 'ServerManager',
        });
      case 'invoke':
        return reply({
          sessionId: session,
          value: {
            __module__: 'kurento',
            __type__: 'ServerInfo',
            capabilities: [],
            modules: ['core', 'elements', 'filters'].map(moduleInfo),
            type: 'KMS',
            version: '7.2.0',
          },
        });
      case 'connect':
        if (!knownSessions.has(session)) {
          return JSON.stringify({
            id: request.id,
            jsonrpc: '2.0',
            error: { code: INVALID_SESSION, message: 'Invalid session' },
          });
        }
        return reply({ serverId: 'test-server', sessionId: session });
      default:
        return JSON.stringify({
          id: request.id,
          jsonrpc: '2.0',
          error: { code: -32601, message: `Method not found: ${String(request.method)}` },
        });
    }
  });
}
