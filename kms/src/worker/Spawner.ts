import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import { Worker as Thread } from 'node:worker_threads';

/** main thread → spawner thread */
export type SpawnerRequest =
  | { type: 'spawn'; token: string; command: string; args: string[] }
  | { type: 'kill'; token: string; signal: NodeJS.Signals };

/** spawner thread → main thread */
export type SpawnerReply =
  | { type: 'spawned'; token: string; pid: number }
  | { type: 'spawnFailed'; token: string; message: string }
  | { type: 'exit'; token: string; code: number | null; signal: NodeJS.Signals | null };

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started by the Spawner: its pid, its protocol and stderr streams, its exit. */
export interface SpawnedProcess {
  pid: number;
  /** fd 3 (engine → worker) and fd 4 (worker → engine) of the worker: one socket. */
  protocol: Socket;
  stderr: Socket;
  exited: Promise<ProcessExit>;
  kill(signal: NodeJS.Signals): void;
}

interface PendingSpawn {
  pid?: number;
  protocol?: Socket;
  stderr?: Socket;
  resolve: (spawned: SpawnedProcess) => void;
  reject: (error: Error) => void;
  onExit: (exit: ProcessExit) => void;
  exited: Promise<ProcessExit>;
}

/**
 * The process's priority before the engine raised its protocol thread's (Engine.ts): workers
 * are started at this one, wherever the spawner thread was created from.
 */
const NORMAL_PRIORITY = os.getPriority();

/** An introduction line is a 32-hex token, a space and a role: far below this. */
const MAX_INTRODUCTION_BYTES = 64;

/**
 * Starts worker processes without blocking the engine's event loop.
 *
 * Node's spawn() returns only once the child has exec'd; measured here with workers starting
 * on two busy cores it held the event loop for 100-700 ms per call, long enough to starve
 * every client's `ping`. So a worker thread does the spawning, and the worker's pipes are
 * connections to a Unix socket in Linux's abstract namespace that this (main) thread accepts:
 * after the spawn the worker's traffic never passes through the thread. Each spawn has a random
 * 128-bit token that its connections must present, so nothing else can pose as a worker.
 *
 * One Spawner serves the whole process (`Spawner.shared()`): spawning is a process-wide
 * concern, and neither its thread nor its socket keeps the process alive.
 */
export class Spawner {
  static #shared: Spawner | undefined;
  readonly #thread: Thread;
  readonly #server: Server;
  readonly #pending = new Map<string, PendingSpawn>();
  readonly #exits = new Map<string, (exit: ProcessExit) => void>();

  private constructor(socketPath: string) {
    this.#server = createServer((socket) => this.#onConnection(socket));
    this.#server.listen(socketPath);
    this.#server.unref();
    this.#thread = new Thread(new URL('./spawnerThread.js', import.meta.url), {
      workerData: { socketPath, priority: NORMAL_PRIORITY },
    });
    this.#thread.on('message', (message: SpawnerReply) => this.#onReply(message));
    this.#thread.on('error', (error) => {
      process.stderr.write(`media worker spawner thread failed: ${error.message}\n`);
    });
    // Should the thread ever end, its spawns cannot complete: fail them and let the next
    // shared() start a new Spawner.
    this.#thread.once('exit', () => {
      if (Spawner.#shared === this) Spawner.#shared = undefined;
      this.#server.close();
      for (const [token, pending] of this.#pending) {
        this.#pending.delete(token);
        pending.protocol?.destroy();
        pending.stderr?.destroy();
        pending.reject(new Error('the spawner thread ended'));
      }
    });
    // After the listeners: adding a 'message' listener refs the thread again.
    this.#updateRef();
  }

  static shared(): Spawner {
    Spawner.#shared ??= new Spawner(
      `\0montage-spawner-${process.pid}-${randomBytes(8).toString('hex')}`,
    );
    return Spawner.#shared;
  }

  /** Starts `command args` with the worker's stdio; rejects if it cannot be started. */
  spawn(command: string, args: string[]): Promise<SpawnedProcess> {
    const token = randomBytes(16).toString('hex');
    let onExit: (exit: ProcessExit) => void = () => undefined;
    const exited = new Promise<ProcessExit>((resolve) => {
      onExit = resolve;
    });
    return new Promise<SpawnedProcess>((resolve, reject) => {
      this.#pending.set(token, { resolve, reject, onExit, exited });
      this.#exits.set(token, onExit);
      this.#updateRef();
      this.#post({ type: 'spawn', token, command, args });
    });
  }

  /**
   * Like a ChildProcess, a spawn in progress or a process not yet exited keeps the event loop
   * alive (the thread is what reports them); an idle Spawner never does.
   */
  #updateRef(): void {
    if (this.#pending.size + this.#exits.size > 0) this.#thread.ref();
    else this.#thread.unref();
  }

  #post(message: SpawnerRequest): void {
    this.#thread.postMessage(message);
  }

  #onReply(message: SpawnerReply): void {
    const pending = this.#pending.get(message.token);
    switch (message.type) {
      case 'spawned':
        if (!pending) return;
        pending.pid = message.pid;
        this.#settle(message.token, pending);
        return;
      case 'spawnFailed':
        this.#exits.delete(message.token);
        if (pending) {
          this.#pending.delete(message.token);
          pending.protocol?.destroy();
          pending.stderr?.destroy();
          pending.reject(new Error(message.message));
        }
        this.#updateRef();
        return;
      case 'exit': {
        const onExit = this.#exits.get(message.token);
        this.#exits.delete(message.token);
        // A worker that exits at once (a missing plugin) still resolves its spawn: its two
        // connections were made before it ran, so they arrive, and Worker reads the exit code.
        onExit?.({ code: message.code, signal: message.signal });
        this.#updateRef();
        return;
      }
    }
  }

  /** Resolves a spawn once its pid and both of its connections are known. */
  #settle(token: string, pending: PendingSpawn): void {
    const { pid, protocol, stderr } = pending;
    if (pid === undefined || !protocol || !stderr) return;
    this.#pending.delete(token);
    pending.resolve({
      pid,
      protocol,
      stderr,
      exited: pending.exited,
      kill: (signal) => {
        if (this.#exits.has(token)) this.#post({ type: 'kill', token, signal });
      },
    });
  }

  /** Reads the introduction line, then hands the connection to the spawn it belongs to. */
  #onConnection(socket: Socket): void {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(0x0a);
      if (newline < 0) {
        if (received.length > MAX_INTRODUCTION_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const [token = '', role] = received.subarray(0, newline).toString('latin1').split(' ');
      const rest = received.subarray(newline + 1);
      const pending = this.#pending.get(token);
      if (!pending || (role !== 'protocol' && role !== 'stderr') || pending[role]) {
        socket.destroy();
        return;
      }
      // The worker may already have written its "running" line behind the introduction.
      if (rest.length > 0) socket.unshift(rest);
      pending[role] = socket;
      this.#settle(token, pending);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }
}
