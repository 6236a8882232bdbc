import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import type { Rendition } from '../hls/renditions.js';

export interface RenditionEncoderOptions {
  /** Names the encoder in logs and events (the rendition's stream name). */
  name: string;
  /** The source program on the origin, secret included (`RtmpOrigin.playUrl`). */
  inputUrl: string;
  /** Where the rendition is published, key included (`RtmpOrigin.publishUrl`). */
  publishUrl: string;
  rendition: Rendition;
  /** H.264 bit rate in bits per second (VBV-capped at 110 %, over one second). */
  videoBitrate: number;
  /** x264 preset (default veryfast: about half the CPU of `medium`, far better than ultrafast). */
  preset?: string;
  ffmpeg?: string;
  /** First restart delay; doubles on each quick failure up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A run at least this long counts as healthy and resets the delay (default 10 s). */
  healthyAfterMs?: number;
  /** ffmpeg is restarted when its frame count has not moved for this long (default 10 s). */
  stallTimeoutMs?: number;
}

export type RenditionEncoderState = 'idle' | 'starting' | 'running' | 'restarting' | 'stopped';

/** Events of a `RenditionEncoder`, as a type map so a wrong listener fails to compile. */
export interface RenditionEncoderEvents {
  spawned: [pid: number];
  /** ffmpeg reported its first encoded frames: the rendition is being published. */
  running: [pid: number];
  /** ffmpeg exited without `stop()`; a new one starts after `delayMs`. */
  exited: [code: number | null, signal: NodeJS.Signals | null, delayMs: number];
  stateChanged: [RenditionEncoderState];
}

/**
 * One rendition of one live program, encoded once for every edge: an ffmpeg that plays the
 * source from the origin, scales it, encodes H.264 and publishes the result back to the origin
 * as its own stream, which the origin pushes to every edge like the source.
 *
 * Two things make the renditions interchangeable for players (hls.js switches between them and
 * between edges by program date):
 *  - timestamps are the source's (`-copyts`), i.e. the program clock (server/hls/programClock.ts);
 *  - keyframes are exactly the source's (`-force_key_frames source`, IDR, and x264 never adds one
 *    of its own), so every edge cuts the rendition's fragments at the same instants as the
 *    source's and names them alike.
 * Audio is the source's AAC, copied: identical in every rendition, and no encoder to run.
 *
 * ffmpeg exits when either RTMP side drops; the encoder restarts it with a doubling delay, and
 * a watchdog restarts one whose frame count stops moving.
 */
export class RenditionEncoder extends EventEmitter<RenditionEncoderEvents> {
  private readonly options: RenditionEncoderOptions;
  private stateValue: RenditionEncoderState = 'idle';
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private restartsValue = 0;
  private lastStderr = '';

  constructor(options: RenditionEncoderOptions) {
    super();
    if (options.rendition.id === '') throw new TypeError('the source is not encoded');
    if (!Number.isInteger(options.videoBitrate) || options.videoBitrate < 50_000) {
      throw new TypeError(`videoBitrate must be at least 50000 bit/s: ${options.videoBitrate}`);
    }
    this.options = options;
    this.delayMs = options.restartDelayMs ?? 500;
  }

  get state(): RenditionEncoderState {
    return this.stateValue;
  }

  /** How many times ffmpeg was restarted after an unexpected exit. */
  get restarts(): number {
    return this.restartsValue;
  }

  /** The running ffmpeg's pid (tests read its CPU, and kill it to prove the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines ffmpeg wrote to stderr, for operators. */
  get lastError(): string {
    return this.lastStderr;
  }

  /** Starts ffmpeg; media follows once the source plays. */
  start(): void {
    if (this.stateValue !== 'idle') throw new Error(`encoder ${this.options.name} already started`);
    this.setState('starting');
    this.spawnFfmpeg();
  }

