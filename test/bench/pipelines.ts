/**
 * `npm run bench -- pipelines` (issue 10): how many assembly-shaped pipelines the engine runs and
 * what starting them costs, next to the same graphs as plain gst-launch-1.0 processes measured
 * in the same run.
 *
 * (a) Burst: BURST sessions each create a MediaPipeline at the same moment while another session
 *     pings (from a thread of its own); create p50/p99, refusals and ping p99, medians over RUNS.
 *     Anchor: BURST gst-launch-1.0 processes started at once (a one-buffer graph), each timed
 *     until it has run and exited: what a process start costs on this machine right now.
 * (b) Scale: pipelines PlayerEndpoint (an H.264 clip) → Composite (HubPort) → RtpEndpoint → RTP
 *     to a loopback UDP port are added one at a time until the engine's processes use 90 % of
 *     the cores or MAX pipelines run; CPU and memory (PSS) per pipeline and pipelines per core.
 *     Anchor: the same graph (filesrc → decode → compositor 1280x720@30 → x264enc → RTP → udpsink)
 *     as one gst-launch-1.0 process per pipeline, added the same way.
 * Knobs: BENCH_PIPELINES_BURST (50), BENCH_PIPELINES_RUNS (3), BENCH_PIPELINES_MAX (6),
 * BENCH_PIPELINES_WINDOW_MS (4000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import type kurento from 'kurento-client';
import { startEngineProcess, workerPids } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { RawClient, type Json } from '../kms/helpers.js';
import { makeMovingH264Clips, measureCpu, UdpSink } from './composite.js';
import { median, percentile, printComparison } from './stats.js';

const BURST = Number(process.env.BENCH_PIPELINES_BURST ?? 50);
const RUNS = Number(process.env.BENCH_PIPELINES_RUNS ?? 3);
const MAX = Number(process.env.BENCH_PIPELINES_MAX ?? 6);
const WINDOW_MS = Number(process.env.BENCH_PIPELINES_WINDOW_MS ?? 4_000);
const CORES = os.availableParallelism();
/** The scale phase stops adding pipelines once they use this share of all cores. */
const SATURATION = 0.9;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Proportional set size of a process in MiB: its share of pages it shares with others. */
async function pssMiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
  return m ? Number(m[1]) / 1024 : 0;
}

type PingerMessage = { type: 'ready' } | { type: 'result'; roundTrips: number[] };

/** One burst against a fresh engine: create latencies of the successes, refusals, ping RTTs. */
async function engineBurst(): Promise<{ creates: number[]; refused: number; pings: number[] }> {
  const engine = await startEngineProcess();
  const clients: RawClient[] = [];
  const pinger = new Thread(new URL('../kms/pingerThread.js', import.meta.url), {
    workerData: { url: engine.url },
  });
  try {
    const messages: PingerMessage[] = [];
    const result = new Promise<number[]>((resolve) =>
      pinger.on('message', (message: PingerMessage) => {
        messages.push(message);
        if (message.type === 'result') resolve(message.roundTrips);
      }),
    );
    for (let i = 0; i < BURST; i += 1) clients.push(await RawClient.open(engine.url));
    while (messages.length === 0 || (await workerPids(engine.pid)).length < 1) await sleep(50);
    pinger.postMessage('start');
    const answers = await Promise.all(
      clients.map(async (client) => {
        const sent = performance.now();
        const reply = await client.call('create', { type: 'MediaPipeline' });
        return { client, reply, ms: performance.now() - sent };
      }),
    );
    const created = answers.filter((answer) => answer.reply.result !== undefined);
    for (const { client, reply } of created)
      await client.ok('release', { object: (reply.result as Json).value as string });
    await sleep(500);
    pinger.postMessage('stop');
    return {
      creates: created.map((answer) => answer.ms),
      refused: answers.length - created.length,
      pings: await result,
    };
  } finally {
    await pinger.terminate();
    await Promise.all(clients.map((client) => client.close()));
    await engine.stop();
  }
}

/** BURST one-buffer gst-launch-1.0 processes at once, each timed until it exited. */
async function anchorBurst(): Promise<number[]> {
  return Promise.all(
    Array.from({ length: BURST }, async () => {
      const started = performance.now();
      const child = spawn('gst-launch-1.0', ['-q', 'fakesrc', 'num-buffers=1', '!', 'fakesink'], {
        stdio: 'ignore',
      });
      await new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return performance.now() - started;
    }),
  );
}

interface ScaleResult {
  pipelines: number;
  cpuPerPipeline: number;
  pssPerPipeline: number;
}

