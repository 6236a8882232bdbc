import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import type { Browser } from 'playwright-core';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { mediaDir, type PaletteName } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { gridCells, makeMovingBoxClip, makeMovingBoxY4m, readCell } from './hubHelpers.js';

const WIDTH = 640;
const HEIGHT = 360;

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  const y4m = await makeMovingBoxY4m(path.join(dir, 'camera.y4m'), 'magenta', 4);
  engine = await startEngineProcess();
  browser = await launchChromium({ fakeVideoFile: y4m });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

async function rtpReceiver(
  pipeline: kurento.MediaPipeline,
  source: kurento.MediaElement,
  options: { video: boolean; audio: boolean },
): Promise<RtpReceiver> {
  const receiver = await RtpReceiver.create({ ...options, width: WIDTH, height: HEIGHT });
  const rtp = await pipeline.create('RtpEndpoint');
  await source.connect(rtp);
  const answer = await rtp.processOffer(receiver.offer);
  await receiver.start(answer);
  return receiver;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('a Composite shows four live sources in a grid and reflows to three without freezing the others', async () => {
  const colours: PaletteName[] = ['red', 'green', 'blue'];
  const clips = await Promise.all(
    colours.map((c, i) =>
      makeMovingBoxClip(path.join(dir, `${c}.webm`), c, { seconds: 12, toneHz: 300 + 200 * i }),
    ),
  );
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  let receiver: RtpReceiver | undefined;
  let peer: BrowserPeer | undefined;
  try {
    const composite = await pipeline.create('Composite');
    const ports: kurento.HubPort[] = [];
    const players: kurento.PlayerEndpoint[] = [];
    for (const clip of clips) {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      const port = await composite.createHubPort();
      await player.connect(port);
      players.push(player);
      ports.push(port);
    }
    const camera = await pipeline.create('WebRtcEndpoint');
    const cameraPort = await composite.createHubPort();
    await camera.connect(cameraPort);
    ports.push(cameraPort);
    peer = await BrowserPeer.open(browser);
    await negotiate(camera, peer, { send: true });
    const out = await composite.createHubPort();
    receiver = await rtpReceiver(pipeline, out, { video: true, audio: false });
    for (const player of players) await player.play();

    const expected: PaletteName[] = ['red', 'green', 'blue', 'magenta'];
    const cells4 = gridCells(4);
    const deadline = Date.now() + 20_000;
    let seen: PaletteName[] = [];
    await receiver.waitForFrames(10, 15_000);
    while (Date.now() < deadline) {
      const frame = receiver.latest;
      if (frame) seen = cells4.map((cell) => readCell(frame, WIDTH, HEIGHT, cell).colour);
      if (seen.join() === expected.join()) break;
      await sleep(100);
    }
    assert.deepEqual(seen, expected, 'each source in its cell, in port creation order');

    // Watch every tile's box, frame by frame, across the removal of the second port.
    const lastMove = new Map<PaletteName, { box: number; at: number }>();
    const stalls = new Map<PaletteName, number>();
    let reflowedAt = 0;
    // Measured in decoded frames as well as milliseconds: on a loaded machine the clock runs on
    // while frames are late, but the frame count only grows with the picture itself.
    let removedAtFrame = 0;
    let reflowFrames = 0;
    let removedAt = 0;
    let lastFrames = receiver.frames;
    const watchUntil = Date.now() + 4_000;
    while (Date.now() < watchUntil) {
      await sleep(5);
      const frame = receiver.latest;
      if (!frame || receiver.frames === lastFrames) continue;
      lastFrames = receiver.frames;
      if (removedAt === 0 && Date.now() > watchUntil - 2_500) {
        removedAt = Date.now();
        removedAtFrame = receiver.frames;
        void ports[1]?.release();
      }
      const cells = gridCells(removedAt && reflowedAt ? 3 : 4);
      const now = frame.at;
      const readings = cells.map((cell) => readCell(frame, WIDTH, HEIGHT, cell));
      if (removedAt && !reflowedAt) {
        const three = gridCells(3).map((cell) => readCell(frame, WIDTH, HEIGHT, cell).colour);
        if (three.join() === 'red,blue,magenta') {
          reflowedAt = now;
          reflowFrames = receiver.frames - removedAtFrame;
        }
      }
      for (const { colour, box } of readings) {
        if (!['red', 'blue', 'magenta'].includes(colour) || Number.isNaN(box)) continue;
        const previous = lastMove.get(colour);
        if (!previous || Math.abs(previous.box - box) > 0.005) {
          if (previous) stalls.set(colour, Math.max(stalls.get(colour) ?? 0, now - previous.at));
          lastMove.set(colour, { box, at: now });
        }
      }
    }
    assert.ok(reflowedAt > 0, 'the grid reflowed to three tiles');
    const reflowMs = reflowedAt - removedAt;
    process.stdout.write(
      `reflow after ${reflowMs} ms (${reflowFrames} frames); ` +
        `longest stalls ${JSON.stringify([...stalls])}\n`,
    );
    assert.ok(reflowFrames <= 15, `reflow took ${reflowFrames} frames (${reflowMs} ms)`);
    for (const colour of ['red', 'blue', 'magenta'] as const) {
      const stall = stalls.get(colour);
      assert.ok(stall !== undefined, `${colour} tile moved`);
      assert.ok(stall < 250, `${colour} tile stalled for ${stall} ms`);
    }
  } finally {
    await receiver?.stop();
    await peer?.close();
    await pipeline.release();
    client.close();
  }
});

test('every Composite port hears the other ports and not itself', async () => {
  const tones = [300, 500, 700, 900];
  const colours: PaletteName[] = ['red', 'green', 'blue', 'yellow'];
  const clips = await Promise.all(
    tones.map((hz, i) =>
      makeMovingBoxClip(path.join(dir, `tone-${hz}.webm`), colours[i] ?? 'red', {
        // Long enough for the retries of the level check below.
        seconds: 10,
        toneHz: hz,
      }),
    ),
  );
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receivers: RtpReceiver[] = [];
  try {
    const composite = await pipeline.create('Composite');
    const players: kurento.PlayerEndpoint[] = [];
    for (const clip of clips) {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      const port = await composite.createHubPort();
      await player.connect(port);
      players.push(player);
      receivers.push(await rtpReceiver(pipeline, port, { video: false, audio: true }));
    }
    for (const player of players) await player.play();
    for (const receiver of receivers) await receiver.waitForAudio(2_000, 15_000);
    // A port never hears itself, in any window; it must hear every other port in one of up to
    // five one-second windows, because a machine starved by other work can leave a window with
    // gaps in the mix (the levels then drop for every tone alike, never for one source only).
    const problems = (): string[] => {
      const found: string[] = [];
      receivers.forEach((receiver, own) => {
        const levels = receiver.toneLevels(tones, 1_000);
        process.stdout.write(`port ${own}: ${levels.map((l) => l.toFixed(3)).join(' ')}\n`);
        levels.forEach((level, i) => {
          if (i === own) assert.ok(level < 0.02, `port ${own} hears itself (${level})`);
          else if (level <= 0.05) found.push(`port ${own} misses port ${i}'s tone (${level})`);
        });
      });
      return found;
    };
    let missing: string[] = [];
    for (let window = 0; window < 5; window++) {
      await sleep(window === 0 ? 500 : 1_000);
      missing = problems();
      if (missing.length === 0) break;
    }
    assert.deepEqual(missing, [], 'every port hears every other port');
  } finally {
    for (const receiver of receivers) await receiver.stop();
    await pipeline.release();
    client.close();
  }
});
