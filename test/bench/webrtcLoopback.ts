import path from 'node:path';
import { connectKurento } from '../helpers/kurento.js';
import type { Browser } from 'playwright-core';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { cpuTicks, startEngineProcess, workerPids } from '../helpers/engineProcess.js';
import { makeQuadrantY4m, mediaDir } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';
import { AnchorEcho } from './AnchorEcho.js';
import { median, percentile, printComparison } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CPU_WINDOW_MS = Number(process.env.BENCH_CPU_WINDOW_MS ?? 5_000);
const CLOCK_TICKS_PER_SECOND = 100;

interface RunFigures {
  firstFrameMs: number;
  cpuPercent: number;
}

/** CPU used by a set of processes over a window, in percent of one core. */
async function measureCpu(pids: () => Promise<number[]>): Promise<number> {
  const sum = async (list: number[]): Promise<number> => {
    let total = 0;
    for (const pid of list) total += await cpuTicks(pid).catch(() => 0);
    return total;
  };
  const list = await pids();
  const start = await sum(list);
  await new Promise((resolve) => setTimeout(resolve, CPU_WINDOW_MS));
  const end = await sum(list);
  return ((end - start) / CLOCK_TICKS_PER_SECOND / (CPU_WINDOW_MS / 1000)) * 100;
}

async function runEngine(
  browser: Browser,
  engineUrl: string,
  enginePid: number,
): Promise<RunFigures> {
  const client = await connectKurento(engineUrl);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);
    const peer = await BrowserPeer.open(browser);
    const offeredAt = await negotiate(endpoint, peer, { send: true });
    const { firstFrameAt } = await peer.waitForFrames(1, 20_000);
    await peer.waitForFrames(60, 20_000);
    const cpuPercent = await measureCpu(async () => [enginePid, ...(await workerPids(enginePid))]);
    await peer.close();
    return { firstFrameMs: firstFrameAt - offeredAt, cpuPercent };
  } finally {
    await pipeline.release();
    client.close();
  }
}

async function runAnchor(browser: Browser): Promise<RunFigures> {
  const echo = AnchorEcho.start();
  try {
    const peer = await BrowserPeer.open(browser);
    const offeredAt = await negotiate(echo, peer, { send: true });
    const { firstFrameAt } = await peer.waitForFrames(1, 20_000);
    await peer.waitForFrames(60, 20_000);
    const cpuPercent = await measureCpu(() => Promise.resolve([echo.pid]));
    await peer.close();
    return { firstFrameMs: firstFrameAt - offeredAt, cpuPercent };
  } finally {
    await echo.stop();
  }
}

/**
 * WebRTC loopback at 640x360@30: a Chromium fake camera sent to a WebRtcEndpoint connected to
 * itself and back. Runs alternate between the engine and the anchor so that machine noise hits
 * both alike; figures are medians over the runs.
 */
export async function benchWebrtcLoopback(): Promise<void> {
  const dir = await mediaDir();
  const camera = await makeQuadrantY4m(path.join(dir, 'camera.y4m'), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);
  const engine = await startEngineProcess();
  const browser = await launchChromium({ fakeVideoFile: camera });
  const ours: RunFigures[] = [];
  const anchor: RunFigures[] = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      ours.push(await runEngine(browser, engine.url, engine.pid));
      anchor.push(await runAnchor(browser));
      process.stdout.write(`  run ${run + 1}/${RUNS} done\n`);
    }
  } finally {
    await browser.close();
    await engine.stop();
  }
  const pick = (list: RunFigures[], key: keyof RunFigures): number[] =>
    list.map((figures) => figures[key]);
  printComparison(
    `WebRTC loopback 640x360@30, ${RUNS} runs (medians; anchor = plain webrtcbin echo)`,
    [
      {
        metric: 'processOffer → first frame',
        ours: median(pick(ours, 'firstFrameMs')),
        anchor: median(pick(anchor, 'firstFrameMs')),
        unit: 'ms',
      },
      {
        metric: 'processOffer → first frame p95',
        ours: percentile(pick(ours, 'firstFrameMs'), 95),
        anchor: percentile(pick(anchor, 'firstFrameMs'), 95),
        unit: 'ms',
      },
      {
        metric: 'server CPU (all processes)',
        ours: median(pick(ours, 'cpuPercent')),
        anchor: median(pick(anchor, 'cpuPercent')),
        unit: '%',
      },
    ],
  );
}
