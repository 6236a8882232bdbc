import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connectKurento } from '../helpers/kurento.js';
import type { Browser } from 'playwright-core';
import { BrowserPeer, QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { classify, makeQuadrantY4m, mediaDir, type Quadrants } from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

// Quadrant colours that no fake-camera default and no black screen could produce by chance.
const SENT: Quadrants = ['red', 'green', 'blue', 'yellow'];

let engine: EngineProcess;
let browser: Browser;

before(async () => {
  const dir = await mediaDir();
  const camera = await makeQuadrantY4m(path.join(dir, 'camera.y4m'), SENT);
  engine = await startEngineProcess();
  browser = await launchChromium({ fakeVideoFile: camera });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test('a browser camera sent to a WebRtcEndpoint connected to itself comes back with the same picture', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);

    const flowingOut = new Promise<void>((resolve) => {
      endpoint.on('MediaFlowOutStateChanged', (event: { state: string; mediaType: string }) => {
        if (event.state === 'FLOWING' && event.mediaType === 'VIDEO') resolve();
      });
    });
    const peer = await BrowserPeer.open(browser);
    await negotiate(endpoint, peer, { send: true });

    const received = await peer.waitForFrames(30, 15_000);
    assert.equal(received.width, 640);
    assert.equal(received.height, 360);
    await flowingOut;

    const colours = (await peer.sample(QUADRANT_CENTRES)).map(classify);
    assert.deepEqual(colours, [...SENT], 'the echoed picture has the sent quadrants in place');
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});
