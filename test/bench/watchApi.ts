/**
 * The app's side of a whole school opening the watch page at once (`npm run bench -- watch`):
 * 2,000 viewers arrive evenly within 10 s, and each does what the /watch page and its player do
 * against the app server: GET the watch API, GET the live multivariant playlist, GET the
 * steering manifest (with `_HLS_pathway`, as hls.js does), and join the assembly over socket.io;
 * each leaves (disconnects) 5 s later. Meanwhile a probe reads /healthz every 20 ms. The anchor,
 * in the same run on the same machine, is a plain express hello-world answering the same
 * requests at the same pace. Both servers run as their own processes (watchApiServer.ts), so
 * the load generator shares no event loop with them. Ours is the p99 of every request a viewer
 * makes; goal p99 < 100 ms with no errors.
 *
 * Knobs: BENCH_WATCH_VIEWERS (default 2000), BENCH_WATCH_SECONDS (arrival window, default 10),
 * BENCH_WATCH_JOIN=0 to leave socket.io out (the HTTP side alone).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { connected, connectSocket } from '../e2e/stack.js';
import { REPO_ROOT } from '../helpers/engineProcess.js';
import { median, percentile, printComparison } from './stats.js';

const VIEWERS = Number(process.env.BENCH_WATCH_VIEWERS ?? 2000);
const WINDOW_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
const STAY_MS = 5000;
const JOIN = process.env.BENCH_WATCH_JOIN !== '0';

interface Started {
  child: ChildProcess;
  info: { url: string; assemblyId?: string; token?: string };
}

async function startServer(kind: 'montage' | 'hello'): Promise<Started> {
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'dist/test/bench/watchApiServer.js'), kind],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      throw new Error(`the ${kind} server exited before listening`);
    }),
  ])) as [string];
  return { child, info: JSON.parse(line) as Started['info'] };
}

async function stopServer(server: Started): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  await exited;
}

interface Figures {
  latencies: number[];
  errors: number;
  health: number[];
  healthErrors: number;
  /** socket.io joins: time to connect, and failures. */
  joins: number[];
  joinErrors: number;
  /** The first few failures, said once each. */
  why: Set<string>;
}

function failed(figures: Figures, reason: unknown): void {
  if (figures.why.size < 5)
    figures.why.add(reason instanceof Error ? reason.message : String(reason));
}

async function timed(
  url: string,
  init: RequestInit,
  figures: Figures,
): Promise<Response | undefined> {
  const started = performance.now();
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    figures.latencies.push(performance.now() - started);
    if (!response.ok) {
      figures.errors += 1;
      failed(figures, `${response.status} ${body.slice(0, 120)}`);
      return undefined;
    }
    return new Response(body, { status: response.status, headers: response.headers });
  } catch (error) {
    figures.errors += 1;
    failed(figures, error);
    return undefined;
  }
}

/** Reads /healthz every 20 ms until `stop` resolves. */
async function probeHealth(url: string, figures: Figures, stop: Promise<void>): Promise<void> {
  let done = false;
  void stop.then(() => (done = true));
  while (!done) {
    const started = performance.now();
    try {
      const response = await fetch(`${url}/healthz`);
      await response.text();
      if (!response.ok) figures.healthErrors += 1;
    } catch {
      figures.healthErrors += 1;
    }
    figures.health.push(performance.now() - started);
    await sleep(20);
  }
}

