/**
 * The 360p rendition, encoded once on the origin: a real RTMP origin, a test program published
 * as the bridge publishes it (720p, 1 s GOP, program-clock timestamps) and the real
 * RenditionLadder with its ffmpeg encoder. ffprobe proves that the rendition's keyframes fall on
 * the source's timestamps exactly (so every edge cuts both into the same fragments), the codecs
 * are what the multivariant playlist declares, and decoded pixels prove it is the source's picture.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RenditionLadder } from '../../server/bridge/RenditionLadder.js';
import { LOW_RENDITION, SOURCE_RENDITION } from '../../server/hls/renditions.js';
import { Logger } from '../../server/log.js';
import { RtmpOrigin, streamName } from '../../server/origin/RtmpOrigin.js';
import { EDGE_SECRET, type TestProcess } from '../edge/helpers.js';
import { freePort } from '../helpers/engineProcess.js';
import {
  captureStream,
  cpuPercent,
  fileQuadrants,
  keyframeTimes,
  publishProgram,
  streamInfo,
} from './helpers.js';

const source = streamName('rendition-test');
const rendition = streamName('rendition-test_360p');
let origin: RtmpOrigin;
let ladder: RenditionLadder;
let publisher: TestProcess | undefined;
let dir: string;

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'montage-rendition-'));
  origin = new RtmpOrigin({
    port: await freePort(),
    edgeSecret: EDGE_SECRET,
    publishGraceMs: 1000,
  });
  await origin.start();
  ladder = new RenditionLadder({
    origin,
    renditions: [LOW_RENDITION],
    logger: new Logger('silent'),
    encoder: { restartDelayMs: 200 },
  });
  ladder.start();
  origin.allowStream(source, 'rendition-test-stream-key-01');
});

after(async () => {
  await publisher?.stop();
  await ladder.stop();
  await origin.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a live program gets its 360p rendition on the origin, and only the program does', async () => {
  publisher = publishProgram(origin.publishUrl(source));
  await waitFor('the 360p rendition on the origin', () => origin.isLive(rendition), 30_000);
  assert.deepEqual(
    ladder.liveRenditions('rendition-test').map((r) => r.id),
    ['', '360p'],
  );
  assert.equal(ladder.ready('rendition-test'), true);
  // The rendition stream going live did not start an encoder of its own.
  assert.equal(ladder.encoder('rendition-test_360p_360p'), undefined);
  assert.ok(ladder.encoder(rendition) !== undefined);
});

test('keyframes fall on the same program timestamps, codecs and picture are as declared', async () => {
  const sourceFile = path.join(dir, 'source.flv');
  const renditionFile = path.join(dir, 'rendition.flv');
  await Promise.all([
    captureStream(origin.playUrl(source), sourceFile, 8),
    captureStream(origin.playUrl(rendition), renditionFile, 8),
  ]);
  const sourceKeys = await keyframeTimes(sourceFile);
  const renditionKeys = await keyframeTimes(renditionFile);
  // The two captures start at slightly different moments: compare where they overlap.
  const from = Math.max(sourceKeys[0] ?? 0, renditionKeys[0] ?? 0);
  const to = Math.min(sourceKeys.at(-1) ?? 0, renditionKeys.at(-1) ?? 0);
  const inWindow = (keys: number[]): number[] => keys.filter((t) => t >= from && t <= to);
  assert.ok(
    inWindow(sourceKeys).length >= 4,
    `overlap: ${JSON.stringify({ sourceKeys, renditionKeys })}`,
  );
  assert.deepEqual(inWindow(renditionKeys), inWindow(sourceKeys));
  // On the program clock: within a minute of now, modulo 2^31 ms.
  const now = Date.now() % 2 ** 31;
  assert.ok(Math.abs((sourceKeys[0] ?? 0) - now) < 60_000, `${sourceKeys[0]} vs ${now}`);

  const low = await streamInfo(renditionFile);
  assert.deepEqual(low, {
    codec: 'h264',
    profile: 'Constrained Baseline',
    level: 30,
    width: 640,
    height: 360,
    frameRate: '30/1',
    audio: 'aac LC',
  });
  assert.equal(LOW_RENDITION.codecs, 'avc1.42c01e,mp4a.40.2', 'CODECS: constrained baseline 3.0');
  const high = await streamInfo(sourceFile);
  assert.equal(high.profile, 'Constrained Baseline');
  assert.equal(
    `${high.width}x${high.height}`,
    `${SOURCE_RENDITION.width}x${SOURCE_RENDITION.height}`,
  );
  assert.deepEqual(await fileQuadrants(renditionFile), ['red', 'green', 'blue', 'yellow']);
  assert.deepEqual(await fileQuadrants(sourceFile), ['red', 'green', 'blue', 'yellow']);

  const pid = ladder.encoder(rendition)?.pid;
  assert.ok(pid !== undefined);
  const cpu = await cpuPercent(pid, 5000);
  console.log(`360p encoder (x264 veryfast, 720p30 in): ${cpu.toFixed(0)} % of one core`);
});

test('a killed encoder is restarted and the rendition comes back', async () => {
  const encoder = ladder.encoder(rendition);
  assert.ok(encoder?.pid !== undefined);
  process.kill(encoder.pid, 'SIGKILL');
  await waitFor('a restart', () => encoder.restarts >= 1 && encoder.state === 'running', 30_000);
  await waitFor('the rendition live again', () => origin.isLive(rendition), 30_000);
});

test('when the program ends its encoder stops and the rendition key is revoked', async () => {
  const encoder = ladder.encoder(rendition);
  assert.ok(encoder !== undefined);
  await publisher?.stop();
  const revoked = (): boolean => {
    try {
      origin.publishUrl(rendition);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor('the rendition key to be revoked', revoked, 20_000);
  assert.equal(encoder.state, 'stopped');
  assert.equal(ladder.encoder(rendition), undefined);
});
