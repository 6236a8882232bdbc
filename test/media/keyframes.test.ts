import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { BrowserPeer, type VideoRtpStats } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { makeQuadrantClip, makeQuadrantY4m, mediaDir } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

// How long the viewer's decoder is starved or fed garbage (see BrowserPeer.loseVideoFrames).
const LOSS_MS = 1_500;

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  const camera = await makeQuadrantY4m(path.join(dir, 'camera.y4m'), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);
  engine = await startEngineProcess();
  browser = await launchChromium({ fakeVideoFile: camera });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `read` every 50 ms until `done` holds; resolves with the value and when it held. */
async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<{ value: T; at: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return { value, at: Date.now() };
    if (Date.now() > deadline) {
      throw new Error(`${what} not within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    }
    await sleep(50);
  }
}

async function inbound(peer: BrowserPeer): Promise<VideoRtpStats> {
  const { inbound: stats } = await peer.stats();
  assert.ok(stats !== null, 'the viewer receives video');
  return stats;
}

async function outbound(peer: BrowserPeer): Promise<VideoRtpStats> {
  const { outbound: stats } = await peer.stats();
  assert.ok(stats !== null, 'the publisher sends video');
  return stats;
}

test('a PLI from a viewer of a passed-through browser stream reaches the publisher and the viewer recovers', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const publisher = await BrowserPeer.open(browser);
  const viewer = await BrowserPeer.open(browser);
  try {
    const source = await pipeline.create('WebRtcEndpoint');
    const sink = await pipeline.create('WebRtcEndpoint');
    await source.connect(sink);
    await negotiate(source, publisher, { send: true, videoCodec: 'VP8' });
    await negotiate(sink, viewer, { send: false, frameDropping: true, videoCodec: 'VP8' });
    await viewer.waitForFrames(30, 15_000);
    // Let the keyframe requests of the connection itself settle before counting.
    await sleep(1_000);

    const sent = await outbound(publisher);
    const seen = await inbound(viewer);
    // Dropped frames make Chromium send a PLI when it has decoded nothing for 3 s, about
    // 1.5 s after the drop. Chromium's VP8 encoder makes keyframes only when asked, so the
    // viewer recovers only if that PLI reaches the publisher.
    const dropped = await viewer.loseVideoFrames(LOSS_MS, 'drop');
    assert.ok(dropped > 10, `${dropped} frames were withheld from the decoder`);

    await waitFor(
      () => outbound(publisher),
      (now) => now.pliCount + now.firCount > sent.pliCount + sent.firCount,
      3_000,
      'a keyframe request at the publisher',
    );
    const recovered = await waitFor(
      () => inbound(viewer),
      (now) => now.keyFrames > seen.keyFrames && now.frames >= seen.frames + 15,
      3_000,
      'a new keyframe and frames at the viewer',
    );
    assert.ok(
      (await outbound(publisher)).keyFrames > sent.keyFrames,
      'the publisher sent a keyframe',
    );
    assert.ok(
      recovered.value.pliCount + recovered.value.firCount > seen.pliCount + seen.firCount,
      'the request came from the viewer',
    );
  } finally {
    await viewer.close();
    await publisher.close();
    await pipeline.release();
    client.close();
  }
});

test('a PLI from a viewer of a player makes the shared encoder send a keyframe at once', async () => {
  const clip = await makeQuadrantClip(
    path.join(dir, 'clip.webm'),
    ['blue', 'yellow', 'magenta', 'green'],
    {
      seconds: 20,
      container: 'webm',
    },
  );
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const viewer = await BrowserPeer.open(browser);
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const sink = await pipeline.create('WebRtcEndpoint');
    await player.connect(sink);
    await negotiate(sink, viewer, { send: false, frameDropping: true, videoCodec: 'VP8' });
    await player.play();
    await viewer.waitForFrames(30, 15_000);
    await sleep(500);

    // Garbage makes the decoder fail, and Chromium then asks for a keyframe at once and every
    // 200 ms until one decodes; the keyframes answering requests sent during the loss are
    // spoilt too, so recovery needs the requests after it answered quickly. The encoder also
    // makes a keyframe every 2 s by itself: a few rounds keep a lucky one from passing.
    for (let round = 0; round < 3; round += 1) {
      const seen = await inbound(viewer);
      await viewer.loseVideoFrames(LOSS_MS, 'corrupt');
      const lossEnded = Date.now();
      const recovered = await waitFor(
        () => inbound(viewer),
        (now) => now.keyFrames > seen.keyFrames && now.frames > seen.frames,
        3_000,
        'a keyframe at the viewer',
      );
      const delay = recovered.at - lossEnded;
      assert.ok(delay < 800, `round ${round}: keyframe decoded ${delay} ms after the loss`);
      assert.ok(
        recovered.value.pliCount + recovered.value.firCount > seen.pliCount + seen.firCount,
        'the viewer asked for it',
      );
      await waitFor(
        () => inbound(viewer),
        (now) => now.frames >= recovered.value.frames + 10,
        2_000,
        'frames after the keyframe',
      );
    }
  } finally {
    await viewer.close();
    await pipeline.release();
    client.close();
  }
});
