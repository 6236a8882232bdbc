/**
 * A browser's camera and microphone recorded from its WebRtcEndpoint. The Opus that the endpoint
 * depayloads once had no rate in its caps; the WebM and Matroska muxers refused it, and the
 * not-negotiated error went back up to the endpoint's ICE source, which stopped the whole
 * endpoint: the browser's stream died the moment it was recorded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { BrowserPeer, QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { classify, makeQuadrantY4m, mediaDir, type Quadrants } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

const run = promisify(execFile);

const CAMERA: Quadrants = ['green', 'magenta', 'blue', 'yellow'];

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  browser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'camera.y4m'), CAMERA),
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

/** Codec names of the file's streams, sorted; the whole file must decode without error. */
async function decodedCodecs(file: string): Promise<string[]> {
  await run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file],
  ]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .sort();
}

const PROFILES = [
  { profile: 'WEBM', extension: 'webm', codecs: ['opus', 'vp8'] },
  { profile: 'MKV', extension: 'mkv', codecs: ['h264', 'opus'] },
  { profile: 'MP4', extension: 'mp4', codecs: ['aac', 'h264'] },
] as const;

for (const { profile, extension, codecs } of PROFILES) {
  test(`a browser's loopback recorded as ${profile} keeps coming back, and the file holds its video and audio`, async () => {
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    const file = path.join(dir, `browser.${extension}`);
    try {
      const endpoint = await pipeline.create('WebRtcEndpoint');
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `file://${file}`,
        mediaProfile: profile,
      });
      await endpoint.connect(endpoint);
      await endpoint.connect(recorder);
      await recorder.record();
      const peer = await BrowserPeer.open(browser);
      await negotiate(endpoint, peer, { send: true });

      // 90 frames (3 s at 30 fps) after the first 30: the echo outlives the recording's start.
      const first = await peer.waitForFrames(30, 30_000);
      await peer.waitForFrames(first.frames + 90, 30_000);
      assert.deepEqual((await peer.sample(QUADRANT_CENTRES)).map(classify), [...CAMERA]);
      await recorder.stopAndWait();
      await peer.close();

      assert.deepEqual(await decodedCodecs(file), [...codecs]);
    } finally {
      await pipeline.release();
      client.close();
    }
  });
}
