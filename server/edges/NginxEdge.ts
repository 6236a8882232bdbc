import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { writeEdgePrefix, type EdgeConfigOptions } from './renderEdgeConfig.js';

const run = promisify(execFile);

export interface NginxEdgeOptions extends EdgeConfigOptions {
  /** The nginx binary (default /usr/sbin/nginx). */
  nginx?: string;
}

/** Events of an `NginxEdge`, as a type map so a wrong listener fails to compile. */
export interface NginxEdgeEvents {
  started: [pid: number];
  stopped: [];
}

/**
 * One nginx-rtmp edge on this machine (the local edge that `npm start` runs, or a test's),
 * in its own prefix folder with its own pid, logs, temp paths, ports and HLS files.
 *
 * nginx daemonises itself, so the edge is driven the way an operator would: `nginx -p DIR
 * -c FILE` to start, `-s reload` and `-s stop` to signal, and the pid file to know whether it
 * runs. The config does not depend on which assemblies are live (the origin pushes), so a
 * reload is only needed after changing the edge's own options.
 */
export class NginxEdge extends EventEmitter<NginxEdgeEvents> {
  private readonly options: NginxEdgeOptions;
  private readonly nginx: string;
  readonly configFile: string;

  constructor(options: NginxEdgeOptions) {
    super();
    this.options = { ...options };
    this.nginx = options.nginx ?? '/usr/sbin/nginx';
    this.configFile = path.join(options.prefix, 'nginx.conf');
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

  /** The HLS playlist of one stream on this edge. */
  playlistUrl(stream: string): string {
    return `${this.httpUrl}/hls/${stream}/index.m3u8`;
  }

  /** Renders the config, checks it with `nginx -t` and starts nginx; resolves once it runs. */
  async start(): Promise<number> {
    if ((await this.pid()) !== undefined) throw new Error(`edge in ${this.prefix} already runs`);
    await writeEdgePrefix(this.options);
    await this.nginxCommand(['-t', '-q']);
    await this.nginxCommand([]);
    // nginx writes its pid file once the master is up; a few ms after the command returns.
    for (let attempt = 0; attempt < 100; attempt++) {
      const pid = await this.pid();
      if (pid !== undefined) {
        this.emit('started', pid);
        return pid;
      }
      await sleep(50);
    }
    throw new Error(`nginx in ${this.prefix} did not start: ${await this.errorLogTail()}`);
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

  private async nginxCommand(args: string[]): Promise<void> {
    // -e: nginx opens its default error log before it reads the config; point it at ours.
    const base = ['-p', this.prefix, '-c', this.configFile, '-e', 'logs/error.log'];
    try {
      await run(this.nginx, [...base, ...args], { timeout: 15_000 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`nginx ${args.join(' ')} failed in ${this.prefix}: ${stderr.trim()}`);
    }
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
