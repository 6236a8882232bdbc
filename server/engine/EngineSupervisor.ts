import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How the supervised process is started. */
export interface SupervisedCommand {
  /** Executable, e.g. `process.execPath`. */
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Restart policy: delays double from `initialDelayMs` up to `maxDelayMs`. */
export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** A process that ran at least this long is considered healthy: the next delay starts over. */
  healthyAfterMs: number;
  /** Time given to the process to exit after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 200,
  maxDelayMs: 30_000,
  healthyAfterMs: 30_000,
  stopTimeoutMs: 5_000,
};

/** Events of an `EngineSupervisor`, as a type map so a wrong listener fails to compile. */
export interface EngineSupervisorEvents {
  /** A process was spawned (the first one or a restart). */
  spawned: [pid: number];
  /** The process exited without `stop()` having been called; a restart follows after `delayMs`. */
  crashed: [code: number | null, signal: NodeJS.Signals | null, delayMs: number];
}

/**
 * Keeps one child process (the media engine) running: restarts it with a growing delay when it
 * exits unexpectedly, and stops it with SIGTERM (then SIGKILL) when asked. Its output goes to
 * this process's stdout and stderr.
 */
export class EngineSupervisor extends EventEmitter<EngineSupervisorEvents> {
  readonly #command: SupervisedCommand;
  readonly #policy: RestartPolicy;
  #child: ChildProcess | undefined;
  #stopping = false;
  #nextDelayMs: number;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(command: SupervisedCommand, policy: RestartPolicy = DEFAULT_RESTART_POLICY) {
    super();
    this.#command = command;
    this.#policy = policy;
    this.#nextDelayMs = policy.initialDelayMs;
  }

  /** The pid of the running process, if one runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    if (this.#child || this.#stopping) return;
    const { command, args, cwd, env } = this.#command;
    // A process group of its own keeps a terminal's Ctrl-C from reaching the engine directly:
    // the supervisor forwards it through stop(), so an engine that exits first is never
    // mistaken for a crash and restarted.
    const child = spawn(command, args, {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const startedAt = Date.now();
    this.#child = child;
    child.once('error', (error) => {
      // A spawn failure (missing executable) is followed by no 'exit'; report it as a crash.
      process.stderr.write(`[montage] could not start ${command}: ${error.message}\n`);
      this.#onExit(child, startedAt, null, null);
    });
    child.once('exit', (code, signal) => this.#onExit(child, startedAt, code, signal));
    if (child.pid !== undefined) this.emit('spawned', child.pid);
  }

  /** Stops the process (SIGTERM, then SIGKILL after the policy's timeout) and stops restarting. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.#policy.stopTimeoutMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process at once; for `process.on('exit')`, where nothing asynchronous runs. */
  killNow(): void {
    this.#stopping = true;
    this.#child?.kill('SIGKILL');
  }

  #onExit(
    child: ChildProcess,
    startedAt: number,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (this.#stopping) return;
    if (Date.now() - startedAt >= this.#policy.healthyAfterMs) {
      this.#nextDelayMs = this.#policy.initialDelayMs;
    }
    const delayMs = this.#nextDelayMs;
    this.#nextDelayMs = Math.min(this.#nextDelayMs * 2, this.#policy.maxDelayMs);
    this.emit('crashed', code, signal, delayMs);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.start();
    }, delayMs);
  }
}

/**
 * Resolves once a TCP connection to host:port succeeds, polling every 100 ms; rejects after
 * `timeoutMs`. Used instead of sleeping while a server starts.
 */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (accepted) return;
    if (Date.now() >= deadline) {
      throw new Error(`nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}
