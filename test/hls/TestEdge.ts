/**
 * A real nginx-rtmp edge for the steering and ABR tests, rendered by `writeEdgePrefix` from
 * nginx/edge.conf.template (with its playlist agent) and run in the foreground, in its own
 * network namespace when given a `NetnsHost`.
 */
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeEdgePrefix } from '../../server/edges/renderEdgeConfig.js';
import { HlsSigner } from '../../server/hls/HlsSigner.js';
import { waitForPort } from '../../server/engine/EngineSupervisor.js';
import { AGENT_PID_FILE } from '../../server/edges/PlaylistAgent.js';
import type { NetnsHost } from '../helpers/netns.js';

/** How long the playlist agents may take to write their last playlists after nginx stopped. */
const AGENT_EXIT_MS = 15_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface TestEdgeOptions {
  prefix: string;
  httpPort: number;
  rtmpPort: number;
  edgeSecret: string;
  /** Runs the edge as this host; loopback when absent. */
  host?: NetnsHost;
}

export class TestEdge {
  readonly options: TestEdgeOptions;
  readonly address: string;
  #nginx: ChildProcess | undefined;
  #stderr = '';

  private constructor(options: TestEdgeOptions) {
    this.options = options;
    this.address = options.host?.address ?? '127.0.0.1';
  }

  get publicUrl(): string {
    return `http://${this.address}:${this.options.httpPort}`;
  }

  /** A file of a stream's HLS on this edge, signed with its secret for an hour. */
  hlsUrl(stream: string, file: string, ttlSeconds = 3600): string {
    const signer = new HlsSigner({ edgeSecret: this.options.edgeSecret, ttlSeconds });
    return `${this.publicUrl}${signer.path(stream, file)}`;
  }

  get ingestUrl(): string {
    return `rtmp://${this.address}:${this.options.rtmpPort}/live`;
  }

  static async start(options: TestEdgeOptions): Promise<TestEdge> {
    const edge = new TestEdge(options);
    await edge.#start();
    return edge;
  }

  async #start(): Promise<void> {
    const { prefix, host } = this.options;
    const peer = host?.peerAddress ?? '127.0.0.1';
    const file = await writeEdgePrefix({
      prefix,
      httpHost: this.address,
      httpPort: this.options.httpPort,
      rtmpHost: this.address,
      rtmpPort: this.options.rtmpPort,
      edgeSecret: this.options.edgeSecret,
      originAllow: [peer],
      statAllow: [peer, '127.0.0.1'],
      // As root, nginx's workers would run as nobody, who cannot write the test's HLS folder.
      user: process.getuid?.() === 0 ? 'root' : undefined,
    });
    const args = ['-p', prefix, '-c', file, '-e', 'logs/error.log', '-g', 'daemon off;'];
    const nginx =
      host === undefined
        ? spawn('/usr/sbin/nginx', args, { stdio: ['ignore', 'ignore', 'pipe'] })
        : host.spawn('/usr/sbin/nginx', args);
    this.#nginx = nginx;
    nginx.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-2000);
    });
    try {
      await Promise.race([
        waitForPort(this.address, this.options.httpPort, 15_000),
        once(nginx, 'exit').then(([code]) => {
          throw new Error(`nginx exited (${String(code)}): ${this.#stderr}`);
        }),
      ]);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** The edge dies: nginx (and, on a host, everything on it) killed at once. */
  async kill(): Promise<void> {
    if (this.options.host !== undefined) await this.options.host.killAll();
    else this.#nginx?.kill('SIGKILL');
  }

  /**
   * Stops nginx, then waits for its playlist agents: nginx TERMs them as it goes, and each then
   * writes its final playlists (history.m3u8 closed with EXT-X-ENDLIST) and exits, after nginx
   * itself. A test that deletes the edge's folder right after stop() would race those writes.
   * Safe to call twice.
   */
  async stop(): Promise<void> {
    const nginx = this.#nginx;
    if (nginx === undefined || nginx.exitCode !== null || nginx.signalCode !== null) return;
    const exited = once(nginx, 'exit');
    nginx.kill('SIGTERM');
    const timer = setTimeout(() => nginx.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    await this.#agentsGone(AGENT_EXIT_MS);
  }

  /** Resolves once no playlist agent of this edge runs (each keeps a pid file in its stream folder). */
  async #agentsGone(withinMs: number): Promise<void> {
    const hls = path.join(this.options.prefix, 'hls');
    const deadline = Date.now() + withinMs;
    for (;;) {
      const running: number[] = [];
      for (const stream of await readdir(hls).catch(() => [] as string[])) {
        const pid = Number(
          await readFile(path.join(hls, stream, AGENT_PID_FILE), 'utf8').catch(() => ''),
        );
        if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) running.push(pid);
      }
      if (running.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `playlist agents ${running.join(', ')} still run ${withinMs} ms after nginx stopped`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
