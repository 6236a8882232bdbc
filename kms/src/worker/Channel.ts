import type { Readable, Writable } from 'node:stream';
import { EnhancedEventEmitter } from '../EnhancedEventEmitter.js';
import { ChannelClosedError, errorFromWorker, WorkerError, WorkerTimeoutError } from './errors.js';

export type JsonObject = Record<string, unknown>;

interface Pending {
  method: string;
  resolve: (result: JsonObject) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export type ChannelEvents = {
  /** `{"event":"running"}` — the worker is ready for requests. */
  running: [JsonObject];
  /** A notification addressed to one element (`target`). */
  notification: [target: string, event: string, data: JsonObject];
  /** A `protocolError` notification or an unparsable line from the worker. */
  protocolError: [string];
  /** A request went unanswered for longer than the channel's request timeout. */
  timeout: [WorkerTimeoutError];
};

/** Lines from the worker are capped like the worker caps ours (PROTOCOL.md). */
const MAX_LINE_BYTES = 1024 * 1024;

/**
 * A lone UTF-16 surrogate (a client may send one as a `\ud800` escape) is written by
 * JSON.stringify as that escape, which the worker's JSON parser refuses ("malformed surrogate
 * pair"): it then drops the line and the pipeline's worker is lost. Such a character has no
 * UTF-8 form anyway, so it becomes U+FFFD, as it would in a UTF-8 text frame.
 */
function wellFormed(_key: string, value: unknown): unknown {
  return typeof value === 'string'
    ? value.replace(
        /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
        '\ufffd',
      )
    : value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The only code that talks to a worker process: JSON lines out on fd 3,
 * JSON lines in on fd 4.
 *
 * Requests get rising ids and wait in `#pending` until their reply.
 * Notifications are delivered on a later macrotask, in arrival order, so the
 * code awaiting the reply that preceded a notification has already run (and
 * the RPC reply to the client has been written) before the notification's
 * Kurento event is raised.
 */
export class Channel extends EnhancedEventEmitter<ChannelEvents> {
  readonly #out: Writable;
  readonly #in: Readable;
  readonly #pending = new Map<number, Pending>();
  readonly #notifications: Array<() => void> = [];
  #nextId = 1;
  #buffer = '';
  #closed = false;
  #closeReason = 'channel closed';
  #flushScheduled = false;
  readonly #requestTimeoutMs: number;

  /** `requestTimeoutMs`: how long a request may wait for its reply; 0: for ever. */
  constructor(output: Writable, input: Readable, requestTimeoutMs = 0) {
    super();
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#out = output;
    this.#in = input;
    this.#in.setEncoding('utf8');
    this.#in.on('data', (chunk: string) => this.#onData(chunk));
    // A socket handed over paused (Spawner reads its introduction first) flows only when told.
    this.#in.resume();
    this.#in.on('error', (error: Error) => this.close(`worker output failed: ${error.message}`));
    // EPIPE when the worker died: the close path reports it, nothing to add here.
    this.#out.on('error', (error: Error) => this.close(`worker input failed: ${error.message}`));
  }

  get closed(): boolean {
    return this.#closed;
  }

  request(method: string, params: JsonObject = {}): Promise<JsonObject> {
    if (this.#closed) {
      return Promise.reject(new ChannelClosedError(`${method}: ${this.#closeReason}`));
    }
    const id = this.#nextId++;
    return new Promise<JsonObject>((resolve, reject) => {
      // Unreferenced: a request timer alone must not keep a process alive (the worker's socket
      // does while it matters).
      const timer =
        this.#requestTimeoutMs > 0
          ? setTimeout(() => this.#onTimeout(id), this.#requestTimeoutMs).unref()
          : undefined;
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#out.write(`${JSON.stringify({ id, method, params }, wellFormed)}\n`);
    });
  }

  /** Rejects every pending request with ChannelClosedError. Safe to call twice. */
  close(reason = 'channel closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new ChannelClosedError(`${pending.method}: ${reason}`));
    }
    this.#out.end();
    this.#in.removeAllListeners('data');
    this.#in.destroy();
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.trim().length > 0) this.#onLine(line);
      newline = this.#buffer.indexOf('\n');
    }
    if (this.#buffer.length > MAX_LINE_BYTES) {
      this.#buffer = '';
      this.emit('protocolError', 'worker sent a line longer than 1 MiB');
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.emit(
        'protocolError',
        `unparsable line from worker (${(error as Error).message}): ${line.slice(0, 200)}`,
      );
      return;
    }
    if (!isObject(message)) {
      this.emit('protocolError', `worker line is not an object: ${line.slice(0, 200)}`);
      return;
    }
    if (typeof message.id === 'number') {
      this.#onReply(message.id, message);
      return;
    }
    if (typeof message.event === 'string') {
      const event = message.event;
      const data = isObject(message.data) ? message.data : {};
      if (event === 'running') {
        this.emit('running', data);
      } else if (event === 'protocolError') {
        this.emit('protocolError', typeof data.message === 'string' ? data.message : line);
      } else if (typeof message.target === 'string') {
        const target = message.target;
        this.#queueNotification(() => this.emit('notification', target, event, data));
      } else {
        this.emit('protocolError', `notification without target: ${line.slice(0, 200)}`);
      }
      return;
    }
    this.emit('protocolError', `worker line has neither id nor event: ${line.slice(0, 200)}`);
  }

  #onReply(id: number, message: JsonObject): void {
    const pending = this.#pending.get(id);
    if (!pending) {
      this.emit('protocolError', `reply for unknown request id ${id}`);
      return;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (isObject(message.error)) {
      const name = typeof message.error.name === 'string' ? message.error.name : 'InternalError';
      const text =
        typeof message.error.message === 'string'
          ? message.error.message
          : `${pending.method} failed`;
      pending.reject(errorFromWorker(name, text));
    } else if (isObject(message.result)) {
      pending.resolve(message.result);
    } else {
      pending.reject(new WorkerError(`${pending.method}: worker reply has no result object`));
    }
  }

  /**
   * A reply that never came: the request fails, and the owner hears of it (the worker is hung,
   * and every later request would wait as long). A reply arriving after all is a protocolError.
   */
  #onTimeout(id: number): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    const error = new WorkerTimeoutError(
      `${pending.method}: the media worker did not answer within ${this.#requestTimeoutMs} ms`,
    );
    pending.reject(error);
    this.emit('timeout', error);
  }

  #queueNotification(deliver: () => void): void {
    this.#notifications.push(deliver);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const batch = this.#notifications.splice(0);
      for (const run of batch) {
        if (this.#closed) return;
        run();
      }
    });
  }
}
