import { EnhancedEventEmitter } from '../EnhancedEventEmitter.js';
import { Channel, type JsonObject } from './Channel.js';
import { MissingPluginError, WorkerError, WorkerStartError } from './errors.js';
import { Spawner, type ProcessExit, type SpawnedProcess } from './Spawner.js';

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
  /** How long a request may go unanswered before the worker is killed as hung; 0: for ever. */
  requestTimeoutMs: number;
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
/** How long a worker that exited at once may take to deliver its last stderr lines. */
const STDERR_DRAIN_MS = 1000;

/**
 * One montage-worker process (one MediaPipeline), started through the Spawner (so starting it
 * never blocks the event loop) with fd 3 and fd 4 as its protocol socket; usable only after it
 * reported "running".
 */
export class Worker extends EnhancedEventEmitter<WorkerEvents> {
  readonly #process: SpawnedProcess;
  readonly #channel: Channel;
  readonly #settings: WorkerSettings;
  readonly #missingPlugins: string[] = [];
  readonly #exited: Promise<void>;
  readonly #stderrEnded: Promise<void>;
  #logPrefix: string;
  #closing = false;
  #exitedFlag = false;

  private constructor(settings: WorkerSettings, spawned: SpawnedProcess) {
    super();
    this.#settings = settings;
    this.#logPrefix = settings.logPrefix;
    this.#process = spawned;
    this.#channel = new Channel(spawned.protocol, spawned.protocol, settings.requestTimeoutMs);
    this.#channel.on('notification', (target, event, data) =>
      this.emit('notification', target, event, data),
    );
    this.#channel.on('protocolError', (message) => {
      process.stderr.write(`${this.#logPrefix} protocol error: ${message}\n`);
    });
    // A worker that leaves a request unanswered that long is hung (a deadlock, a stopped
    // process) and would leave every later request waiting as long: it is killed, so its
    // pipeline dies the way a crashed one does (Error events) and the client can rebuild it.
    this.#channel.on('timeout', (error) => {
      process.stderr.write(`${this.#logPrefix} ${error.message}; killing the worker\n`);
      this.#process.kill('SIGKILL');
    });
    this.#stderrEnded = this.#pipeStderr();
    this.#exited = spawned.exited.then(({ code, signal }) => {
      this.#exitedFlag = true;
      this.#onExit(code, signal);
    });
  }

  /** Spawns a worker and resolves once it has reported "running". */
  static async start(settings: WorkerSettings, spawner = Spawner.shared()): Promise<Worker> {
    const args = [...settings.prefixArgs];
    for (const address of settings.iceAddresses) args.push('--ice-address', address);
    if (settings.stun) args.push('--stun', settings.stun);
    if (settings.turn) args.push('--turn', settings.turn);
    args.push('--jitter-buffer-ms', String(settings.jitterBufferMs));
    let spawned: SpawnedProcess;
    try {
      spawned = await spawner.spawn(settings.command, args);
    } catch (error) {
      throw new WorkerStartError(
        `cannot run media worker '${settings.command}': ${(error as Error).message}`,
      );
    }
    const worker = new Worker(settings, spawned);
    await worker.#waitRunning();
    return worker;
  }

  /** Names this worker in the engine's log (a pool's worker gets its pipeline's name). */
  set logPrefix(prefix: string) {
    this.#logPrefix = prefix;
  }

  get pid(): number {
    return this.#process.pid;
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
        const timer = setTimeout(() => this.#process.kill('SIGKILL'), CLOSE_GRACE_MS);
        await this.#exited;
        clearTimeout(timer);
      }
    }
    await this.#exited;
  }

  #waitRunning(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        cleanup();
        this.#closing = true;
        this.#channel.close('worker start timed out');
        this.#process.kill('SIGKILL');
        reject(
          new WorkerStartError(
            `media worker did not report "running" within ${this.#settings.startTimeoutMs} ms`,
          ),
        );
      }, this.#settings.startTimeoutMs);
      const onRunning = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#channel.off('running', onRunning);
      };
      this.#channel.once('running', onRunning);
      this.#process.exited.then(
        async ({ code, signal }: ProcessExit) => {
          if (settled) return;
          settled = true;
          cleanup();
          // stderr may still hold the "missing plugin" lines: wait (briefly) for its end.
          await Promise.race([
            this.#stderrEnded,
            new Promise((done) => setTimeout(done, STDERR_DRAIN_MS)),
          ]);
          reject(this.#startFailure(code, signal));
        },
        () => undefined,
      );
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
          `media worker ${this.#process.pid} died (${signal ?? `exit code ${String(code)}`})`,
        ),
      );
    }
  }

  /** Copies the worker's stderr lines into the engine's log; resolves when it ends. */
  #pipeStderr(): Promise<void> {
    const stderr = this.#process.stderr;
    stderr.setEncoding('utf8');
    let partial = '';
    stderr.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^missing plugin: (.+)$/.exec(line.trim());
        if (match?.[1]) this.#missingPlugins.push(match[1]);
        process.stderr.write(`${this.#logPrefix} ${line}\n`);
      }
    });
    stderr.resume();
    return new Promise<void>((resolve) => stderr.once('close', () => resolve()));
  }
}
