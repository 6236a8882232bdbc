/**
 * A reconnecting WebSocket duplex stream with the API that kurento-client 7.x expects from the
 * GitHub-only `KurentoForks/reconnect-ws` package.
 *
 * kurento-client calls `reconnect(options, onStream).connect(uri, socketOptions)`, hands every
 * stream it receives to kurento-jsonrpc as `rpc.transport` (which writes whole JSON messages with
 * `write()` and reads whole messages from `'data'` events), reads the flags `connected` and
 * `reconnect`, and listens for `connection`, `reconnect` and `fail`.
 *
 * Unlike the npm registry's `reconnect-ws@0.1.0`, this one sends TEXT frames (Kurento Media
 * Server always answers in text and some servers only accept text) and never lets a refused
 * connection escape as an unhandled `'error'` event: every failed attempt is retried with a
 * Fibonacci backoff until `failAfter` consecutive retries have failed.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';

/** Options accepted by `reconnect()`; kurento-client only ever passes `failAfter`. */
interface ReconnectOptions {
  /** Delay before the first retry, in milliseconds (default 100). */
  initialDelay?: number;
  /** Upper bound of the backoff delay, in milliseconds (default 10 000). */
  maxDelay?: number;
  /** Give up (emit `fail`) after this many consecutive failed retries (default Infinity). */
  failAfter?: number;
  /** Abort an opening handshake that takes longer than this, in milliseconds (default 10 000). */
  handshakeTimeout?: number;
}

/** Options passed through to the `ws` WebSocket constructor. */
type SocketOptions = WebSocket.ClientOptions;

type StreamCallback = (stream: WebSocketStream) => void;

/** Event names and listener arguments of a `Reconnector`. */
interface ReconnectorEvents {
  /** A WebSocket opened; the argument is its duplex stream (also given to `onStream`). */
  connection: [stream: WebSocketStream];
  /** A connection that had been established is being re-established (attempt number from 1). */
  reconnect: [attempt: number, delay: number];
  /** A retry has been scheduled after a failed or lost connection. */
  backoff: [attempt: number, delay: number, error: Error | undefined];
  /** An established connection was lost, or `disconnect()` was called. */
  disconnect: [error: Error | undefined];
  /** `failAfter` consecutive retries failed; no further attempt will be made. */
  fail: [error: Error | undefined];
}

const DEFAULT_INITIAL_DELAY_MS = 100;
const DEFAULT_MAX_DELAY_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Returns the delay before retry number `attempt` (counted from 1): a Fibonacci sequence that
 * starts with `initialDelay` twice (100, 100, 200, 300, 500, …) and is capped at `maxDelay`.
 * This is what the `backoff` package that reconnect-core used produces.
 */
function fibonacciDelay(attempt: number, initialDelay: number, maxDelay: number): number {
  let previous = 0;
  let current = initialDelay;
  for (let i = 1; i < attempt && current < maxDelay; i++) {
    const next = previous + current;
    previous = current;
    current = next;
  }
  return Math.min(current, maxDelay);
}

/**
 * A duplex stream over one open WebSocket. Each written chunk becomes one text frame and each
 * received frame becomes one `'data'` chunk (a string for text frames), so JSON-RPC messages
 * are never split or merged.
 */
class WebSocketStream extends Duplex {
  readonly #socket: WebSocket;

  constructor(socket: WebSocket) {
    super({ objectMode: true, allowHalfOpen: false });
    this.#socket = socket;
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      this.push(isBinary ? data : rawDataToString(data));
    });
    socket.on('close', () => {
      // Ending the readable side tells consumers that no more messages will come; destroying
      // makes later writes fail quietly (kurento-jsonrpc may still write to a stale transport
      // while a reconnection is under way, and must not crash the process doing so).
      this.push(null);
      this.destroy();
    });
  }

  /** kurento-jsonrpc's `RpcBuilder.close()` calls this when it owns the transport. */
  close(): void {
    this.#socket.close();
  }

  override _read(): void {
    // Messages are pushed as they arrive; WebSocket frames cannot be paused meaningfully here.
  }

  override _write(
    chunk: unknown,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#socket.readyState !== WebSocket.OPEN) {
      callback(new Error('WebSocket is not open'));
      return;
    }
    // A string is sent as a text frame; buffers are decoded first so the frame stays text.
    const text = typeof chunk === 'string' ? chunk : chunkToString(chunk);
    this.#socket.send(text, (error?: Error) => callback(error ?? null));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (
      this.#socket.readyState === WebSocket.OPEN ||
      this.#socket.readyState === WebSocket.CONNECTING
    ) {
      this.#socket.close();
    }
    callback(error);
  }
}

function rawDataToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function chunkToString(chunk: unknown): string {
  if (Buffer.isBuffer(chunk)) return chunk.toString('utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk).toString('utf8');
  return JSON.stringify(chunk);
}

/**
 * Keeps one WebSocket open to a URI, reopening it with a Fibonacci backoff whenever it fails or
 * drops, until `disconnect()` is called or `failAfter` consecutive retries have failed.
 */
class Reconnector extends EventEmitter<ReconnectorEvents> {
  /** True while a WebSocket is open. */
  connected = false;
  /** True while this reconnector keeps (or will keep) trying to be connected. */
  reconnect = false;

  readonly #initialDelay: number;
  readonly #maxDelay: number;
  readonly #failAfter: number;
  readonly #handshakeTimeout: number;
  #uri: string | undefined;
  #socketOptions: SocketOptions | undefined;
  #socket: WebSocket | undefined;
  #stream: WebSocketStream | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Failed attempts since the last successful connection. */
  #retries = 0;
  /** Whether a connection has ever been established (decides whether retries are reconnects). */
  #everConnected = false;

  constructor(options: ReconnectOptions, onStream: StreamCallback | undefined) {
    super();
    this.#initialDelay = options.initialDelay ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxDelay = options.maxDelay ?? DEFAULT_MAX_DELAY_MS;
    this.#failAfter = options.failAfter ?? Infinity;
    this.#handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (onStream) this.on('connection', onStream);
  }

  /** Starts connecting to `uri`; calling it again while connected or connecting does nothing. */
  connect(uri: string, socketOptions?: SocketOptions): this {
    this.#uri = uri;
    this.#socketOptions = socketOptions;
    this.reconnect = true;
    if (this.connected || this.#socket || this.#retryTimer) return this;
    this.#retries = 0;
    this.#attempt();
    return this;
  }

  /** Closes the current connection and stops retrying. Safe to call more than once. */
  disconnect(): this {
    const wasActive = this.reconnect || this.connected || this.#socket !== undefined;
    this.reconnect = false;
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    const socket = this.#socket;
    if (socket) {
      this.#socket = undefined;
      this.#stream = undefined;
      this.connected = false;
      socket.close();
    }
    if (wasActive) this.emit('disconnect', undefined);
    return this;
  }

  /** Alias kept from reconnect-core. */
  end(): this {
    return this.disconnect();
  }

  /** The stream of the current connection, if one is open. */
  get stream(): WebSocketStream | undefined {
    return this.#stream;
  }

  #attempt(): void {
    const uri = this.#uri;
    if (!this.reconnect || uri === undefined) return;

    let socket: WebSocket;
    try {
      socket = new WebSocket(uri, {
        handshakeTimeout: this.#handshakeTimeout,
        ...this.#socketOptions,
      });
    } catch (error) {
      // An invalid URI throws synchronously; treat it like any other failed attempt.
      this.#scheduleRetry(toError(error));
      return;
    }
    this.#socket = socket;

    let lastError: Error | undefined;
    socket.on('error', (error: Error) => {
      // 'close' always follows 'error' in ws; the error is kept to report it from there.
      lastError = error;
    });
    socket.once('open', () => {
      if (this.#socket !== socket) return;
      this.#retries = 0;
      this.#everConnected = true;
      this.connected = true;
      const stream = new WebSocketStream(socket);
      // Stream errors are already reported through the socket; keep them from crashing.
      stream.on('error', (error: Error) => {
        lastError = error;
      });
      this.#stream = stream;
      this.emit('connection', stream);
    });
    socket.once('close', () => {
      if (this.#socket !== socket) return;
      const wasConnected = this.connected;
      this.#socket = undefined;
      this.#stream = undefined;
      this.connected = false;
      if (wasConnected) this.emit('disconnect', lastError);
      this.#scheduleRetry(lastError);
    });
  }

  #scheduleRetry(error: Error | undefined): void {
    if (!this.reconnect) return;
    if (this.#retries >= this.#failAfter) {
      this.reconnect = false;
      this.emit('fail', error);
      return;
    }
    this.#retries += 1;
    const attempt = this.#retries;
    const delay = fibonacciDelay(attempt, this.#initialDelay, this.#maxDelay);
    this.emit('backoff', attempt, delay, error);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.reconnect) return;
      // kurento-client treats 'reconnect' as "a session existed and must be resumed" (it then
      // sends `connect {sessionId}`), so retries of a first connection that never opened are
      // not announced as reconnects.
      if (this.#everConnected) this.emit('reconnect', attempt, delay);
      this.#attempt();
    }, delay);
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * Creates a `Reconnector`. `onStream` is called with a new duplex stream every time a
 * connection opens. Call `.connect(uri, socketOptions)` on the result to start.
 */
function reconnect(options?: ReconnectOptions | StreamCallback, onStream?: StreamCallback) {
  if (typeof options === 'function') return new Reconnector({}, options);
  return new Reconnector(options ?? {}, onStream);
}

// kurento-client loads this package with `require('reconnect-ws')` and calls the export
// directly, so the function itself must be `module.exports`; the namespace adds the classes
// and types for TypeScript users.
// eslint-disable-next-line @typescript-eslint/no-namespace
namespace reconnect {
  export type Options = ReconnectOptions;
  export type Events = ReconnectorEvents;
  export type Stream = WebSocketStream;
  export type Client = Reconnector;
  export const ReconnectorClass = Reconnector;
  export const WebSocketStreamClass = WebSocketStream;
  export const delayForAttempt = fibonacciDelay;
}

export = reconnect;
