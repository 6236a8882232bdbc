import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startEngine, type RunningEngine } from '../../kms/src/Engine.js';
import type { EngineConfig } from '../../kms/src/config.js';

/** The real C worker, built by `make -s -C kms/worker` (`npm run build` does it). */
export const REAL_WORKER = fileURLToPath(
  new URL('../../../kms/worker/build/montage-worker', import.meta.url),
);

/**
 * Starts an engine on a free loopback port with the real montage-worker. A missing worker
 * binary is an error, never a reason to run something else in its place.
 */
export function startTestEngine(overrides: Partial<EngineConfig> = {}): Promise<RunningEngine> {
  if (!existsSync(REAL_WORKER)) {
    throw new Error(`${REAL_WORKER} is missing; build it with \`make -s -C kms/worker\``);
  }
  return startEngine({
    port: 0,
    iceAddresses: ['127.0.0.1'],
    workerPath: REAL_WORKER,
    ...overrides,
  });
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
  readonly #eventListeners: Array<(event: Json) => void> = [];
  readonly messages: Json[] = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as Json;
      this.messages.push(message);
      if (message.method === 'onEvent') {
        this.events.push(message);
        for (const listener of this.#eventListeners) listener(message);
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

  /** Calls `listener` with every onEvent notification from now on. */
  onEvent(listener: (event: Json) => void): void {
    this.#eventListeners.push(listener);
  }

  /**
   * Resolves once every event the engine raised before this call has arrived. The engine
   * delivers events on the turn after the request that raised them, so they precede the answer
   * to a later ping on the same socket. Lets a test assert that an event did not come.
   */
  async settle(): Promise<void> {
    await this.ok('ping');
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

/** Pids of live processes whose command line contains `marker` (e.g. the worker binary path). */
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

/** Polls `check` every 50 ms until it holds, failing after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Creates a MediaPipeline and returns its id. */
export async function createPipeline(raw: RawClient): Promise<string> {
  return (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
}

/** Creates an element of `type` in `pipeline` and returns its id. */
export async function createElement(
  raw: RawClient,
  pipeline: string,
  type: string,
  params: Json = {},
): Promise<string> {
  return (
    await raw.ok('create', { type, constructorParams: { mediaPipeline: pipeline, ...params } })
  ).value as string;
}

/**
 * Negotiates two engine WebRtcEndpoints with each other the way an application would:
 * `offerer` generates the offer, `answerer` processes it, the answer goes back, and every
 * IceCandidateFound of one side is added to the other. Both endpoints may live in the same
 * pipeline or in different ones; they talk over 127.0.0.1. Resolves with both descriptions
 * once both sides have finished gathering.
 */
export async function negotiateEndpoints(
  raw: RawClient,
  offerer: string,
  answerer: string,
): Promise<{ offer: string; answer: string }> {
  const peerOf = new Map([
    [offerer, answerer],
    [answerer, offerer],
  ]);
  const failures: unknown[] = [];
  raw.onEvent((event) => {
    const value = eventValue(event);
    const peer = peerOf.get(value.object);
    if (value.type !== 'IceCandidateFound' || peer === undefined) return;
    // addIceCandidate queues candidates that come before the remote description.
    raw
      .ok('invoke', {
        object: peer,
        operation: 'addIceCandidate',
        operationParams: { candidate: value.data.candidate },
      })
      .catch((error: unknown) => failures.push(error));
  });
  for (const id of [offerer, answerer]) {
    await raw.ok('subscribe', { object: id, type: 'IceCandidateFound' });
    await raw.ok('subscribe', { object: id, type: 'IceGatheringDone' });
  }
  const offer = (
    await raw.ok('invoke', { object: offerer, operation: 'generateOffer', operationParams: {} })
  ).value as string;
  const answer = (
    await raw.ok('invoke', {
      object: answerer,
      operation: 'processOffer',
      operationParams: { offer },
    })
  ).value as string;
  await raw.ok('invoke', {
    object: offerer,
    operation: 'processAnswer',
    operationParams: { answer },
  });
  await raw.ok('invoke', { object: offerer, operation: 'gatherCandidates' });
  await raw.ok('invoke', { object: answerer, operation: 'gatherCandidates' });
  await raw.waitEvent(isEvent('IceGatheringDone', offerer), 10_000);
  await raw.waitEvent(isEvent('IceGatheringDone', answerer), 10_000);
  await raw.settle();
  if (failures.length > 0) throw new Error(`addIceCandidate failed: ${String(failures[0])}`);
  return { offer, answer };
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
