import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { probeEdge } from '../../server/edges/probeEdge.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { launchChromium } from '../helpers/browser.js';
import type { Quadrants } from '../helpers/media.js';
import {
  fragments,
  playInPage,
  publishQuadrants,
  SIGNED_HLS_PATH,
  startMediaStack,
  startWatchPage,
  waitForQuadrants,
  waitForText,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const QUADRANTS: Quadrants = ['red', 'green', 'blue', 'yellow'];
const stream = streamName('assembly-hls');
let stack: MediaStack;
let browser: Browser | undefined;
let watch: { url: string; close(): Promise<void> } | undefined;
let publisher: TestProcess | undefined;
let publishStartedAt = 0;
/** The stream's first fragment, named by its timestamp. */
let firstFragment = '';

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, 'stream-key-assembly-hls-0001');
});

after(async () => {
  await publisher?.stop();
  await browser?.close();
  await watch?.close();
  await stack.teardown();
});

test('a stream published to the origin with its key plays from the edge in hls.js', async () => {
  const started = new Promise<number>((resolve) =>
    stack.origin.once('publishStarted', () => resolve(Date.now())),
  );
  const spawnedAt = Date.now();
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS);
  publishStartedAt = await started;
  const playlistUrl = stack.edge.playlistUrl(stream);
  const playlist = await waitForText(playlistUrl, (body) => fragments(body).length > 0, 10_000);
  const playlistAt = Date.now();
  assert.match(playlist, /#EXT-X-PLAYLIST-TYPE: ?EVENT/);
  firstFragment = fragments(playlist)[0] ?? '';

  watch = await startWatchPage();
  browser = await launchChromium();
  const { page, firstFrameMs } = await playInPage(browser, watch.url, playlistUrl);
  const seen = await waitForQuadrants(page, QUADRANTS);
  assert.deepEqual(seen, [...QUADRANTS]);
  const frameAt = Date.now();
  console.log(
    `timing: ffmpeg spawn → origin publish ${publishStartedAt - spawnedAt} ms; ` +
      `publish → first playlist ${playlistAt - publishStartedAt} ms; ` +
      `hls.js play() → first frame ${Math.round(firstFrameMs)} ms; ` +
      `publish → quadrants seen ${frameAt - publishStartedAt} ms`,
  );
  const errors = await page.evaluate(
    () => (window as unknown as { hlsErrors: string[] }).hlsErrors,
  );
  assert.ok(!errors.some((error) => error.endsWith('(fatal)')), errors.join(', '));
});

test('the edge serves playlists uncached and fragments cacheable, both with CORS', async () => {
  const playlistUrl = stack.edge.playlistUrl(stream);
  const playlist = await fetch(playlistUrl);
  assert.equal(playlist.status, 200);
  assert.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  assert.equal(playlist.headers.get('cache-control'), 'no-cache');
  assert.equal(playlist.headers.get('access-control-allow-origin'), '*');
  const first = fragments(await playlist.text())[0];
  assert.ok(first !== undefined);
  const fragment = await fetch(new URL(first, playlistUrl));
  assert.equal(fragment.status, 200);
  assert.equal(fragment.headers.get('content-type'), 'video/mp2t');
  assert.match(fragment.headers.get('cache-control') ?? '', /max-age=\d+/);
  assert.equal(fragment.headers.get('access-control-allow-origin'), '*');
  const other = await fetch(`${stack.edge.httpUrl}/nginx.conf`);
  assert.equal(other.status, 404, 'the edge must not serve its config (it holds the secret)');
});

test('/stat shows the stream with its publishing client', async () => {
  const probe = await probeEdge(stack.edge.httpUrl, { stream, hlsPath: SIGNED_HLS_PATH });
  assert.equal(probe.healthy, true, probe.error);
  const stat = probe.streams.find((entry) => entry.name === stream);
  assert.ok(stat !== undefined, `stream missing from /stat: ${JSON.stringify(probe.streams)}`);
  assert.equal(stat.publishing, true);
  assert.ok(stat.clients >= 1, `clients: ${stat.clients}`);
  assert.ok(stat.bytesIn > 0);
  assert.equal(typeof probe.httpConnections, 'number');
  assert.ok(probe.hls?.ok);
  const down = await probeEdge('http://127.0.0.1:9', { timeoutMs: 1000 });
  assert.equal(down.healthy, false);
});

test('the playlist is EVENT and still lists its first fragment after 20 s', async () => {
  const elapsed = Date.now() - publishStartedAt;
  if (elapsed < 21_000) await sleep(21_000 - elapsed);
  const playlistUrl = stack.edge.playlistUrl(stream);
  const playlist = await (await fetch(playlistUrl)).text();
  assert.match(playlist, /#EXT-X-PLAYLIST-TYPE: ?EVENT/);
  assert.match(playlist, /#EXT-X-MEDIA-SEQUENCE:0\n/);
  const listed = fragments(playlist);
  assert.equal(listed[0], firstFragment, 'the first fragment must stay listed for late viewers');
  assert.ok(listed.length >= 18, `only ${listed.length} fragments after 20 s`);
  const first = await fetch(new URL(firstFragment, playlistUrl));
  assert.equal(first.status, 200);
  const bytes = new Uint8Array(await first.arrayBuffer());
  assert.equal(bytes[0], 0x47, 'the first fragment is an MPEG-TS file');
});
