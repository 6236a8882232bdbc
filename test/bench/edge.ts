/**
 * Edge benchmark (`npm run bench -- edge`): how many HLS viewers one core of an edge serves
 * before the 99th percentile of time to first byte passes 100 ms, next to plain nginx serving
 * the same files from the same core in the same run.
 *
 *   stream  a 640x360 test stream (~600 kbit/s H.264, 1 s GOP, 64 kbit/s AAC: the 360p
 *           rendition most school Wi-Fi viewers get), encoded once and published in a loop with
 *           program-clock timestamps straight into the edge's RTMP ingest
 *   ours    the edge as rendered from nginx/edge.conf.template (worker_processes 1), its nginx
 *           master, worker and playlist agent pinned to core 0 with taskset: ingest, HLS and the
 *           agent share the core with every viewer
 *   anchor  plain nginx (no RTMP module, `sendfile`, `tcp_nopush`, `gzip_static` so that it
 *           sends the same bytes, the same connection limits), pinned to core 0, serving the
 *           same live folder the edge keeps writing; meanwhile the edge is moved to core 1
 *   viewers `HlsViewer`s paced as hls.js paces them (live.m3u8 every target duration, each new
 *           fragment once, keep-alive, gzip), in load processes pinned to core 1, ramped in
 *           steps; each step is measured over a window after the new viewers joined
 *
 * Per run and target it prints every step (viewers, TTFB p50/p99, errors, bandwidth, the
 * server worker's and the load generator's CPU), then the viewers at which p99 passes 100 ms
 * (interpolated between the last step under it and the first over it). A target whose ramp ends
 * because the load generator's core is saturated is reported as such: then the figure is a
 * lower bound. Next to it, the viewers one core would serve at the CPU time the server's worker
 * spends per viewer (a line through the steps' CPU use: a fixed part, the edge's ingest, plus a
 * part per viewer), which scheduling delays on a busy machine hardly move. The table shows
 * medians over the runs; the playlist agent's reaction time
 * (live.m3u8 written after nginx-rtmp's index.m3u8, from the files' modification times) and the
 * playlist sizes are printed too.
 *
 * Other work on the machine shares the two cores (Linux gives every session an equal share, so
 * niceness does not protect the figures): the run prints the CPU pressure (the share of time
 * runnable tasks waited for a core, /proc/pressure/cpu) at each step, and the figures mean
 * something only when it is low.
 *
 * Knobs (environment, all optional):
 *   BENCH_EDGE_RUNS            ramps per target (default 3)
 *   BENCH_EDGE_WINDOW_SECONDS  measuring window per step (default 8)
 *   BENCH_EDGE_STEPS           viewer counts, comma-separated (default 250,500,...,9000)
 *   BENCH_EDGE_LOAD_PROCESSES  load generator processes (default 2)
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { sizeConnections } from '../../server/edges/renderEdgeConfig.js';
import { HlsSigner } from '../../server/hls/HlsSigner.js';
import { programTimestamp } from '../../server/hls/programClock.js';
import {
  agentProcesses,
  EDGE_SECRET,
  readPlaylist,
  spawnTestProcess,
  stopTestEdge,
  waitForText,
  type TestProcess,
} from '../edge/helpers.js';
import { freePort } from '../helpers/engineProcess.js';
import type { ViewerCommand, ViewerWindow } from './hlsViewerProcess.js';
import { median, percentile, printComparison } from './stats.js';

const run = promisify(execFile);
const SERVER_CORE = '0';
const LOAD_CORE = '1';
const STREAM = 'bench-360p';
const TTFB_LIMIT_MS = 100;
const GENERATOR_SATURATED = 0.85;
/** A server worker above this share of its core is the limit. */
const SERVER_BUSY = 0.8;

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`${name} must be a positive number`);
  return value;
}

const RUNS = numberFromEnv('BENCH_EDGE_RUNS', 3);
const WINDOW_MS = numberFromEnv('BENCH_EDGE_WINDOW_SECONDS', 8) * 1000;
const LOAD_PROCESSES = numberFromEnv('BENCH_EDGE_LOAD_PROCESSES', 2);
const STEPS = (
  process.env.BENCH_EDGE_STEPS ?? '250,500,1000,1500,2000,2500,3000,4000,5000,6000,7000,8000,9000'
)
  .split(',')
  .map(Number);

