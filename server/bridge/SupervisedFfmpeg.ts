import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';

/** How an ffmpeg that should run for the whole assembly is kept running. */
export interface FfmpegSupervision {
  /** The ffmpeg binary (default `ffmpeg` from PATH). */
  ffmpeg?: string;
  /** First restart delay; doubles on each quick failure up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A run at least this long counts as healthy and resets the delay (default 10 s). */
  healthyAfterMs?: number;
  /**
   * ffmpeg is killed (and restarted) when its frame count has not moved for this long
   * (default 10 s): its input stalled, or its RTMP output hangs without an error.
   */
  stallTimeoutMs?: number;
}

export type FfmpegState = 'idle' | 'starting' | 'running' | 'restarting' | 'stopped';

/** Events of a supervised ffmpeg, as a type map so a wrong listener fails to compile. */
export interface FfmpegEvents {
  /** An ffmpeg was spawned (the first one or a restart). */
  spawned: [pid: number];
  /** ffmpeg reported its first output frames: its output is connected and media flows. */
  running: [pid: number];
  /** ffmpeg exited without `stop()`; a new one starts after `delayMs`. */
  exited: [code: number | null, signal: NodeJS.Signals | null, delayMs: number];
  stateChanged: [FfmpegState];
}

/**
 * One long-running ffmpeg (the program bridge, a rendition encoder): spawned with the
 * arguments the subclass gives, restarted with a doubling delay whenever it exits, and killed
 * by a watchdog when its `frame=` progress stops moving. Progress lines are how it knows media
 * flows: ffmpeg prints them only once it writes output.
 */
export abstract class SupervisedFfmpeg extends EventEmitter<FfmpegEvents> {
  readonly #what: string;
  readonly #supervision: FfmpegSupervision;
  #state: FfmpegState = 'idle';
  #child: ChildProcess | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #delayMs: number;
  #restarts = 0;
  #lastStderr = '';

  /** `what` names this ffmpeg in errors, e.g. "bridge w04oX130urSb". */
  constructor(what: string, supervision: FfmpegSupervision) {
    super();
    this.#what = what;
    this.#supervision = supervision;
    this.#delayMs = supervision.restartDelayMs ?? 500;
  }

  /** The arguments of each spawn. */
  protected abstract ffmpegArgs(): string[];

  get state(): FfmpegState {
    return this.#state;
  }

  /** How many times ffmpeg was restarted after an unexpected exit. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The running ffmpeg's pid, if any (tests read its CPU, and kill it to prove the restart). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last lines ffmpeg wrote to stderr, for operators. */
  get lastError(): string {
    return this.#lastStderr;
  }

  /** Spawns the first ffmpeg; media follows once its input plays. */
  protected begin(): void {
    if (this.#state !== 'idle') throw new Error(`${this.#what} already started`);
    this.#setState('starting');
    this.#spawn();
  }

  /** Stops ffmpeg and the restarts. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#setState('stopped');
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    this.#child = undefined;
  }

  #spawn(): void {
    const supervision = this.#supervision;
    const child = spawn(supervision.ffmpeg ?? 'ffmpeg', this.ffmpegArgs(), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#child = child;
    const startedAt = Date.now();
    let reportedRunning = false;
    let lastFrames = 0;
    let lastProgressAt = Date.now();
    const stallTimeoutMs = supervision.stallTimeoutMs ?? 10_000;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgressAt > stallTimeoutMs) {
        this.#lastStderr += `\nno frames for ${stallTimeoutMs} ms, restarting ffmpeg`;
        child.kill('SIGKILL');
      }
    }, 1000);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const match of chunk.matchAll(/frame=\s*(\d+)/g)) {
        const frames = Number(match[1]);
        if (frames > lastFrames) {
          lastFrames = frames;
          lastProgressAt = Date.now();
        }
      }
      // ffmpeg prints a last progress line as it exits: after stop() (or for a child already
      // replaced) that must not flip the state back to running, or the exit would be taken
      // for a crash and ffmpeg restarted without end.
      if (this.#child !== child || this.#state === 'stopped') return;
      if (!reportedRunning && lastFrames > 0) {
        reportedRunning = true;
        this.#setState('running');
        this.emit('running', child.pid ?? 0);
      }
      const lines = chunk
        .split(/[\r\n]+/)
        .filter((line) => line !== '' && !line.startsWith('frame='));
      if (lines.length > 0) {
        this.#lastStderr = (this.#lastStderr + '\n' + lines.join('\n')).slice(-2000);
      }
    });
    child.once('spawn', () => this.emit('spawned', child.pid ?? 0));
    child.once('error', (error) => {
      this.#lastStderr = error.message;
    });
    child.once('close', (code, signal) => {
      clearInterval(watchdog);
      if (this.#child !== child || this.#state === 'stopped') return;
      const healthy = Date.now() - startedAt >= (supervision.healthyAfterMs ?? 10_000);
      if (healthy) this.#delayMs = supervision.restartDelayMs ?? 500;
      const delayMs = this.#delayMs;
      this.#delayMs = Math.min(this.#delayMs * 2, supervision.maxRestartDelayMs ?? 15_000);
      this.#setState('restarting');
      this.emit('exited', code, signal, delayMs);
      this.#restartTimer = setTimeout(() => {
        if (this.#state !== 'restarting') return;
        this.#restarts += 1;
        this.#spawn();
      }, delayMs);
    });
  }

  #setState(state: FfmpegState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('stateChanged', state);
  }
}
