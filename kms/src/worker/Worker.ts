import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { EnhancedEventEmitter } from '../EnhancedEventEmitter.js';
import { Channel, type JsonObject } from './Channel.js';
import { MissingPluginError, WorkerError, WorkerStartError } from './errors.js';

export interface WorkerSettings {
  /** Executable to run: the C worker, or a wrapper that runs it (env, valgrind, gdb). */
  command: string;
  /** Arguments placed before the protocol arguments (the wrapper's, ending with the worker). */
  prefixArgs: string[];
  iceAddresses: string[];
  stun: string | undefined;
  turn: string | undefined;
  /** webrtcbin's jitterbuffer latency (KMS_JITTER_BUFFER_MS). */
  jitterBufferMs: number;
  /** Prefix for the worker's stderr lines in the engine's log. */
  logPrefix: string;
  startTimeoutMs: number;
}

export type WorkerEvents = {
  /** The worker exited while in use (crash, kill -9, or unexpected exit 0). */
  died: [WorkerError];
  notification: [target: string, event: string, data: JsonObject];
};

const EXIT_MISSING_PLUGIN = 42;
const EXIT_BAD_COMMAND_LINE = 43;
/** How long close() waits for a clean exit after EOF before SIGKILL. */
const CLOSE_GRACE_MS = 2000;

/**
 * One montage-worker process (one MediaPipeline). Spawned with fd 3 and fd 4
 * as the protocol pipes; usable only after it reported "running".
 */
export class Worker extends EnhancedEventEmitter<WorkerEvents> {
  readonly #child: ChildProcess;
  readonly #channel: Channel;
  readonly #settings: WorkerSettings;
  readonly #missingPlugins: string[] = [];
  readonly #exited: Promise<void>;
  #closing = false;
  #exitedFlag = false;

  private constructor(settings: WorkerSettings) {
    super();
    this.#settings = settings;
    const args = [...settings.prefixArgs];
    for (const address of settings.iceAddresses) args.push('--ice-address', address);
    if (settings.stun) args.push('--stun', settings.stun);
    if (settings.turn) args.push('--turn', settings.turn);
    args.push('--jitter-buffer-ms', String(settings.jitterBufferMs));
    this.#child = spawn(settings.command, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    const toWorker = this.#child.stdio[3] as Writable | null;
    const fromWorker = this.#child.stdio[4] as Readable | null;
    if (!toWorker || !fromWorker)
      throw new WorkerStartError('could not open the worker pipes (fd 3/4)');
    this.#channel = new Channel(toWorker, fromWorker);
    this.#channel.on('notification', (target, event, data) =>
      this.emit('notification', target, event, data),
    );
    this.#channel.on('protocolError', (message) => {
      process.stderr.write(`${settings.logPrefix} protocol error: ${message}\n`);
    });
    this.#pipeStderr();
    this.#exited = new Promise<void>((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exitedFlag = true;
        this.#onExit(code, signal);
        resolve();
      });
    });
  }

  /** Spawns a worker and resolves once it has reported "running". */
  static async start(settings: WorkerSettings): Promise<Worker> {
    const worker = new Worker(settings);
    await worker.#waitRunning();
    return worker;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get closed(): boolean {
    return this.#closing || this.#exitedFlag;
  }

  request(method: string, params: JsonObject = {}): Promise<JsonObject> {
    return this.#channel.request(method, params);
  }

  /**
   * Ends the worker: EOF on fd 3 asks it to exit 0; SIGKILL if it does not
   * within the grace period. Safe to call twice; resolves when it has exited.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#channel.close('worker closed');
      if (!this.#exitedFlag) {
        const timer = setTimeout(() => this.#child.kill('SIGKILL'), CLOSE_GRACE_MS);
        await this.#exited;
        clearTimeout(timer);
      }
    }
    await this.#exited;
  }

  #waitRunning(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.#child.kill('SIGKILL');
        reject(
          new WorkerStartError(
            `media worker did not report "running" within ${this.#settings.startTimeoutMs} ms`,
          ),
        );
      }, this.#settings.startTimeoutMs);
      const onRunning = (): void => {
        cleanup();
        resolve();
      };
      const onSpawnError = (error: Error): void => {
        cleanup();
        this.#closing = true;
        this.#channel.close(error.message);
        reject(
          new WorkerStartError(
            `cannot run media worker '${this.#settings.command}': ${error.message}`,
          ),
        );
      };
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        // stderr may still hold the "missing plugin" lines; give it a tick to drain.
        setImmediate(() => reject(this.#startFailure(code, signal)));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#channel.off('running', onRunning);
        this.#child.off('error', onSpawnError);
        this.#child.off('exit', onEarlyExit);
      };
      this.#channel.once('running', onRunning);
      this.#child.once('error', onSpawnError);
      this.#child.once('exit', onEarlyExit);
    });
  }

  #startFailure(code: number | null, signal: NodeJS.Signals | null): WorkerError {
    if (code === EXIT_MISSING_PLUGIN) return new MissingPluginError(this.#missingPlugins);
    if (code === EXIT_BAD_COMMAND_LINE) {
      return new WorkerStartError(
        'media worker rejected its command line (exit 43); check KMS_ICE_ADDRESSES, KMS_STUN and KMS_TURN',
      );
    }
    return new WorkerStartError(
      `media worker exited before it was running (${signal ?? `exit code ${String(code)}`})`,
    );
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const wasClosing = this.#closing;
    this.#channel.close(`media worker exited (${signal ?? `code ${String(code)}`})`);
    if (!wasClosing) {
      this.#closing = true;
      this.emit(
        'died',
        new WorkerError(
          `media worker ${String(this.#child.pid)} died (${signal ?? `exit code ${String(code)}`})`,
        ),
      );
    }
  }

  #pipeStderr(): void {
    const stderr = this.#child.stderr;
    if (!stderr) return;
    stderr.setEncoding('utf8');
    let partial = '';
    stderr.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^missing plugin: (.+)$/.exec(line.trim());
        if (match?.[1]) this.#missingPlugins.push(match[1]);
        process.stderr.write(`${this.#settings.logPrefix} ${line}\n`);
      }
    });
  }
}
