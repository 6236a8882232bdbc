import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { ProgramBridge } from '../../server/bridge/ProgramBridge.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { launchChromium } from '../helpers/browser.js';
import type { Quadrants } from '../helpers/media.js';
import {
  currentTime,
  fragments,
  freeEvenPorts,
  playInPage,
  sendRtpQuadrants,
  startMediaStack,
  startWatchPage,
  waitForQuadrants,
  waitForText,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const QUADRANTS: Quadrants = ['magenta', 'cyan', 'yellow', 'blue'];
const stream = streamName('assembly-bridge');
let stack: MediaStack;
let bridge: ProgramBridge;
let source: TestProcess | undefined;
let browser: Browser | undefined;
let watch: { url: string; close(): Promise<void> } | undefined;

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, 'stream-key-assembly-bridge-1');
  const [videoPort = 0, audioPort = 0] = await freeEvenPorts(2);
  bridge = new ProgramBridge({
    name: stream,
    rtp: { videoPort, audioPort },
    publishUrl: stack.origin.publishUrl(stream),
    restartDelayMs: 200,
  });
});

after(async () => {
  await bridge.stop();
  await source?.stop();
  await browser?.close();
  await watch?.close();
  await stack.teardown();
});

test('RTP H.264 + Opus through the bridge plays from the edge with the right picture', async () => {
  const sdp = bridge.sdp();
  assert.match(sdp, /m=video \d+ RTP\/AVP 96/);
  assert.match(sdp, /a=rtpmap:97 opus\/48000\/2/);
  await bridge.start();
  const videoPort = Number(/m=video (\d+)/.exec(sdp)?.[1]);
  const audioPort = Number(/m=audio (\d+)/.exec(sdp)?.[1]);
  // Give ffmpeg a moment to bind its RTP ports, as the engine would start sending later.
  await sleep(300);
  source = sendRtpQuadrants(QUADRANTS, { videoPort, audioPort });
  const running = new Promise<void>((resolve) => bridge.once('running', () => resolve()));
  await Promise.race([
    running,
    sleep(15_000).then(() => {
      throw new Error(`bridge never ran: ${bridge.lastError} / ${source?.stderr() ?? ''}`);
    }),
  ]);
  assert.equal(bridge.state, 'running');
  const playlistUrl = stack.edge.playlistUrl(stream);
  await waitForText(playlistUrl, (body) => fragments(body).length > 0, 15_000);
  watch = await startWatchPage();
  browser = await launchChromium();
  const { page } = await playInPage(browser, watch.url, playlistUrl);
  assert.deepEqual(await waitForQuadrants(page, QUADRANTS), [...QUADRANTS]);
  const fragment = await fetch(
    new URL(fragments(await (await fetch(playlistUrl)).text())[0] ?? '', playlistUrl),
  );
  assert.equal(fragment.status, 200);
});

test('a killed bridge ffmpeg is restarted and the edge keeps adding fragments', async () => {
  const playlistUrl = stack.edge.playlistUrl(stream);
  const pid = bridge.pid;
  assert.ok(pid !== undefined);
  const exited = new Promise<void>((resolve) => bridge.once('exited', () => resolve()));
  const runningAgain = new Promise<void>((resolve) => bridge.once('running', () => resolve()));
  process.kill(pid, 'SIGKILL');
  await exited;
  const listedAtKill = fragments(await (await fetch(playlistUrl)).text());
  const countAtKill = listedAtKill.length;
  await Promise.race([
    runningAgain,
    sleep(15_000).then(() => {
      throw new Error(`bridge did not come back: ${bridge.lastError}`);
    }),
  ]);
  assert.notEqual(bridge.pid, pid);
  assert.equal(bridge.restarts, 1);
  const playlist = await waitForText(
    playlistUrl,
    (body) => fragments(body).length >= countAtKill + 4,
    15_000,
  );
  assert.equal(fragments(playlist)[0], listedAtKill[0], 'the restart continued the same playlist');
  assert.equal(stack.origin.isLive(stream), true);
  const page = browser?.contexts()[0]?.pages()[0];
  assert.ok(page !== undefined);
  const before = await currentTime(page);
  await sleep(2000);
  assert.ok((await currentTime(page)) > before, 'the viewer keeps playing across the restart');
  assert.deepEqual(await waitForQuadrants(page, QUADRANTS), [...QUADRANTS]);
});

test('a new RTP source on the same ports (a rebuilt pipeline) is taken by the running ffmpeg, without a restart', async () => {
  const page = browser?.contexts()[0]?.pages()[0];
  assert.ok(page !== undefined && source !== undefined);
  const sdp = bridge.sdp();
  const videoPort = Number(/m=video (\d+)/.exec(sdp)?.[1]);
  const audioPort = Number(/m=audio (\d+)/.exec(sdp)?.[1]);
  const restarts = bridge.restarts;
  const pid = bridge.pid;
  // The old sender stops and a new one starts with its own SSRCs, sequence numbers and
  // timestamps, as a new RtpEndpoint does after a worker crash or a media server restart.
  await source.stop();
  const NEW: Quadrants = ['green', 'red', 'white', 'magenta'];
  source = sendRtpQuadrants(NEW, { videoPort, audioPort });
  assert.deepEqual(await waitForQuadrants(page, NEW, 30_000), [...NEW]);
  assert.equal(bridge.restarts, restarts, 'ffmpeg was not restarted');
  assert.equal(bridge.pid, pid);
});
