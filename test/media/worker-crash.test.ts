import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connectKurento } from '../helpers/kurento.js';
import type { Browser } from 'playwright-core';
import { BrowserPeer, QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, workerPids, type EngineProcess } from '../helpers/engineProcess.js';
import { classify, makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  // Each pipeline's worker is found as the engine's new child: no warm worker may stand ready.
  engine = await startEngineProcess({ KMS_WARM_WORKERS: '0' });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Frames the peer decodes in a window of `ms` milliseconds. */
async function framesIn(peer: BrowserPeer, ms: number): Promise<number> {
  const before = (await peer.received()).frames;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return (await peer.received()).frames - before;
}

test('kill -9 of one pipeline worker raises Error on its objects while another pipeline keeps streaming', async () => {
  const quadrantsA: Quadrants = ['red', 'red', 'blue', 'blue'];
  const quadrantsB: Quadrants = ['green', 'magenta', 'yellow', 'cyan'];
  // Encoded side by side: one ffmpeg per core instead of one after the other.
  const [clipA, clipB] = await Promise.all([
    makeQuadrantClip(path.join(dir, 'a.webm'), quadrantsA, { seconds: 20, container: 'webm' }),
    makeQuadrantClip(path.join(dir, 'b.webm'), quadrantsB, { seconds: 20, container: 'webm' }),
  ]);
  const client = await connectKurento(engine.url);

  const before = new Set(await workerPids(engine.pid));
  const pipelineA = await client.create('MediaPipeline');
  const afterA = await workerPids(engine.pid);
  const pipelineB = await client.create('MediaPipeline');
  const afterB = await workerPids(engine.pid);
  const workerA = afterA.filter((pid) => !before.has(pid));
  const workerB = afterB.filter((pid) => !afterA.includes(pid));
  assert.equal(workerA.length, 1, 'one worker process per pipeline');
  assert.equal(workerB.length, 1, 'one worker process per pipeline');

  const streams = [];
  for (const [pipeline, clip] of [
    [pipelineA, clipA],
    [pipelineB, clipB],
  ] as const) {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const viewer = await pipeline.create('WebRtcEndpoint');
    await player.connect(viewer);
    const peer = await BrowserPeer.open(browser);
    await negotiate(viewer, peer, { send: false });
    await player.play();
    await peer.waitForFrames(10, 15_000);
    streams.push({ pipeline, player, viewer, peer });
  }
  const [a, b] = streams;
  assert.ok(a !== undefined && b !== undefined);
  assert.deepEqual((await b.peer.sample(QUADRANT_CENTRES)).map(classify), [...quadrantsB]);

  // B's frame rate before the crash is the yardstick for after it: the median of three 2 s
  // windows, because a machine shared with other tests slows any single window down.
  const windowsBefore = [];
  for (let i = 0; i < 3; i++) windowsBefore.push(await framesIn(b.peer, 2_000));
  const rateBefore = [...windowsBefore].sort((x, y) => x - y)[1] ?? 0;
  const errorsA: string[] = [];
  const raised = (name: string) =>
    new Promise<void>((resolve) => {
      const listener = (event: { type: string }): void => {
        errorsA.push(`${name}:${event.type}`);
        resolve();
      };
      if (name === 'player') a.player.on('Error', listener);
      else if (name === 'viewer') a.viewer.on('Error', listener);
      else a.pipeline.on('Error', listener);
    });
  const allRaised = Promise.all([raised('pipeline'), raised('player'), raised('viewer')]);
  // kurento-client sends a subscribe per listener without a way to await it. The requests go
  // out in order on one socket and the engine handles a subscribe at once, so the answer to a
  // later request on each object proves its subscriptions are in place before the crash.
  await Promise.all([a.pipeline.getName(), a.player.getName(), a.viewer.getName()]);

  process.kill(workerA[0] ?? 0, 'SIGKILL');
  await allRaised;
  assert.equal(errorsA.length, 3, `Error on pipeline, player and viewer: ${errorsA.join(', ')}`);

  // B keeps streaming: frames arrive in every 2 s window after the crash, and in the best of
  // three at 80 % of the rate before (the worst may meet the machine's busy moment).
  const windowsAfter = [];
  for (let i = 0; i < 3; i++) windowsAfter.push(await framesIn(b.peer, 2_000));
  const rateAfter = Math.max(...windowsAfter);
  assert.ok(
    Math.min(...windowsAfter) > 0 && rateAfter > 0.8 * rateBefore && rateAfter >= 20,
    `B decoded ${windowsAfter.join(', ')} frames in 2 s windows after the crash, ` +
      `${windowsBefore.join(', ')} before`,
  );
  assert.deepEqual((await b.peer.sample(QUADRANT_CENTRES)).map(classify), [...quadrantsB]);
  assert.ok((await b.player.getPosition()) > 0, 'B still answers requests');

  // Calls on the dead pipeline fail clearly instead of hanging.
  const deadError = await new Promise<(Error & { code?: number }) | null>((resolve) => {
    void a.player.getPosition((error) => resolve(error));
  });
  assert.equal(deadError?.code, -32603, 'the dead pipeline answers with an error');
  assert.match(deadError?.message ?? '', /dead/);

  await pipelineA.release();
  await pipelineB.release();
  await waitFor(
    'every worker to exit',
    async () => (await workerPids(engine.pid)).length === 0,
    5_000,
  );
  await a.peer.close();
  await b.peer.close();
  client.close();
});
