import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { HlsSigner } from '../hls/HlsSigner.js';
import { writeEdgePrefix, type EdgeConfigOptions } from './renderEdgeConfig.js';

const run = promisify(execFile);

export interface NginxEdgeOptions extends EdgeConfigOptions {
  /** The nginx binary (default /usr/sbin/nginx). */
  nginx?: string;
  /**
   * Run nginx as a child of this process and start it again whenever it dies (the local edge of
   * `npm start`). Without it nginx daemonises and outlives this process (an edge VM's
   * `cli.js render --start`).
   */
  supervise?: boolean;
  /** First restart delay when supervised; doubles up to 10 s while nginx keeps dying. */
  restartDelayMs?: number;
}

/** Events of an `NginxEdge`, as a type map so a wrong listener fails to compile. */
export interface NginxEdgeEvents {
  started: [pid: number];
  stopped: [];
  /** A supervised nginx died; it is started again after `delayMs`. */
  exited: [code: number | null, signal: NodeJS.Signals | null, delayMs: number];
  /** A supervised nginx could not be started again; another attempt follows. */
  restartFailed: [error: Error];
}

const MAX_RESTART_DELAY_MS = 10_000;
/** A supervised nginx that ran this long is healthy: the next restart delay starts over. */
const HEALTHY_AFTER_MS = 30_000;

/**
 * One nginx-rtmp edge on this machine (the local edge that `npm start` runs, or a test's),
 * in its own prefix folder with its own pid, logs, temp paths, ports and HLS files.
 *
 * Unsupervised, nginx daemonises itself and the edge is driven the way an operator would:
 * `nginx -p DIR -c FILE` to start, `-s reload` to signal, and the pid file to know whether it
 * runs. Supervised (the local edge), nginx runs in the foreground as a child in a process group
 * of its own: when its master dies, whatever is left of the group (workers orphaned by a
 * `kill -9` of the master keep their ports and serve stale state) is killed and nginx is
 * started again. The config does not depend on which assemblies are live (the origin pushes),
 * so a reload is only needed after changing the edge's own options.
 */
export class NginxEdge extends EventEmitter<NginxEdgeEvents> {
  private readonly options: NginxEdgeOptions;
  private readonly nginx: string;
  readonly configFile: string;
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelayMs: number;
  private restartsValue = 0;

  constructor(options: NginxEdgeOptions) {
    super();
    this.options = { ...options };
    this.nginx = options.nginx ?? '/usr/sbin/nginx';
    this.configFile = path.join(options.prefix, 'nginx.conf');
    this.restartDelayMs = options.restartDelayMs ?? 500;
  }

  /** How many times a supervised nginx was started again after it died. */
  get restarts(): number {
    return this.restartsValue;
  }

  get prefix(): string {
    return this.options.prefix;
  }

  /** Base URL viewers and the registry use, e.g. http://127.0.0.1:8090. */
  get httpUrl(): string {
    const host = this.options.httpHost ?? '127.0.0.1';
    const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
    return `http://${shown}:${this.options.httpPort}`;
  }

  /** Where the origin pushes (`RtmpOrigin.addEdge(id, edge.ingestUrl)`). */
  get ingestUrl(): string {
    const host = this.options.rtmpHost ?? '127.0.0.1';
    const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
    return `rtmp://${shown}:${this.options.rtmpPort}/live`;
  }

  /** The HLS playlist of one stream on this edge, signed for an hour (server/hls/HlsSigner.ts). */
  playlistUrl(stream: string): string {
    return this.hlsUrl(stream, 'index.m3u8');
  }

  /**
   * A file of one stream's HLS on this edge (a playlist or a fragment), signed with the edge's
   * secret, valid for `ttlSeconds` (an hour by default): what tests and benches fetch directly.
   */
  hlsUrl(stream: string, file: string, ttlSeconds = 3600): string {
    const signer = new HlsSigner({ edgeSecret: this.options.edgeSecret, ttlSeconds });
    return `${this.httpUrl}${signer.path(stream, file)}`;
  }