/** One viewer of Montage: the watch page's requests, its player's, and its socket. */
async function montageViewer(server: Started['info'], figures: Figures): Promise<void> {
  const { url, assemblyId, token } = server;
  const watch = await timed(
    `${url}/api/assemblies/${assemblyId}/watch`,
    { headers: { authorization: `Bearer ${token}` } },
    figures,
  );
  if (watch === undefined) return;
  const { liveUrl } = (await watch.json()) as { liveUrl: string };
  const playlistUrl = new URL(liveUrl, url);
  const playlist = await timed(playlistUrl.href, {}, figures);
  if (playlist === undefined) return;
  const text = await playlist.text();
  const steering = /SERVER-URI="([^"]+)",PATHWAY-ID="([^"]+)"/.exec(text);
  if (steering?.[1] === undefined || steering[2] === undefined) {
    figures.errors += 1;
    return;
  }
  const manifestUrl = new URL(steering[1], playlistUrl);
  manifestUrl.searchParams.set('_HLS_pathway', steering[2]);
  manifestUrl.searchParams.set('_HLS_throughput', '5000000');
  await timed(manifestUrl.href, {}, figures);
  if (!JOIN) return;
  const joining = performance.now();
  const socket = connectSocket(url, token ?? '', assemblyId ?? '');
  try {
    await connected(socket);
    figures.joins.push(performance.now() - joining);
    await sleep(STAY_MS);
  } catch (error) {
    figures.joinErrors += 1;
    failed(figures, error);
  } finally {
    socket.close();
  }
}

/** One "viewer" of the anchor: the same three requests to a hello-world. */
async function helloViewer(server: Started['info'], figures: Figures): Promise<void> {
  for (let i = 0; i < 3; i++) await timed(`${server.url}/hello`, {}, figures);
}

async function load(
  server: Started['info'],
  viewer: (server: Started['info'], figures: Figures) => Promise<void>,
): Promise<Figures & { seconds: number }> {
  const figures: Figures = {
    latencies: [],
    errors: 0,
    health: [],
    healthErrors: 0,
    joins: [],
    joinErrors: 0,
    why: new Set(),
  };
  let finish = (): void => undefined;
  const stop = new Promise<void>((resolve) => (finish = resolve));
  const health = probeHealth(server.url, figures, stop);
  const started = performance.now();
  const viewers: Array<Promise<void>> = [];
  for (let i = 0; i < VIEWERS; i++) {
    const due = started + (i * WINDOW_SECONDS * 1000) / VIEWERS;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    viewers.push(viewer(server, figures));
  }
  await Promise.all(viewers);
  finish();
  await health;
  return { ...figures, seconds: (performance.now() - started) / 1000 };
}

export async function benchWatchApi(): Promise<void> {
  const ours = await startServer('montage');
  const anchor = await startServer('hello');
  try {
    process.stdout.write(`  ${VIEWERS} viewers in ${WINDOW_SECONDS} s: Montage\n`);
    const montage = await load(ours.info, montageViewer);
    process.stdout.write(`  the same pace against a plain express hello-world\n`);
    const hello = await load(anchor.info, helloViewer);
    console.log(
      `  Montage: ${montage.latencies.length} requests, ${montage.errors} errors, ` +
        `${montage.joins.length} socket.io joins (p50 ${median(montage.joins).toFixed(0)} ms, ` +
        `p99 ${percentile(montage.joins, 99).toFixed(0)} ms, ${montage.joinErrors} failed), ` +
        `${montage.health.length} /healthz reads (${montage.healthErrors} failed), ` +
        `${montage.seconds.toFixed(1)} s; hello-world: ${hello.latencies.length} requests, ` +
        `${hello.errors} errors`,
    );
    for (const reason of [...montage.why, ...hello.why]) console.log(`  failure: ${reason}`);
    printComparison(
      `A whole school opening the watch page: ${VIEWERS} viewers within ${WINDOW_SECONDS} s, ` +
        'each GET watch API + multivariant playlist + steering manifest and a socket.io join ' +
        `(left ${STAY_MS / 1000} s later); anchor = a plain express hello-world, same requests ` +
        'at the same pace, same machine, same run',
      [
        {
          metric: 'request p50',
          ours: median(montage.latencies),
          anchor: median(hello.latencies),
          unit: 'ms',
        },
        {
          metric: 'request p99',
          ours: percentile(montage.latencies, 99),
          anchor: percentile(hello.latencies, 99),
          unit: 'ms',
          goal: '< 100 ms',
        },
        {
          metric: 'request errors',
          ours: montage.errors,
          anchor: hello.errors,
          unit: '',
          goal: '0',
        },
        {
          metric: '/healthz p99 while they join and leave',
          ours: percentile(montage.health, 99),
          anchor: percentile(hello.health, 99),
          unit: 'ms',
        },
      ],
    );
    if (montage.latencies.length === 0) throw new Error('watch bench: no request answered');
  } finally {
    await stopServer(ours);
    await stopServer(anchor);
  }
}
