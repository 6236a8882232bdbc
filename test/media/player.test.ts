import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connectKurento } from '../helpers/kurento.js';
import type { Browser } from 'playwright-core';
import { BrowserPeer, QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import {
  classify,
  makeQuadrantClip,
  mediaDir,
  type ClipContainer,
  type Quadrants,
} from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

const CASES: Array<{ container: ClipContainer; quadrants: Quadrants }> = [
  { container: 'webm', quadrants: ['blue', 'yellow', 'magenta', 'green'] },
  { container: 'mp4', quadrants: ['cyan', 'red', 'white', 'blue'] },
];

for (const { container, quadrants } of CASES) {
  test(`a ${container} clip played by a PlayerEndpoint reaches a browser with its picture, then EndOfStream`, async () => {
    const clip = await makeQuadrantClip(path.join(dir, `clip.${container}`), quadrants, {
      seconds: 4,
      container,
    });
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      const viewer = await pipeline.create('WebRtcEndpoint');
      await player.connect(viewer);
      const endOfStream = new Promise<number>((resolve) => {
        player.on('EndOfStream', () => resolve(Date.now()));
      });

      const peer = await BrowserPeer.open(browser);
      await negotiate(viewer, peer, { send: false });
      const startedAt = Date.now();
      await player.play();

      await peer.waitForFrames(15, 15_000);
      const colours = (await peer.sample(QUADRANT_CENTRES)).map(classify);
      assert.deepEqual(colours, [...quadrants], 'the clip arrives with its quadrants in place');

      const position = await player.getPosition();
      assert.ok(position > 0 && position < 4_000, `position ${position} ms is inside the clip`);
      const info = await player.getVideoInfo();
      assert.ok(Math.abs(Number(info.duration) - 4_000) < 300, `duration ${info.duration} ms`);

      const endedAt = await endOfStream;
      // The clip lasts 4 s; EndOfStream must come at its end, not at once and not never.
      assert.ok(endedAt - startedAt > 3_000, `EndOfStream after ${endedAt - startedAt} ms`);
      await peer.close();
    } finally {
      await pipeline.release();
      client.close();
    }
  });
}

test('a PlayerEndpoint with a missing file raises an Error event and the pipeline keeps serving', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', {
      uri: `file://${dir}/does-not-exist.webm`,
    });
    const error = new Promise<{ type: string; description: string }>((resolve) => {
      player.on('Error', (event: { type: string; description: string }) => resolve(event));
    });
    await player.play();
    const event = await error;
    assert.equal(event.type, 'RESOURCE_ERROR_OPEN');
    assert.match(event.description, /does-not-exist/);
    // The worker survived: a new element in the same pipeline still works.
    const other = await pipeline.create('WebRtcEndpoint');
    assert.equal(typeof (await other.getName()), 'string');
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a PlayerEndpoint with an undecodable file raises STREAM_ERROR_DECODE instead of crashing', async () => {
  const { writeFile } = await import('node:fs/promises');
  const junk = path.join(dir, 'junk.webm');
  await writeFile(junk, Buffer.alloc(64 * 1024, 0x5a));
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${junk}` });
    const error = new Promise<{ type: string }>((resolve) => {
      player.on('Error', (event: { type: string }) => resolve(event));
    });
    await player.play();
    assert.match((await error).type, /^STREAM_ERROR_/);
    assert.equal(typeof (await player.getName()), 'string');
  } finally {
    await pipeline.release();
    client.close();
  }
});