  /** Renders the config, checks it with `nginx -t` and starts nginx; resolves once it runs. */
  async start(): Promise<number> {
    if ((await this.pid()) !== undefined) throw new Error(`edge in ${this.prefix} already runs`);
    this.stopping = false;
    await writeEdgePrefix(this.options);
    await this.nginxCommand(['-t', '-q']);
    let child: ChildProcess | undefined;
    if (this.options.supervise === true) {
      child = this.spawnForeground();
    } else {
      await this.nginxCommand([]);
    }
    // nginx writes its pid file once the master is up; a few ms after the command returns.
    for (let attempt = 0; attempt < 200; attempt++) {
      const pid = await this.pid();
      if (pid !== undefined && (child === undefined || pid === child.pid)) {
        this.emit('started', pid);
        return pid;
      }
      if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) break;
      await sleep(50);
    }
    throw new Error(`nginx in ${this.prefix} did not start: ${await this.errorLogTail()}`);
  }

  /** Starts nginx in the foreground, in a process group of its own, and watches it. */
  private spawnForeground(): ChildProcess {
    const startedAt = Date.now();
    const child = spawn(this.nginx, [...this.baseArgs(), '-g', 'daemon off;'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    this.child = child;
    child.once('error', (error) => {
      this.emit('restartFailed', error);
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      killGroup(child.pid);
      if (this.stopping) return;
      if (Date.now() - startedAt >= HEALTHY_AFTER_MS) {
        this.restartDelayMs = this.options.restartDelayMs ?? 500;
      }
      const delayMs = this.restartDelayMs;
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
      this.emit('exited', code, signal, delayMs);
      this.scheduleRestart(delayMs);
    });
    return child;
  }

  private scheduleRestart(delayMs: number): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.restartsValue += 1;
      this.start().catch((error: unknown) => {
        if (this.stopping) return;
        this.emit('restartFailed', error instanceof Error ? error : new Error(String(error)));
        const next = this.restartDelayMs;
        this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
        this.scheduleRestart(next);
      });
    }, delayMs);
  }

  /** Re-renders the config with changed options and reloads nginx without dropping viewers. */
  async reload(changes: Partial<EdgeConfigOptions> = {}): Promise<void> {
    Object.assign(this.options, changes);
    await writeEdgePrefix(this.options);
    await this.nginxCommand(['-t', '-q']);
    await this.nginxCommand(['-s', 'reload']);
  }

  /**
   * Stops nginx at once (`-s stop`): a graceful quit would wait for the origin's RTMP push,
   * which never ends by itself. Safe to call when nginx is not running.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child !== undefined) {
      this.child = undefined;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(child.pid), 5000);
      await exited;
      clearTimeout(timer);
      killGroup(child.pid);
      this.emit('stopped');
      return;
    }
    const pid = await this.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      if (!alive(pid)) {
        this.emit('stopped');
        return;
      }
      await sleep(50);
    }
    process.kill(pid, 'SIGKILL');
    this.emit('stopped');
  }

  /** The master's pid while nginx runs, read from the pid file and checked. */
  async pid(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.prefix, 'nginx.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number.parseInt(text.trim(), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  }

  /** The last lines of the edge's error log, for error messages and operators. */
  async errorLogTail(lines = 20): Promise<string> {
    try {
      const text = await readFile(path.join(this.prefix, 'logs', 'error.log'), 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no error log)';
    }
  }

  private baseArgs(): string[] {
    // -e: nginx opens its default error log before it reads the config; point it at ours.
    return ['-p', this.prefix, '-c', this.configFile, '-e', 'logs/error.log'];
  }

  private async nginxCommand(args: string[]): Promise<void> {
    try {
      await run(this.nginx, [...this.baseArgs(), ...args], { timeout: 15_000 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`nginx ${args.join(' ')} failed in ${this.prefix}: ${stderr.trim()}`);
    }
  }
}

/** Kills what is left of a supervised nginx's process group (orphaned workers); never throws. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is empty already: nothing was left behind.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