/** Adds pipelines until the cores are saturated or MAX; CPU and PSS per pipeline at the end. */
async function scale(
  add: () => Promise<number[]>,
  common: () => Promise<number[]>,
): Promise<ScaleResult> {
  const pids: number[] = [];
  let cpu = 0;
  let pipelines = 0;
  while (pipelines < MAX) {
    pids.push(...(await add()));
    pipelines += 1;
    await sleep(1_000);
    cpu = await measureCpu([...(await common()), ...pids], WINDOW_MS);
    if (cpu >= SATURATION * 100 * CORES) break;
  }
  let pss = 0;
  for (const pid of pids) pss += await pssMiB(pid);
  return { pipelines, cpuPerPipeline: cpu / pipelines, pssPerPipeline: pss / pipelines };
}

async function engineScale(clip: string): Promise<ScaleResult> {
  const engine = await startEngineProcess({ KMS_WARM_WORKERS: '0' });
  const client = await connectKurento(engine.url);
  const sinks: UdpSink[] = [];
  const pipelines: kurento.MediaPipeline[] = [];
  try {
    return await scale(
      async () => {
        const before = new Set(await workerPids(engine.pid));
        const pipeline = await client.create('MediaPipeline');
        pipelines.push(pipeline);
        const composite = await pipeline.create('Composite', {
          width: 1280,
          height: 720,
          framerate: 30,
        });
        const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
        await player.connect(await composite.createHubPort(), 'VIDEO');
        const rtp = await pipeline.create('RtpEndpoint');
        await (await composite.createHubPort()).connect(rtp, 'VIDEO');
        const sink = await UdpSink.open();
        sinks.push(sink);
        await rtp.processOffer(sink.offer);
        await player.play();
        return (await workerPids(engine.pid)).filter((pid) => !before.has(pid));
      },
      () => Promise.resolve([engine.pid]),
    );
  } finally {
    for (const pipeline of pipelines) await pipeline.release();
    client.close();
    await Promise.all(sinks.map((sink) => sink.close()));
    await engine.stop();
  }
}

async function anchorScale(clip: string): Promise<ScaleResult> {
  const children: ChildProcess[] = [];
  const sinks: UdpSink[] = [];
  try {
    return await scale(
      async () => {
        const sink = await UdpSink.open();
        sinks.push(sink);
        const graph =
          `filesrc location=${clip} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! ` +
          `compositor ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! ` +
          `x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=30 ! ` +
          `rtph264pay ! udpsink host=127.0.0.1 port=${sink.port}`;
        const child = spawn('gst-launch-1.0', ['-q', ...graph.split(' ')], { stdio: 'ignore' });
        children.push(child);
        return child.pid === undefined ? [] : [child.pid];
      },
      () => Promise.resolve([]),
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(sinks.map((sink) => sink.close()));
  }
}

export async function benchPipelines(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'montage-bench-pipelines-'));
  try {
    const [clip] = await makeMovingH264Clips(dir, 1, 120);
    if (!clip) throw new Error('no clip');
    const p50s: number[] = [];
    const p99s: number[] = [];
    const refusals: number[] = [];
    const pingP99s: number[] = [];
    const anchorP50s: number[] = [];
    const anchorP99s: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const burst = await engineBurst();
      p50s.push(percentile(burst.creates, 50));
      p99s.push(percentile(burst.creates, 99));
      refusals.push(burst.refused);
      pingP99s.push(percentile(burst.pings, 99));
      const anchor = await anchorBurst();
      anchorP50s.push(percentile(anchor, 50));
      anchorP99s.push(percentile(anchor, 99));
    }
    printComparison(
      `Burst: ${BURST} sessions create a MediaPipeline at once (medians of ${RUNS} runs; anchor: ${BURST} gst-launch-1.0 started at once; refused: ${refusals.join(', ')} of ${BURST})`,
      [
        { metric: 'create p50', ours: median(p50s), anchor: median(anchorP50s), unit: 'ms' },
        { metric: 'create p99', ours: median(p99s), anchor: median(anchorP99s), unit: 'ms' },
        {
          metric: 'ping p99 during the burst',
          ours: median(pingP99s),
          anchor: Number.NaN,
          unit: 'ms',
          goal: '< 100 ms',
        },
      ],
    );
    const ours = await engineScale(clip);
    const anchor = await anchorScale(clip);
    printComparison(
      `Scale: Player → Composite → RtpEndpoint pipelines added until ${SATURATION * 100} % of ${CORES} cores or ${MAX} (engine ran ${ours.pipelines}, gst-launch ${anchor.pipelines})`,
      [
        {
          metric: 'CPU per pipeline',
          ours: ours.cpuPerPipeline,
          anchor: anchor.cpuPerPipeline,
          unit: '% core',
        },
        {
          metric: 'pipelines per core',
          ours: 100 / ours.cpuPerPipeline,
          anchor: 100 / anchor.cpuPerPipeline,
          unit: '',
        },
        {
          metric: 'memory (PSS) per pipeline',
          ours: ours.pssPerPipeline,
          anchor: anchor.pssPerPipeline,
          unit: 'MiB',
        },
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