/** What one step of a ramp measured. */
interface Step {
  viewers: number;
  p50: number;
  p99: number;
  errors: number;
  errorKinds: string[];
  mbps: number;
  serverCpu: number;
  loadCpu: number;
  /** The kernel's part of `loadCpu` (receiving the bytes), as a share of a core. */
  loadSystemCpu: number;
  loadLagP99: number;
  pressure: number;
}

/** A whole ramp against one target. */
interface Ramp {
  steps: Step[];
  /** Viewers at which p99 TTFB passes the limit (a lower bound unless `crossed`). */
  viewersAtLimit: number;
  crossed: boolean;
  /** Why the ramp ended without crossing, if it did. */
  limitedBy: 'steps' | 'load generator' | undefined;
  /**
   * The server's worker used most of its core at the last step: the limit was the server's.
   * Otherwise time to first byte grew for another reason (the load generator's core, other
   * work on the machine), and the figure says more about the machine than about the server.
   */
  serverBusyAtEnd: boolean;
  /** Bandwidth served and errors up to the last step under the limit. */
  mbps: number;
  errors: number;
  /**
   * Viewers one fully busy core would serve, from the server worker's CPU use over the steps:
   * a least-squares line, CPU = fixed + per viewer × viewers (the fixed part is the edge's
   * ingest, HLS and playlist work), gives (1 − fixed) / per viewer. Scheduling delays on a
   * shared machine inflate time to first byte but hardly the CPU a request costs, so this
   * figure is the steadier one when the CPU pressure is high.
   */
  viewersPerCoreByCpu: number;
}

/** A server under test: where viewers connect and which processes do its work. */
interface Target {
  name: 'edge' | 'plain nginx';
  port: number;
  /** The pids whose CPU time is the server's (nginx workers). */
  workers(): Promise<number[]>;
}

/** Pins every thread of `pids` to `core`. */
async function pin(pids: readonly number[], core: string): Promise<void> {
  for (const pid of pids) await run('taskset', ['-a', '-p', '-c', core, String(pid)]);
}

/** A command line pinned to `core`. */
function pinned(core: string, command: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', core, command, ...args]];
}

/** CPU pressure: the share of the last 10 s in which some runnable task waited for a core. */
async function cpuPressure(): Promise<number> {
  const text = await readFile('/proc/pressure/cpu', 'utf8').catch(() => '');
  return Number(/^some avg10=([0-9.]+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) === parent) children.push(Number(entry));
  }
  return children;
}

async function masterPid(prefix: string): Promise<number> {
  return Number((await readFile(path.join(prefix, 'nginx.pid'), 'utf8')).trim());
}

/** CPU time (ms) used so far by `pids`, from /proc/PID/stat. */
async function cpuTimeMs(pids: readonly number[]): Promise<number> {
  const ticksPerSecond = 100;
  let total = 0;
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    total += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return (total / ticksPerSecond) * 1000;
}

/** The 360p test clip, encoded once: moving test pattern and tone, 1 s GOP. */
async function makeClip(dir: string): Promise<string> {
  const clip = path.join(dir, 'clip-360p.mp4');
  await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '30',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-profile:v',
    'baseline',
    '-b:v',
    '600k',
    '-maxrate',
    '650k',
    '-bufsize',
    '1200k',
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '64k',
    '-movflags',
    '+faststart',
    clip,
  ]);
  return clip;
}

