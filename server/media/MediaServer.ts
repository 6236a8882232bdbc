/**
 * The one place that holds the kurento-client connection of the app server. Everything that
 * creates media objects asks this class for the current client; nothing else imports
 * kurento-client's connection function.
 *
 * Why a class of its own: the media server (the embedded engine or a real KMS) can restart
 * under us. Kurento's live objects die with its session, so the app server must notice the drop,
 * report it (metrics, /healthz), and rebuild every live assembly once a new session is up. This
 * class turns kurento-client's reconnect machinery into two plain events:
 *
 *  - `connected(client, resumed)`: a session is usable. `resumed` is true when kurento-client
 *    reattached the previous session (every object still exists), false for a new session
 *    (everything must be rebuilt).
 *  - `disconnected()`: the WebSocket closed; objects may or may not survive.
 *
 * Connecting never gives up: until `stop()`, a failed attempt is retried after a short delay,
 * so `npm start` works whichever of the engine and the app server comes up first.
 */
import { EventEmitter } from 'node:events';
import kurento from 'kurento-client';
import { redactedUri } from '../config.js';
import type { Logger } from '../log.js';

export interface MediaServerEvents {
  connected: [client: kurento.KurentoClient, resumed: boolean];
  disconnected: [];
}

export interface MediaServerOptions {
  /** ws://host:port/kurento of the engine or of a real KMS. */
  uri: string;
  logger: Logger;
  /** Delay between two connection attempts (default 250 ms). */
  retryDelayMs?: number;
}

/**
 * kurento-client's internal reconnect handle (reconnect-core). Its `disconnect` event fires as
 * soon as the WebSocket closes, long before the client's own `disconnect` (which waits for every
 * retry to fail), so it is the earliest signal that live objects may be gone.
 */
interface ReconnectHandle {
  on(event: 'disconnect', listener: () => void): unknown;
}

export class MediaServer extends EventEmitter<MediaServerEvents> {
  readonly uri: string;
  readonly #log: Logger;
  readonly #retryDelayMs: number;
  #client: kurento.KurentoClient | undefined;
  #connected = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  /** The URI as logs show it (a shared secret in it hidden). */
  readonly #shown: string;

  constructor(options: MediaServerOptions) {
    super();
    this.uri = options.uri;
    this.#shown = redactedUri(options.uri);
    this.#log = options.logger;
    // A restarted engine listens again within a second or two; trying four times a second
    // reconnects right after, and costs a refused TCP connection each time meanwhile.
    this.#retryDelayMs = options.retryDelayMs ?? 250;
  }

  /** The client while a session is usable; undefined between a drop and the next session. */
  get client(): kurento.KurentoClient | undefined {
    return this.#connected ? this.#client : undefined;
  }

  get isConnected(): boolean {
    return this.#connected;
  }

  /** Starts connecting in the background; `connected` is emitted once a session is up. */
  start(): void {
    if (this.#loop !== undefined || this.#stopped) return;
    this.#loop = this.#connect();
  }

  /** Resolves once connected (or rejects after `timeoutMs`). Tests and startup use it. */
  async waitConnected(timeoutMs: number): Promise<kurento.KurentoClient> {
    const current = this.client;
    if (current !== undefined) return current;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new Error(`no media server at ${this.#shown} after ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnected = (client: kurento.KurentoClient): void => {
        clearTimeout(timer);
        resolve(client);
      };
      this.once('connected', onConnected);
    });
  }

  /** Closes the connection and stops retrying. Safe to call twice. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#drop();
  }

  async #connect(): Promise<void> {
    while (!this.#stopped) {
      try {
        // failAfter bounds kurento-client's own retries (fibonacci up to 30 s apart), so that a
        // dead media server is noticed within seconds and this loop starts a fresh session.
        // A short duplicates_timeout keeps kurento-jsonrpc's response cache from holding
        // timers (and the process) for 20 s after close.
        const pending = kurento(this.uri, { failAfter: 3, duplicates_timeout: 500 });
        const client = await pending;
        if (this.#stopped) {
          client.close();
          return;
        }
        // The awaited value is a disguised copy without the reconnect handle; the original
        // (thenable) client object carries it.
        this.#attach(client, (pending as unknown as { _re: ReconnectHandle })._re);
        return;
      } catch (error) {
        this.#log.debug('media server not reachable yet', {
          uri: this.#shown,
          error: error instanceof Error ? error.message : String(error),
        });
        await new Promise<void>((resolve) => {
          this.#retryTimer = setTimeout(resolve, this.#retryDelayMs);
        });
      }
    }
  }

  #attach(client: kurento.KurentoClient, reconnect: ReconnectHandle): void {
    this.#client = client;
    this.#connected = true;
    this.#log.info('media server connected', { uri: this.#shown });
    reconnect.on('disconnect', () => {
      if (this.#client !== client || !this.#connected) return;
      this.#connected = false;
      this.#log.warn('media server connection lost; reconnecting', { uri: this.#shown });
      this.emit('disconnected');
    });
    client.on('reconnected', (sameSession) => {
      if (this.#client !== client || this.#stopped) return;
      this.#connected = true;
      this.#log.info('media server reconnected', { uri: this.#shown, sameSession });
      this.emit('connected', client, sameSession === true);
    });
    // kurento-client gave up (failAfter): forget this client and start a fresh session.
    client.on('disconnect', () => {
      if (this.#client !== client) return;
      this.#drop();
      if (this.#stopped) return;
      this.#loop = this.#connect();
    });
    this.emit('connected', client, false);
  }

  #drop(): void {
    const client = this.#client;
    const wasConnected = this.#connected;
    this.#client = undefined;
    this.#connected = false;
    if (client !== undefined) {
      try {
        client.close();
      } catch (error) {
        // Closing a client whose socket already failed can throw inside kurento-client; the
        // client is being forgotten either way.
        this.#log.debug('closing the media server client failed', { error });
      }
    }
    if (wasConnected) this.emit('disconnected');
  }
}
