/**
 * ABR on the real pipeline: the app's origin with its 360p encoder, a real nginx-rtmp edge, a
 * test program on the program clock, and the real /watch page (hls.js on the multivariant
 * playlist) in Chromium. Chromium's network emulation (CDP) throttles the page below the 720p
 * bandwidth: hls.js moves to 360p (its fragment requests, and the decoded frame size, say so)
 * and back to 720p when the throttle is lifted; the picture is the program's throughout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { EDGE_SECRET, fragments, readPlaylist, waitForText } from '../edge/helpers.js';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { freePort } from '../helpers/engineProcess.js';
import { classify } from '../helpers/media.js';
import { sampleVideo } from '../helpers/pixels.js';
import { startDelivered, type Delivered } from './deliveryFixture.js';
import { TestEdge } from './TestEdge.js';

let dataDir: string;
let edge: TestEdge;
let delivered: Delivered;
let browser: Browser | undefined;
let page: Page;
let cdp: CDPSession;
/** Every fragment the page requested: which rendition, when. */
const requests: Array<{ rendition: '720p' | '360p'; at: number }> = [];

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'montage-abr-'));
  edge = await TestEdge.start({
    prefix: path.join(dataDir, 'edge'),
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
  });
  delivered = await startDelivered({ dataDir, edges: [{ id: 'e1', edge }] });
});

