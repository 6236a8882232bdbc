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
  // The clips are served over HTTP from this machine: loopback, which players refuse unless listed.
  engine = await startEngineProcess({ KMS_PLAYER_ALLOWED_HOSTS: '127.0.0.1' });
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

/**
 * Serves one file over HTTP on loopback with byte ranges, as a web server hosting school videos
 * would, so that the player's http:// path (souphttpsrc) is exercised for real.
 */
async function serveFile(file: string): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const { createReadStream, statSync } = await import('node:fs');
  const size = statSync(file).size;
  const server = createServer((request, response) => {
    if (request.url !== `/${path.basename(file)}`) {
      response.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : size - 1;
      response.writeHead(206, {
        'content-type': 'video/webm',
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${size}`,
        'accept-ranges': 'bytes',
      });
      createReadStream(file, { start, end }).pipe(response);
    } else {
      response.writeHead(200, {
        'content-type': 'video/webm',
        'content-length': size,
        'accept-ranges': 'bytes',
      });
      createReadStream(file).pipe(response);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/${path.basename(file)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('an http:// clip plays from a PlayerEndpoint with its picture, and a 404 is RESOURCE_ERROR_OPEN', async () => {
  const quadrants: Quadrants = ['magenta', 'cyan', 'yellow', 'red'];
  const clip = await makeQuadrantClip(path.join(dir, 'http-clip.webm'), quadrants, {
    seconds: 4,
    container: 'webm',
  });
  const http = await serveFile(clip);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: http.url });
    const viewer = await pipeline.create('WebRtcEndpoint');
    await player.connect(viewer);
    const endOfStream = new Promise<void>((resolve) => {
      player.on('EndOfStream', () => resolve());
    });
    const peer = await BrowserPeer.open(browser);
    await negotiate(viewer, peer, { send: false });
    await player.play();
    await peer.waitForFrames(15, 15_000);
    assert.deepEqual((await peer.sample(QUADRANT_CENTRES)).map(classify), [...quadrants]);
    await endOfStream;
    await peer.close();

    const missing = await pipeline.create('PlayerEndpoint', { uri: `${http.url}.missing` });
    const error = new Promise<{ type: string; description: string }>((resolve) => {
      missing.on('Error', (event: { type: string; description: string }) => resolve(event));
    });
    await missing.play();
    const event = await error;
    assert.equal(event.type, 'RESOURCE_ERROR_OPEN');
    assert.match(event.description, /\.missing/);
  } finally {
    await pipeline.release();
    client.close();
    await http.close();
  }
});