  /** Stops ffmpeg and the restarts. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.setState('stopped');
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
  }

  /** ffmpeg's arguments (exported for the operator's view and the tests). */
  ffmpegArgs(): string[] {
    const { rendition, videoBitrate } = this.options;
    const kbps = Math.round(videoBitrate / 1000);
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      // Progress lines on stderr tell the encoder that media flows (see `running`).
      '-stats',
      '-stats_period',
      '1',
      // The source declares its streams in its FLV metadata: no need to read seconds of it.
      '-analyzeduration',
      '500000',
      '-fflags',
      '+nobuffer',
      // The program clock passes through untouched.
      '-copyts',
      '-i',
      this.options.inputUrl,
      '-map',
      '0:v:0',
      '-map',
      '0:a:0?',
      '-vf',
      `scale=${rendition.width}:${rendition.height}`,
      // One output frame per input frame, with the input's timestamps: in the input's time base
      // (FLV's milliseconds), not 1/30 s, which would move every frame by up to 33 ms.
      '-fps_mode',
      'passthrough',
      '-enc_time_base:v',
      '-1',
      '-c:v',
      'libx264',
      '-preset',
      this.options.preset ?? 'veryfast',
      '-tune',
      'zerolatency',
      // Constrained baseline like the source: every device that plays one plays the other.
      '-profile:v',
      'baseline',
      '-level:v',
      '3.0',
      '-b:v',
      `${kbps}k`,
      '-maxrate',
      `${Math.round(kbps * 1.1)}k`,
      '-bufsize',
      `${kbps}k`,
      '-force_key_frames',
      'source',
      '-forced-idr',
      '1',
      '-x264-params',
      'keyint=infinite:scenecut=0',
      '-c:a',
      'copy',
      '-f',
      'flv',
      '-flvflags',
      'no_duration_filesize',
      this.options.publishUrl,
    ];
  }

  private spawnFfmpeg(): void {
    const child = spawn(this.options.ffmpeg ?? 'ffmpeg', this.ffmpegArgs(), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    const startedAt = Date.now();
    let reportedRunning = false;
    let lastFrames = 0;
    let lastProgressAt = Date.now();
    const stallTimeoutMs = this.options.stallTimeoutMs ?? 10_000;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgressAt > stallTimeoutMs) {
        this.lastStderr += `\nno frames for ${stallTimeoutMs} ms, restarting ffmpeg`;
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
      // A last progress line printed as ffmpeg exits after stop() must not mark it running.
      if (this.child !== child || this.stateValue === 'stopped') return;
      if (!reportedRunning && lastFrames > 0) {
        reportedRunning = true;
        this.setState('running');
        this.emit('running', child.pid ?? 0);
      }
      const lines = chunk
        .split(/[\r\n]+/)
        .filter((line) => line !== '' && !line.startsWith('frame='));
      if (lines.length > 0) {
        this.lastStderr = (this.lastStderr + '\n' + lines.join('\n')).slice(-2000);
      }
    });
    child.once('spawn', () => this.emit('spawned', child.pid ?? 0));
    child.once('error', (error) => {
      this.lastStderr = error.message;
    });
    child.once('close', (code, signal) => {
      clearInterval(watchdog);
      if (this.child !== child || this.stateValue === 'stopped') return;
      const healthy = Date.now() - startedAt >= (this.options.healthyAfterMs ?? 10_000);
      if (healthy) this.delayMs = this.options.restartDelayMs ?? 500;
      const delayMs = this.delayMs;
      this.delayMs = Math.min(this.delayMs * 2, this.options.maxRestartDelayMs ?? 15_000);
      this.setState('restarting');
      this.emit('exited', code, signal, delayMs);
      this.restartTimer = setTimeout(() => {
        if (this.stateValue !== 'restarting') return;
        this.restartsValue += 1;
        this.spawnFfmpeg();
      }, delayMs);
    });
  }

  private setState(state: RenditionEncoderState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('stateChanged', state);
  }
}