/** Plain nginx on the edge's files: a static server with the same connection limits. */
async function startPlainNginx(
  dir: string,
  root: string,
  port: number,
  limits: { nofile: number; connections: number },
): Promise<{ prefix: string; stop(): Promise<void> }> {
  const config = path.join(dir, 'nginx.conf');
  await writeFile(
    config,
    [
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      'worker_processes 1;',
      `worker_rlimit_nofile ${limits.nofile};`,
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      `events { worker_connections ${limits.connections}; }`,
      'http {',
      '  include /etc/nginx/mime.types;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  gzip_static on;',
      '  access_log off;',
      `  client_body_temp_path ${dir}/tmp;`,
      `  proxy_temp_path ${dir}/tmp;`,
      `  fastcgi_temp_path ${dir}/tmp;`,
      `  uwsgi_temp_path ${dir}/tmp;`,
      `  scgi_temp_path ${dir}/tmp;`,
      `  server { listen 127.0.0.1:${port}; root ${root}; }`,
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-p', dir, '-c', config, '-e', `${dir}/error.log`];
  await run(...pinned(SERVER_CORE, '/usr/sbin/nginx', args));
  return {
    prefix: dir,
    stop: async () => {
      const pid = await masterPid(dir).catch(() => 0);
      await run('/usr/sbin/nginx', [...args, '-s', 'stop']).catch(() => undefined);
      for (let i = 0; i < 100 && pid > 0; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await sleep(50);
      }
    },
  };
}

/** The load processes of one ramp, pinned to the load core. */
class LoadGenerator {
  private readonly children: ChildProcess[] = [];

  constructor(count: number) {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hlsViewerProcess.js');
    for (let i = 0; i < count; i++) {
      const [command, args] = pinned(LOAD_CORE, process.execPath, [script]);
      this.children.push(spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    }
  }

  viewers(port: number, count: number): void {
    this.children.forEach((child, i) => {
      const share =
        Math.floor(count / this.children.length) + (i < count % this.children.length ? 1 : 0);
      const command: ViewerCommand = {
        type: 'viewers',
        host: '127.0.0.1',
        port,
        // Signed like a viewer's (server/hls/HlsSigner.ts), for longer than the bench runs.
        directory: new HlsSigner({ edgeSecret: EDGE_SECRET, ttlSeconds: 6 * 3600 }).path(
          STREAM,
          '',
        ),
        count: share,
        spreadMs: 1000,
      };
      child.send(command);
    });
  }

  async measure(ms: number): Promise<ViewerWindow[]> {
    return Promise.all(
      this.children.map(
        (child) =>
          new Promise<ViewerWindow>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error('a load process did not answer')),
              ms + 30_000,
            );
            child.once('message', (message: ViewerWindow) => {
              clearTimeout(timer);
              resolve(message);
            });
            const command: ViewerCommand = { type: 'measure', ms };
            child.send(command);
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            child.once('exit', () => resolve());
            const command: ViewerCommand = { type: 'stop' };
            child.send(command);
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  }
}

/** Measures one window at the current number of viewers. */
async function measureStep(target: Target, load: LoadGenerator, viewers: number): Promise<Step> {
  const workers = await target.workers();
  const cpuBefore = await cpuTimeMs(workers);
  const started = performance.now();
  const windows = await load.measure(WINDOW_MS);
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = (await cpuTimeMs(workers)) - cpuBefore;
  const ttfb = windows.flatMap((window) => window.ttfbMs);
  const errorKinds = new Map<string, number>();
  for (const window of windows) {
    for (const [kind, count] of window.errors) {
      errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + count);
    }
  }
  const step: Step = {
    viewers,
    // A window without one answer is as bad as it gets, not a missing figure.
    p50: ttfb.length === 0 ? Number.POSITIVE_INFINITY : percentile(ttfb, 50),
    p99: ttfb.length === 0 ? Number.POSITIVE_INFINITY : percentile(ttfb, 99),
    errors: [...errorKinds.values()].reduce((sum, count) => sum + count, 0),
    errorKinds: [...errorKinds].map(([kind, count]) => `${kind} ×${count}`),
    mbps: (windows.reduce((sum, window) => sum + window.bytes, 0) * 8) / seconds / 1e6,
    serverCpu: serverCpu / 1000 / seconds,
    loadCpu: windows.reduce((sum, window) => sum + window.cpuMs, 0) / 1000 / seconds,
    loadSystemCpu: windows.reduce((sum, window) => sum + window.systemMs, 0) / 1000 / seconds,
    loadLagP99: Math.max(...windows.map((window) => window.loopDelayP99Ms)),
    pressure: await cpuPressure(),
  };
  console.log(
    `  ${target.name.padEnd(11)} ${String(viewers).padStart(5)} viewers: TTFB p50 ` +
      `${step.p50.toFixed(1)} ms, p99 ${step.p99.toFixed(1)} ms, ${step.errors} errors` +
      `${step.errors > 0 ? ` (${step.errorKinds.slice(0, 3).join(', ')})` : ''}, ` +
      `${step.mbps.toFixed(0)} Mbit/s; server worker ${(step.serverCpu * 100).toFixed(0)} % ` +
      `of a core, load generator ${(step.loadCpu * 100).toFixed(0)} % ` +
      `(${(step.loadSystemCpu * 100).toFixed(0)} % in the kernel) ` +
      `(event loop lag p99 ${step.loadLagP99.toFixed(1)} ms); CPU pressure ${step.pressure} %`,
  );
  return step;
}

async function ramp(target: Target): Promise<Ramp> {
  const load = new LoadGenerator(LOAD_PROCESSES);
  const steps: Step[] = [];
  let limitedBy: Ramp['limitedBy'] = 'steps';
  try {
    for (const viewers of STEPS) {
      load.viewers(target.port, viewers);
      // Joins are spread over a second; then a few playlist reloads before measuring.
      await sleep(3000);
      let step = await measureStep(target, load, viewers);
      if (step.p99 > TTFB_LIMIT_MS) {
        // A burst of other work on the machine can spoil one window: a crossing counts when a
        // second window confirms it.
        const again = await measureStep(target, load, viewers);
        if (again.p99 < step.p99) step = again;
      }
      steps.push(step);
      if (step.p99 > TTFB_LIMIT_MS) {
        limitedBy = undefined;
        break;
      }
      if (step.loadCpu > GENERATOR_SATURATED) {
        limitedBy = 'load generator';
        break;
      }
    }
  } finally {
    await load.stop();
  }
  const over = limitedBy === undefined ? steps.at(-1) : undefined;
  const under = steps.filter((step) => step.p99 <= TTFB_LIMIT_MS).at(-1);
  let viewersAtLimit = under?.viewers ?? 0;
  if (over !== undefined && under !== undefined) {
    viewersAtLimit =
      under.viewers +
      ((TTFB_LIMIT_MS - under.p99) / (over.p99 - under.p99)) * (over.viewers - under.viewers);
  }
  const counted = steps.filter((step) => step.p99 <= TTFB_LIMIT_MS);
  return {
    steps,
    viewersAtLimit,
    crossed: over !== undefined,
    limitedBy,
    serverBusyAtEnd: (steps.at(-1)?.serverCpu ?? 0) >= SERVER_BUSY,
    mbps: under?.mbps ?? 0,
    errors: counted.reduce((sum, step) => sum + step.errors, 0),
    viewersPerCoreByCpu: viewersPerCore(steps),
  };
}

/** The median of the finite values (a ramp too short for a figure gives NaN). */
function finiteMedian(values: readonly number[]): number {
  return median(values.filter((value) => Number.isFinite(value)));
}

/** (1 − fixed) / per viewer from a least-squares line through (viewers, worker CPU). */
function viewersPerCore(steps: readonly Step[]): number {
  if (steps.length < 2) return Number.NaN;
  const n = steps.length;
  const meanX = steps.reduce((sum, step) => sum + step.viewers, 0) / n;
  const meanY = steps.reduce((sum, step) => sum + step.serverCpu, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const step of steps) {
    covariance += (step.viewers - meanX) * (step.serverCpu - meanY);
    variance += (step.viewers - meanX) ** 2;
  }
  const perViewer = covariance / variance;
  const fixed = Math.max(0, meanY - perViewer * meanX);
  return perViewer > 0 ? (1 - fixed) / perViewer : Number.NaN;
}

/** The playlist agent's reaction: live.m3u8's mtime after index.m3u8's, per nginx-rtmp write. */
function watchAgentLatency(folder: string): { latencies: number[]; close(): void } {
  const latencies: number[] = [];
  let lastIndex = 0;
  const watcher: FSWatcher = watch(folder, (_event, file) => {
    if (file !== 'live.m3u8') return;
    void Promise.all([
      stat(path.join(folder, 'index.m3u8')),
      stat(path.join(folder, 'live.m3u8')),
    ]).then(
      ([index, live]) => {
        if (index.mtimeMs <= lastIndex || live.mtimeMs < index.mtimeMs) return;
        lastIndex = index.mtimeMs;
        latencies.push(live.mtimeMs - index.mtimeMs);
      },
      () => undefined,
    );
  });
  return { latencies, close: () => watcher.close() };
}

export async function benchEdge(): Promise<void> {
  if (cpus().length < 2) throw new Error('the edge bench needs two cores: one served, one loading');
  await run('taskset', ['-c', SERVER_CORE, 'true']).catch(() => {
    throw new Error('taskset (util-linux) is needed to pin the servers and the load');
  });
  const work = await mkdtemp(path.join(tmpdir(), 'montage-bench-edge-'));
  let edge: NginxEdge | undefined;
  let plain: { prefix: string; stop(): Promise<void> } | undefined;
  let publisher: TestProcess | undefined;
  let agentWatch: { latencies: number[]; close(): void } | undefined;
  try {
    console.log('encoding the 360p test clip...');
    const clip = await makeClip(work);
    const limits = sizeConnections({});
    edge = new NginxEdge({
      prefix: path.join(work, 'edge'),
      httpPort: await freePort(),
      rtmpPort: await freePort(),
      edgeSecret: EDGE_SECRET,
      user: process.getuid?.() === 0 ? 'root' : undefined,
      workerProcesses: 1,
    });
    await edge.start();
    const edgePrefix = edge.prefix;
    const edgeMaster = await masterPid(edgePrefix);
    const edgeProcesses = async (): Promise<number[]> => [
      edgeMaster,
      ...(await childrenOf(edgeMaster)),
      ...(await agentProcesses(edgePrefix)).map((agent) => agent.pid),
    ];
    // Pinned before the publish: the playlist agent inherits its worker's core.
    await pin(await edgeProcesses(), SERVER_CORE);
    const offset = (programTimestamp(Date.now()) / 1000).toFixed(3);
    publisher = spawnTestProcess(
      ...pinned(LOAD_CORE, 'ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-stream_loop',
        '-1',
        '-i',
        clip,
        '-c',
        'copy',
        '-output_ts_offset',
        offset,
        '-f',
        'flv',
        `${edge.ingestUrl}/${STREAM}?secret=${EDGE_SECRET}`,
      ]),
    );
    const live = edge.hlsUrl(STREAM, 'live.m3u8');
    await waitForText(live, (text) => readPlaylist(text).segments.length >= 10, 60_000);
    const folder = path.join(edgePrefix, 'hls', STREAM);
    agentWatch = watchAgentLatency(folder);
    plain = await startPlainNginx(
      await mkdtemp(path.join(work, 'plain-')),
      edgePrefix,
      await freePort(),
      limits,
    );
    const plainPrefix = plain.prefix;
    const plainPort = Number(
      /listen 127\.0\.0\.1:(\d+);/.exec(
        await readFile(path.join(plainPrefix, 'nginx.conf'), 'utf8'),
      )?.[1],
    );
    const edgeWorkers = async (): Promise<number[]> => childrenOf(edgeMaster);
    const plainWorkers = async (): Promise<number[]> => childrenOf(await masterPid(plainPrefix));
    const edgeTarget: Target = {
      name: 'edge',
      port: Number(new URL(edge.httpUrl).port),
      workers: edgeWorkers,
    };
    const plainTarget: Target = { name: 'plain nginx', port: plainPort, workers: plainWorkers };
    console.log(
      `edge: ${limits.connections} connections, one worker; stream ${STREAM} (640x360, ` +
        `~600 kbit/s + 64 kbit/s AAC, 1 s fragments); steps ${STEPS.join(', ')}; ` +
        `${WINDOW_MS / 1000} s windows; ${LOAD_PROCESSES} load processes on core ${LOAD_CORE}`,
    );
    const results: Record<Target['name'], Ramp[]> = { edge: [], 'plain nginx': [] };
    for (let round = 0; round < RUNS; round++) {
      // Alternate which goes first, so neither always meets a warmer or busier machine.
      const order = round % 2 === 0 ? [edgeTarget, plainTarget] : [plainTarget, edgeTarget];
      for (const target of order) {
        // The core is the served one's alone: the edge moves away while plain nginx serves.
        await pin(await edgeProcesses(), target.name === 'edge' ? SERVER_CORE : LOAD_CORE);
        console.log(`run ${round + 1}/${RUNS}, ${target.name} on core ${SERVER_CORE}:`);
        const result = await ramp(target);
        results[target.name].push(result);
        const reason =
          result.limitedBy === 'load generator'
            ? ' (the load generator saturated its core first)'
            : result.crossed && !result.serverBusyAtEnd
              ? ' (with the server worker under 80 % of its core: the wait was elsewhere)'
              : '';
        console.log(
          `  → ${target.name}: p99 TTFB ${result.crossed ? 'passes' : 'stays under'} ` +
            `${TTFB_LIMIT_MS} ms ${result.crossed ? 'at' : 'up to'} ` +
            `${Math.round(result.viewersAtLimit)} viewers${reason}; one core would serve ` +
            `${Math.round(result.viewersPerCoreByCpu)} viewers at its CPU per viewer`,
        );
      }
    }
    const ours = results.edge;
    const anchor = results['plain nginx'];
    const pressures = [...ours, ...anchor].flatMap((result) =>
      result.steps.map((step) => step.pressure),
    );
    console.log(
      `machine: load average ${loadavg()
        .map((load) => load.toFixed(1))
        .join(', ')} at the end; CPU pressure during the steps: median ${median(pressures)} %, ` +
        `max ${Math.max(...pressures)} %`,
    );
    const lowerBound = [...ours, ...anchor].some((result) => !result.crossed);
    const notServer = [...ours, ...anchor].some(
      (result) => result.crossed && !result.serverBusyAtEnd,
    );
    printComparison(
      `Edge, one core (medians of ${RUNS} runs; anchor = plain nginx on the same files and core)`,
      [
        {
          metric:
            `viewers per core at p99 TTFB ${TTFB_LIMIT_MS} ms` +
            `${lowerBound ? ' (≥: not crossed in every run)' : ''}` +
            `${notServer ? ' (some crossings with the server not busy)' : ''}`,
          ours: median(ours.map((result) => result.viewersAtLimit)),
          anchor: median(anchor.map((result) => result.viewersAtLimit)),
          unit: 'viewers',
          goal: '≥ 0.9x',
        },
        {
          metric: 'viewers per core by worker CPU per viewer',
          ours: finiteMedian(ours.map((result) => result.viewersPerCoreByCpu)),
          anchor: finiteMedian(anchor.map((result) => result.viewersPerCoreByCpu)),
          unit: 'viewers',
        },
        {
          metric: 'bandwidth served at the last step under it',
          ours: median(ours.map((result) => result.mbps)),
          anchor: median(anchor.map((result) => result.mbps)),
          unit: 'Mbit/s',
        },
        {
          metric: 'errors up to it (all runs)',
          ours: ours.reduce((sum, result) => sum + result.errors, 0),
          anchor: anchor.reduce((sum, result) => sum + result.errors, 0),
          unit: '',
          goal: '0',
        },
      ],
    );
    const latencies = agentWatch.latencies;
    console.log(
      `\nplaylist agent: live.m3u8 written ${percentile(latencies, 50).toFixed(1)} ms (p50), ` +
        `${percentile(latencies, 99).toFixed(1)} ms (p99), ${Math.max(...latencies).toFixed(1)} ms ` +
        `(max) after nginx-rtmp's index.m3u8, over ${latencies.length} fragments (goal ~50 ms)`,
    );
    const sizes = await Promise.all(
      ['live.m3u8', 'live.m3u8.gz', 'index.m3u8', 'history.m3u8.gz'].map(
        async (file) => (await stat(path.join(folder, file))).size,
      ),
    );
    const listed = readPlaylist(await readFile(path.join(folder, 'index.m3u8'), 'utf8')).segments
      .length;
    console.log(
      `playlist bytes per reload: live.m3u8 ${sizes[0]} B, gzipped ${sizes[1]} B; nginx-rtmp's ` +
        `index.m3u8 ${sizes[2]} B after ${listed} fragments (+${((sizes[2] ?? 0) / listed).toFixed(0)} B ` +
        `per fragment, uncompressed); history.m3u8 gzipped ${sizes[3]} B`,
    );
  } finally {
    agentWatch?.close();
    await publisher?.stop();
    await plain?.stop();
    if (edge !== undefined) await stopTestEdge(edge);
    await rm(work, { recursive: true, force: true });
  }
}