after(async () => {
  await browser?.close();
  await delivered?.teardown();
  await edge?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function frameSize(): Promise<string> {
  return page.evaluate(() => {
    const video = document.querySelector('video');
    return video === null ? '' : `${video.videoWidth}x${video.videoHeight}`;
  });
}

/** Waits until the page decodes frames of `size` and requests only `rendition` fragments. */
async function waitForRendition(size: string, rendition: '720p' | '360p'): Promise<void> {
  const deadline = Date.now() + 90_000;
  let seen = '';
  for (;;) {
    seen = await frameSize();
    const recent = requests.slice(-3);
    if (seen === size && recent.length === 3 && recent.every((r) => r.rendition === rendition)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `still ${seen} after 90 s; last fragments ${JSON.stringify(requests.slice(-6))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function quadrants(): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = (await sampleVideo(page, 'video', QUADRANT_CENTRES).catch(() => [])).map(classify);
    if (seen.join() === 'red,green,blue,yellow') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return seen;
}

test('both renditions reach the edge cut into the same fragments', async () => {
  const id = delivered.assemblyId;
  const history = (stream: string): Promise<string> =>
    waitForText(edge.hlsUrl(stream, 'history.m3u8'), (body) => fragments(body).length >= 4, 30_000);
  const source = fragments(await history(id));
  const low = fragments(await history(`${id}_360p`));
  // Fragments are named by their start timestamp: the 360p ones are a run of the source's.
  const shared = low.filter((name) => source.includes(name));
  assert.ok(shared.length >= 3, `source ${source.join(' ')} / 360p ${low.join(' ')}`);
  assert.deepEqual(shared, low.slice(low.indexOf(shared[0] ?? '')).slice(0, shared.length));
});

test('hls.js moves to 360p when the page is throttled, and back to 720p after', async () => {
  browser = await launchChromium();
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('request', (request) => {
    const match = /\/hls\/s\/\d+\/[A-Za-z0-9_-]{22}\/[A-Za-z0-9_-]+?(_360p)?\/\d+\.ts$/.exec(
      request.url(),
    );
    if (match !== null) {
      requests.push({ rendition: match[1] === undefined ? '720p' : '360p', at: Date.now() });
    }
  });
  cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await page.goto(delivered.watchUrl());
  await waitForRendition('1280x720', '720p');
  assert.deepEqual(await quadrants(), ['red', 'green', 'blue', 'yellow']);

  // About 1.1 Mbit/s: well below the 720p variant (1.8 Mbit/s on average), above the 360p one.
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 20,
    downloadThroughput: 1_100_000 / 8,
    uploadThroughput: 1_000_000 / 8,
  });
  const throttledAt = Date.now();
  await waitForRendition('640x360', '360p');
  console.log(`throttled → 360p decoded after ${Date.now() - throttledAt} ms`);
  assert.deepEqual(await quadrants(), ['red', 'green', 'blue', 'yellow']);

  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  const liftedAt = Date.now();
  await waitForRendition('1280x720', '720p');
  console.log(`throttle lifted → 720p decoded after ${Date.now() - liftedAt} ms`);
  assert.deepEqual(await quadrants(), ['red', 'green', 'blue', 'yellow']);
});

/** The live indicator as the page shows it, and the target duration of the playlist it plays. */
async function liveState(): Promise<{
  text: string;
  live: string;
  behind: number;
  target: number;
}> {
  return page.evaluate(() => {
    const indicator = document.querySelector<HTMLElement>('#live-indicator');
    return {
      text: indicator?.textContent ?? '',
      live: indicator?.dataset.live ?? '',
      behind: Number(indicator?.dataset.behind ?? 'NaN'),
      target: Number(indicator?.dataset.target ?? 'NaN'),
    };
  });
}

test('rewinding before the live window plays the history playlist from the same moment, Go live returns', async () => {
  const playlistRequests: string[] = [];
  page.on('request', (request) => {
    const match = /\/hls\/(live|history)\.m3u8\?/.exec(request.url());
    if (match?.[1] !== undefined) playlistRequests.push(match[1]);
  });
  const liveButton = page.locator('#live-indicator');
  // A late viewer: 30 s back must reach before what its page holds. The page above has played
  // (and kept, in its back buffer) the program from its start, so a reload opens it afresh once
  // the assembly is old enough for 30 s back to be inside the history.
  await waitForText(
    edge.hlsUrl(delivered.assemblyId, 'history.m3u8'),
    (body) =>
      readPlaylist(body).segments.reduce((sum, segment) => sum + segment.durationMs, 0) >= 40_000,
    90_000,
  );
  await page.reload();
  await page.waitForFunction(
    () => document.querySelector<HTMLElement>('#live-indicator')?.dataset.live === 'true',
    null,
    { timeout: 30_000 },
  );
  if (process.env.SCREENSHOTS !== undefined) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'watch-live.png') });
  }
  await page.click('#rewind');
  await page.waitForFunction(
    () => document.querySelector('video')?.dataset.playlist === 'history',
    null,
    { timeout: 10_000 },
  );
  assert.ok(playlistRequests.includes('history'), JSON.stringify(playlistRequests));
  // 30 s back from live, where the history playlist starts playing again.
  await page
    .waitForFunction(
      () =>
        /^(2[5-9]|3\d) s behind · Go live/.test(
          document.querySelector('#live-indicator')?.textContent ?? '',
        ),
      null,
      { timeout: 30_000 },
    )
    .catch(async (error: unknown) => {
      const state = await page.evaluate(() => {
        const video = document.querySelector('video');
        const seekable = video?.seekable;
        return {
          indicator: document.querySelector('#live-indicator')?.textContent,
          currentTime: video?.currentTime,
          seekable:
            seekable === undefined || seekable.length === 0
              ? []
              : [seekable.start(0), seekable.end(seekable.length - 1)],
          overlay: document.body.innerText.slice(0, 200),
        };
      });
      throw new Error(`${String(error)}: ${JSON.stringify(state)}`);
    });
  await page.waitForFunction(() => (document.querySelector('video')?.paused ?? true) === false);
  assert.deepEqual(await quadrants(), ['red', 'green', 'blue', 'yellow']);
  if (process.env.SCREENSHOTS !== undefined) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'watch-history.png') });
  }
  // Measured by program date: the playlist's newest EXT-X-PROGRAM-DATE-TIME (plus its fragment)
  // minus the date on screen, which a rewind of 30 s leaves about 30 s behind.
  const rewound = await liveState();
  assert.equal(rewound.live, 'false');
  assert.ok(rewound.behind >= 25 && rewound.behind <= 40, JSON.stringify(rewound));
  await liveButton.click();
  await page.waitForFunction(
    () =>
      document.querySelector('video')?.dataset.playlist === 'live' &&
      document.querySelector<HTMLElement>('#live-indicator')?.dataset.live === 'true',
    null,
    { timeout: 30_000 },
  );
  assert.deepEqual(await quadrants(), ['red', 'green', 'blue', 'yellow']);
  // LIVE only within two target durations of the live edge, by the page's own measure and by the
  // playlist's: the indicator's distance is what hls.js's program dates say.
  const live = await liveState();
  assert.equal(live.text, '● LIVE');
  assert.ok(live.behind <= 2 * live.target, JSON.stringify(live));
  if (process.env.SCREENSHOTS !== undefined) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'watch-back-live.png') });
  }
});
