import { randomUUID } from 'node:crypto';
import type { MediaSet } from '../objects/MediaSet.js';
import type { Args, MediaObject } from '../objects/MediaObject.js';
import type { Connection } from './Connection.js';
import type { RpcResponse } from './JsonRpc.js';
import { Session } from './Session.js';

/** KMS keeps each response 20 s per (session, request id) (§6.7). */
const RESPONSE_CACHE_MS = 20000;

interface CachedResponse {
  response: RpcResponse;
  expires: number;
}

/**
 * All sessions, which connection each is bound to, the response cache and
 * the garbage collector that releases the objects of idle sessions: a
 * session not used (no bound open socket, no request) during a whole GC
 * period loses its objects and is forgotten, so a later `connect` with it
 * gets 40007.
 */
export class SessionRegistry {
  readonly serverId = randomUUID();
  readonly #sessions = new Map<string, Session>();
  readonly #cache = new Map<string, CachedResponse>();
  readonly #mediaSet: MediaSet;
  readonly #gcTimer: NodeJS.Timeout;
  #lastCacheSweep = Date.now();

  constructor(mediaSet: MediaSet, gcPeriodMs: number) {
    this.#mediaSet = mediaSet;
    mediaSet.onEvent((source, type, data) => this.#deliver(source, type, data));
    mediaSet.onDestroyed((objectId) => {
      for (const session of this.#sessions.values()) session.dropObject(objectId);
    });
    this.#gcTimer = setInterval(() => this.collectGarbage(), gcPeriodMs);
    this.#gcTimer.unref();
  }

  ids(): string[] {
    return [...this.#sessions.keys()];
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Any request naming an unknown session registers it on the fly (§1.3). */
  getOrCreate(id: string | undefined): Session {
    const sessionId = id ?? randomUUID();
    let session = this.#sessions.get(sessionId);
    if (!session) {
      session = new Session(sessionId);
      this.#sessions.set(sessionId, session);
    }
    session.usedSinceGc = true;
    return session;
  }

  /** Binds a connection to a session, unbinding whichever connection had it before. */
  bind(connection: Connection, sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    if (connection.sessionId && connection.sessionId !== sessionId) {
      const previous = this.#sessions.get(connection.sessionId);
      if (previous?.connection === connection) previous.connection = undefined;
    }
    if (session.connection && session.connection !== connection)
      session.connection.sessionId = undefined;
    session.connection = connection;
    connection.sessionId = sessionId;
    session.usedSinceGc = true;
  }

  /** The socket closed: its session lives on until GC. */
  unbind(connection: Connection): void {
    if (!connection.sessionId) return;
    const session = this.#sessions.get(connection.sessionId);
    if (session?.connection === connection) {
      session.connection = undefined;
      // The GC period starts counting from the disconnection.
      session.usedSinceGc = true;
    }
    connection.sessionId = undefined;
  }

  /** Unrefs (or releases) every object of a session and forgets it. */
  closeSession(sessionId: string, release: boolean): void {
    for (const object of this.#mediaSet.ownedBy(sessionId)) {
      if (release) this.#mediaSet.release(object);
      else this.#mediaSet.unref(object, sessionId);
    }
    const session = this.#sessions.get(sessionId);
    if (session?.connection) session.connection.sessionId = undefined;
    this.#sessions.delete(sessionId);
    // A forgotten session's cached replies must not answer a later session of the same id.
    for (const key of this.#cache.keys())
      if (key.startsWith(`${sessionId}\u0000`)) this.#cache.delete(key);
  }

  collectGarbage(): void {
    for (const session of [...this.#sessions.values()]) {
      if (session.connection?.open) {
        session.usedSinceGc = true;
      }
      if (!session.usedSinceGc) {
        this.closeSession(session.id, false);
        continue;
      }
      session.usedSinceGc = false;
    }
  }

  cached(sessionId: string, requestId: string | number): RpcResponse | undefined {
    const entry = this.#cache.get(`${sessionId}\u0000${JSON.stringify(requestId)}`);
    if (!entry || entry.expires < Date.now()) return undefined;
    return entry.response;
  }

  remember(sessionId: string, requestId: string | number, response: RpcResponse): void {
    const now = Date.now();
    if (now - this.#lastCacheSweep > RESPONSE_CACHE_MS) {
      this.#lastCacheSweep = now;
      for (const [key, entry] of this.#cache) if (entry.expires < now) this.#cache.delete(key);
    }
    this.#cache.set(`${sessionId}\u0000${JSON.stringify(requestId)}`, {
      response,
      expires: now + RESPONSE_CACHE_MS,
    });
  }

  close(): void {
    clearInterval(this.#gcTimer);
  }

  #deliver(source: MediaObject, type: string, data: Args): void {
    const notification = {
      jsonrpc: '2.0',
      method: 'onEvent',
      params: { value: { data, object: source.id, type } },
    };
    for (const session of this.#sessions.values()) {
      if (session.wants(source.id, type)) session.send(notification);
    }
  }
}
