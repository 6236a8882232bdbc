import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { streamName, type RtmpOriginEvents } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import { RtmpOrigin } from '../../server/origin/RtmpOrigin.js';
import {
  fragments,
  publishQuadrants,
  spawnTestProcess,
  startMediaStack,
  waitForText,
  type MediaStack,
} from './helpers.js';

type Rejection = RtmpOriginEvents['rejected'][0];
const stream = streamName('assembly-auth');
const KEY = 'stream-key-assembly-auth-01';
let stack: MediaStack;
const rejections: Rejection[] = [];

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, KEY);
  stack.origin.on('rejected', (rejection) => rejections.push(rejection));
});

after(async () => {
  await stack.teardown();
});

const base = (): string => `rtmp://127.0.0.1:${stack.origin.port}`;

for (const [label, url, reason] of [
  ['a wrong key', () => `${base()}/live/${stream}?key=not-the-key-000000000`, 'bad-key'],
  ['no key', () => `${base()}/live/${stream}`, 'bad-key'],
  ['another app', () => `${base()}/other/${stream}?key=${KEY}`, 'wrong-app'],
  ['an unknown stream', () => `${base()}/live/not-registered?key=${KEY}`, 'unknown-stream'],
] as const) {
  test(`a publish with ${label} is rejected and no HLS appears on the edge`, async () => {
    const before = rejections.length;
    const publisher = publishQuadrants(url(), ['red', 'green', 'blue', 'yellow']);
    try {
      const deadline = Date.now() + 5000;
      while (rejections.length === before && Date.now() < deadline) await sleep(50);
      assert.equal(rejections[before]?.kind, 'publish');
      assert.equal(rejections[before]?.reason, reason);
      // Give a wrongly accepted stream the time to reach the edge before looking.
      const exit = await Promise.race([publisher.exited, sleep(3000).then(() => 'running')]);
      assert.notEqual(exit, 0, 'ffmpeg must not finish a refused publish successfully');
      assert.equal(stack.origin.isLive(stream), false);
      assert.equal(existsSync(path.join(stack.edge.prefix, 'hls', stream)), false);
      assert.equal(existsSync(path.join(stack.edge.prefix, 'hls', 'not-registered')), false);
      const playlist = await fetch(stack.edge.playlistUrl(stream));
      assert.equal(playlist.status, 404);
    } finally {
      await publisher.stop();
    }
  });
}

test('playing from the origin without the edge secret is rejected', async () => {
  const before = rejections.length;
  const player = spawnTestProcess('ffmpeg', [
    '-loglevel',
    'error',
    '-rw_timeout',
    '3000000',
    '-i',
    `${base()}/live/${stream}`,
    '-t',
    '1',
    '-f',
    'null',
    '-',
  ]);
  try {
    const deadline = Date.now() + 5000;
    while (rejections.length === before && Date.now() < deadline) await sleep(50);
    assert.equal(rejections[before]?.kind, 'play');
  } finally {
    await player.stop();
  }
});

test('the right key is accepted after the refusals, so the refusals were about the key', async () => {
  const publisher = publishQuadrants(stack.origin.publishUrl(stream), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);
  try {
    const playlist = await waitForText(
      stack.edge.playlistUrl(stream),
      (body) => fragments(body).length > 0,
      10_000,
    );
    assert.match(playlist, /#EXTM3U/);
    assert.equal(stack.origin.isLive(stream), true);
  } finally {
    await publisher.stop();
  }
});

test('refused and rogue publishes while the stream is live leave its playlist untouched', async () => {
  const playlistUrl = stack.edge.playlistUrl(stream);
  const publisher = publishQuadrants(stack.origin.publishUrl(stream), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);
  try {
    const before = await waitForText(playlistUrl, (body) => fragments(body).length >= 3, 15_000);
    // A wrong key, no key, and a second publisher with the right key while the first is live:
    // each is refused, and none of their media (timestamps from 0, as any plain ffmpeg sends)
    // may reach the stream.
    for (const url of [
      `${base()}/live/${stream}?key=not-the-key-000000000`,
      `${base()}/live/${stream}`,
      stack.origin.publishUrl(stream),
    ]) {
      const rogue = publishQuadrants(url, ['white', 'white', 'white', 'white'], { plain: true });
      await Promise.race([rogue.exited, sleep(3000)]);
      await rogue.stop();
    }
    const after = await waitForText(
      playlistUrl,
      (body) => fragments(body).length >= fragments(before).length + 3,
      15_000,
    );
    assert.equal(stack.origin.isLive(stream), true, 'the live stream went on');
    // Everything after the first fragment is one continuous timeline of whole GOPs: no
    // discontinuity and no sliver of a fragment cut by foreign timestamps.
    const body = after.slice(after.indexOf('#EXTINF'));
    const discontinuities = body.match(/#EXT-X-DISCONTINUITY/g)?.length ?? 0;
    assert.equal(discontinuities, 0, `the playlist was cut:\n${after}`);
    const durations = [...after.matchAll(/#EXTINF:([0-9.]+),/g)].map((m) => Number(m[1]));
    for (const duration of durations.slice(0, -1)) {
      assert.ok(duration >= 0.8, `a fragment of ${duration} s appeared:\n${after}`);
    }
  } finally {
    await publisher.stop();
  }
});

test('an edge rejects a push without the edge secret', async () => {
  const publisher = publishQuadrants(
    `${stack.edge.ingestUrl}/intruder?secret=wrong-secret-000000000`,
    ['red', 'green', 'blue', 'yellow'],
  );
  try {
    const exit = await Promise.race([publisher.exited, sleep(4000).then(() => 'running')]);
    assert.notEqual(exit, 0);
    assert.equal(existsSync(path.join(stack.edge.prefix, 'hls', 'intruder')), false);
  } finally {
    await publisher.stop();
  }
});

test('a second origin in the same process is refused', async () => {
  const second = new RtmpOrigin({
    port: await freePort(),
    edgeSecret: 'another-secret-0123456789',
  });
  await assert.rejects(second.start(), /already running/);
});
