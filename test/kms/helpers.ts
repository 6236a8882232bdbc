import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startEngine, type RunningEngine } from '../../kms/src/Engine.js';
import type { EngineConfig } from '../../kms/src/config.js';

/** The compiled fake worker next to this file (dist/test/kms/fixtures/fakeWorker.js). */
export const FAKE_WORKER = fileURLToPath(new URL('./fixtures/fakeWorker.js', import.meta.url));
/** The real C worker, built by `make -s -C kms/worker`. */
export const REAL_WORKER = fileURLToPath(
  new URL('../../../kms/worker/build/montage-worker', import.meta.url),
);

/** Starts an engine on a free port with the fake worker unless told otherwise. */
export function startTestEngine(overrides: Partial<EngineConfig> = {}): Promise<RunningEngine> {
  return startEngine({
    port: 0,
    iceAddresses: ['127.0.0.1'],
    workerPath: process.execPath,
    workerArgs: [FAKE_WORKER],
    ...overrides,
  });
}

export function realWorkerAvailable(): boolean {
  return existsSync(REAL_WORKER);
}

export type Json = Record<string, unknown>;

/**
 * Request ids keep rising across RawClient instances, like one kurento-client
 * across reconnections: the server caches replies per (session, id) for 20 s.
 */
let nextRequestId = 1;

/** A raw JSON-RPC client for what kurento-client cannot send. */
export class RawClient {
  readonly socket: WebSocket;
  readonly events: Json[] = [];
  readonly #waiting = new Map<unknown, (message: Json) => void>();
  readonly #eventWaiters: Array<{ match: (e: Json) => boolean; resolve: (e: Json) => void }> = [];
  readonly messages: Json[] = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as Json;
      this.messages.push(message);
      if (message.method === 'onEvent') {
        this.events.push(message);
        for (const waiter of [...this.#eventWaiters]) {
          if (waiter.match(message)) {
            this.#eventWaiters.splice(this.#eventWaiters.indexOf(waiter), 1);
            waiter.resolve(message);
          }
        }
        return;
      }
      const resolve = this.#waiting.get(message.id ?? null);
      if (resolve) {
        this.#waiting.delete(message.id ?? null);
        resolve(message);
      }
    });
  }

  static open(url: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a request and resolves with the full response. */
  call(method: string, params?: Json, id: number | string = nextRequestId++): Promise<Json> {
    const message: Json = { jsonrpc: '2.0', method, id };
    if (params !== undefined) message.params = params;
    return this.sendRaw(JSON.stringify(message), id);
  }

  /** Sends arbitrary text and resolves with the reply carrying `expectId` (null for unparsable input). */
  sendRaw(text: string | Buffer, expectId: unknown = null, binary = false): Promise<Json> {
    return new Promise((resolve) => {
      this.#waiting.set(expectId, resolve);
      this.socket.send(text, { binary });
    });
  }

  /** Resolves with the result or throws the error object. */
  async ok(method: string, params?: Json): Promise<Json> {
    const response = await this.call(method, params);
    if (response.error) throw new Error(`${method} failed: ${JSON.stringify(response.error)}`);
    return response.result as Json;
  }

  waitEvent(match: (event: Json) => boolean, timeoutMs = 5000): Promise<Json> {
    const found = this.events.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for event')), timeoutMs);
      this.#eventWaiters.push({
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/** Event value helpers: `params.value` of an onEvent notification. */
export function eventValue(event: Json): { data: Json; object: string; type: string } {
  return (event.params as Json).value as { data: Json; object: string; type: string };
}

export function isEvent(type: string, object?: string): (event: Json) => boolean {
  return (event) => {
    const value = eventValue(event);
    return value.type === type && (object === undefined || value.object === object);
  };
}

/** Pids of running processes whose executable name is montage-worker or whose command line has the fake worker. */
export function workerProcesses(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Zombies ('Z') are already dead; only live processes count.
      if (cmdline.includes(marker) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked; it is not running, which is what we count.
      continue;
    }
  }
  return pids;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * @types/kurento-client describes 6.x; this calls the 7.x methods the
 * client library really has (setMaxVideoRecvBandwidth, isMediaFlowingIn…).
 */
export function call(object: unknown, name: string, ...args: unknown[]): Promise<unknown> {
  const method = (object as Record<string, unknown>)[name];
  if (typeof method !== 'function') throw new Error(`kurento-client object has no method ${name}`);
  return (method as (...a: unknown[]) => Promise<unknown>).apply(object, args);
}
