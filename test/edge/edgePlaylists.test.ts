/**
 * The edge's playlists on real media: ffmpeg publishes through the real origin
 * (node-media-server) to a real nginx-rtmp edge, whose playlist agent writes live.m3u8 and
 * history.m3u8. Covers the program-clock dates, the live window, gzip, A/V alignment in the
 * fragments, publisher restarts that continue the clock or send it back, the agent's restart
 * after a crash, the end of a stream and the retention rule.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import type { Quadrants } from '../helpers/media.js';
import {
  agentProcesses,
  publishQuadrants,
  readPlaylist,
  startMediaStack,
  waitForText,
  type ListedSegment,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const run = promisify(execFile);
const stream = streamName('assembly-playlists');
const WINDOW = 4;
const QUADRANTS: Quadrants = ['red', 'green', 'blue', 'yellow'];
let stack: MediaStack;
let publisher: TestProcess | undefined;

function url(file: string): string {
  return stack.edge.hlsUrl(stream, file);
}

async function playlist(
  file: 'live.m3u8' | 'history.m3u8',
): Promise<ReturnType<typeof readPlaylist>> {
  const response = await fetch(url(file));
  assert.equal(response.status, 200, file);
  return readPlaylist(await response.text());
}

/** Waits until history.m3u8 lists `count` fragments more than `after`; returns its segments. */
async function waitForFragments(count: number, after = 0): Promise<ListedSegment[]> {
  const body = await waitForText(
    url('history.m3u8'),
    (text) => readPlaylist(text).segments.length >= after + count,
    30_000,
  );
  return readPlaylist(body).segments;
}

/** A GET without decompression, as nginx sends it. */
function rawGet(
  target: string,
  headers: Record<string, string>,
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}> {
  return new Promise((resolve, reject) => {
    const req = request(target, { headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
        }),
      );
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Checks that dates never go back except at a discontinuity, and that no fragment overlaps the
 * next: a gap between publishes (an edge-side restart of the push) may leave a date jump.
 */
function assertDatesGoForward(segments: readonly ListedSegment[]): void {
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1];
    const current = segments[i];
    assert.ok(
      previous?.dateMs !== undefined && current?.dateMs !== undefined,
      'a date on every segment',
    );
    if (current.discontinuity) continue;
    assert.ok(
      current.dateMs >= previous.dateMs + previous.durationMs,
      `${current.name} starts after ${previous.name} ends`,
    );
  }
}

/** The fragments of a publish whose clock started at `clockMs` (and did not go back). */
function publishedSince(segments: readonly ListedSegment[], clockMs: number): ListedSegment[] {
  const first = segments.findIndex((segment) => (segment.dateMs ?? 0) >= clockMs);
  return first < 0 ? [] : segments.slice(first);
}

/** Checks that consecutive dates advance by exactly the EXTINF between discontinuities. */
function assertTimelineMatchesDates(segments: readonly ListedSegment[]): void {
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1];
    const current = segments[i];
    assert.ok(
      previous?.dateMs !== undefined && current?.dateMs !== undefined,
      'a date on every segment',
    );
    if (current.discontinuity) continue;
    assert.equal(
      current.dateMs - previous.dateMs,
      previous.durationMs,
      `${previous.name} lasts until ${current.name} starts`,
    );
  }
}

before(async () => {
  // A short grace on the origin, so that a test can end a stream and start it again quickly.
  stack = await startMediaStack({ liveWindow: WINDOW }, { publishGraceMs: 1000 });
  stack.origin.allowStream(stream, 'stream-key-assembly-playlists');
  // Two streams of earlier assemblies: one ended 49 h ago, beyond the 48 h retention, one 20 h
  // ago. The agent of the stream published below applies the rule when it starts.
  const hls = path.join(stack.edge.prefix, 'hls');
  for (const [name, hours] of [
    ['assembly-old', 49],
    ['assembly-recent', 20],
  ] as const) {
    await mkdir(path.join(hls, name));
    const when = new Date(Date.now() - hours * 3_600_000);
    for (const file of ['index.m3u8', 'history.m3u8', 'live.m3u8', '1234.ts']) {
      await writeFile(path.join(hls, name, file), '#EXTM3U\n');
      await utimes(path.join(hls, name, file), when, when);
    }
  }
});

after(async () => {
  await publisher?.stop();
  await stack.teardown();
});

test('live.m3u8 and history.m3u8 list the fragments with dates from the program clock', async () => {
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS);
  await waitForText(url('live.m3u8'), (text) => readPlaylist(text).segments.length > 0, 20_000);
  // Each new fragment, when it appears, ends about now: the publisher stamped its media with
  // the wall clock, the origin and the edge kept the timestamps, the agent turned them into
  // dates, and it took less than a second.
  const lags: number[] = [];
  let last = '';
  while (lags.length < 6) {
    const { segments } = await playlist('live.m3u8');
    const newest = segments.at(-1);
    if (newest !== undefined && newest.name !== last && newest.dateMs !== undefined) {
      if (last !== '') lags.push(Date.now() - (newest.dateMs + newest.durationMs));
      last = newest.name;
    }
    await sleep(20);
  }
  lags.sort((a, b) => a - b);
  const median = lags[Math.floor(lags.length / 2)] ?? Number.NaN;
  console.log(`fragment end → seen by a player: ${lags.map((lag) => `${lag} ms`).join(', ')}`);
  assert.ok(Math.abs(median) < 1000, `median lag ${median} ms`);

  const history = await playlist('history.m3u8');
  const live = await playlist('live.m3u8');
  assert.equal(history.tags.get('EXT-X-PLAYLIST-TYPE'), 'EVENT');
  assert.equal(history.tags.get('EXT-X-MEDIA-SEQUENCE'), '0');
  assert.equal(live.tags.has('EXT-X-PLAYLIST-TYPE'), false);
  assert.equal(live.tags.get('EXT-X-TARGETDURATION'), '1');
  assert.equal(live.segments.length, WINDOW);
  // The live window is the end of the history, numbered as there.
  const sequence = Number(live.tags.get('EXT-X-MEDIA-SEQUENCE'));
  assert.deepEqual(live.segments, history.segments.slice(sequence, sequence + WINDOW));
  assert.ok(history.segments.length >= sequence + WINDOW - 1);
  assertTimelineMatchesDates(history.segments);
  // nginx-rtmp names fragments by their timestamp: name / 90 is the program timestamp.
  for (const segment of history.segments) {
    const timestamp = Number(segment.name.replace('.ts', '')) / 90;
    assert.equal((segment.dateMs ?? 0) % 2 ** 31, timestamp, segment.name);
  }
});

test('playlists are served uncached with CORS, gzipped to clients that accept it', async () => {
  for (const file of ['live.m3u8', 'history.m3u8']) {
    const zipped = await rawGet(url(file), { 'accept-encoding': 'gzip' });
    const plain = await rawGet(url(file), {});
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers['content-encoding'], 'gzip', file);
    assert.equal(zipped.headers['content-type'], 'application/vnd.apple.mpegurl');
    assert.equal(zipped.headers['cache-control'], 'no-cache');
    assert.equal(zipped.headers['access-control-allow-origin'], '*');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers['access-control-allow-origin'], '*');
    // The twin is the same playlist (or, if a fragment arrived in between, a later one).
    const unzipped = gunzipSync(zipped.body).toString();
    assert.ok(unzipped.startsWith('#EXTM3U\n'));
    assert.ok(zipped.body.length < plain.body.length, `${file} is smaller gzipped`);
  }
  // nginx-rtmp's own playlist, which has no twin, is compressed on the fly.
  await waitForText(url('index.m3u8'), (text) => text.length > 600, 30_000);
  const index = await rawGet(url('index.m3u8'), { 'accept-encoding': 'gzip' });
  assert.equal(index.headers['content-encoding'], 'gzip');
  const hidden = await rawGet(url('.agent.pid'), {});
  assert.equal(hidden.status, 404);
  const twin = await rawGet(url('live.m3u8.gz'), {});
  assert.equal(twin.status, 404);
});

test("every fragment's audio and video start within 100 ms of each other", async () => {
  const segments = await waitForFragments(8);
  const offsets: number[] = [];
  for (const segment of segments.slice(0, 8)) {
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_type,start_time',
      '-of',
      'json',
      url(segment.name),
    ]);
    const streams = (
      JSON.parse(stdout) as { streams: Array<{ codec_type: string; start_time: string }> }
    ).streams;
    const start = (type: string): number =>
      Number(streams.find((entry) => entry.codec_type === type)?.start_time);
    const offset = Math.round((start('video') - start('audio')) * 1000);
    assert.ok(Number.isFinite(offset), `${segment.name}: ${stdout}`);
    // The video starts at the fragment's own timestamp, its name (nginx-rtmp adds a constant
    // 700 ms to every PTS it writes, and MPEG-TS keeps 33 bits of it).
    assert.equal(
      Math.round(start('video') * 90_000) % 2 ** 33,
      (Number(segment.name.replace('.ts', '')) + 63_000) % 2 ** 33,
    );
    offsets.push(offset);
  }
  console.log(`video start − audio start per fragment: ${offsets.join(', ')} ms`);
  for (const offset of offsets) assert.ok(Math.abs(offset) <= 100, `offsets ${offsets.join(', ')}`);
});

/** Stops the publisher and waits until the origin ended the stream (its grace is short here). */
async function endStream(): Promise<void> {
  const stopped = new Promise<void>((resolve) =>
    stack.origin.once('publishStopped', () => resolve()),
  );
  await publisher?.stop();
  await stopped;
}

test('a publisher restart that continues the program clock adds no discontinuity', async () => {
  const earlier = (await playlist('history.m3u8')).segments;
  const sequenceBefore = Number((await playlist('live.m3u8')).tags.get('EXT-X-MEDIA-SEQUENCE'));
  // The bridge comes back after the origin ended the stream: the origin pushes it to the edge
  // as a new publish, which nginx-rtmp marks with a discontinuity of its own.
  await endStream();
  const restartedAt = Date.now();
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS);
  const segments = await waitForFragments(5, earlier.length);
  assert.deepEqual(segments.slice(0, earlier.length), earlier, 'the history is only appended to');
  const index = await readFile(path.join(stack.edge.prefix, 'hls', stream, 'index.m3u8'), 'utf8');
  assert.match(index, /#EXT-X-DISCONTINUITY/, "nginx-rtmp's own flag for the new publish");
  assert.ok(
    segments.every((segment) => !segment.discontinuity),
    `no discontinuity: ${JSON.stringify(segments.slice(earlier.length - 2))}`,
  );
  assertDatesGoForward(segments);
  // Within the new publish, every fragment ends where the next one starts.
  assertTimelineMatchesDates(publishedSince(segments, restartedAt));
  const live = await playlist('live.m3u8');
  assert.ok(Number(live.tags.get('EXT-X-MEDIA-SEQUENCE')) > sequenceBefore);
  assert.equal(live.tags.has('EXT-X-DISCONTINUITY-SEQUENCE'), false);
});

test('an outage within a publish (the clock jumps ahead) sits inside the fragment before it', async () => {
  await endStream();
  const restartedAt = Date.now();
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS, {
    clock: { jump: { atSeconds: 3, byMs: 4000 } },
  });
  const body = await waitForText(
    url('history.m3u8'),
    (text) => {
      const fresh = publishedSince(readPlaylist(text).segments, restartedAt);
      const long = fresh.findIndex((segment) => segment.durationMs > 4500);
      return long >= 0 && fresh.length >= long + 3;
    },
    30_000,
  );
  const fresh = publishedSince(readPlaylist(body).segments, restartedAt);
  const long = fresh.find((segment) => segment.durationMs > 4500);
  console.log(`fragment holding the 4 s jump: ${long?.durationMs ?? 0} ms`);
  assert.ok(fresh.every((segment) => !segment.discontinuity));
  // Every fragment of this publish, the long one included, ends where the next one starts.
  assertTimelineMatchesDates(fresh);
  assert.ok((long?.durationMs ?? 0) < 6000, 'the 4 s gap and about a fragment of media');
});

test('a publisher whose clock goes back makes exactly one discontinuity', async () => {
  await endStream();
  const earlier = (await playlist('history.m3u8')).segments;
  const restartedAt = Date.now() - 60_000;
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS, {
    clock: { shiftMs: -60_000 },
  });
  // Enough fragments for the discontinuity to leave the live window.
  const segments = await waitForFragments(WINDOW + 2, earlier.length);
  const flagged = segments.filter((segment) => segment.discontinuity);
  assert.equal(flagged.length, 1, 'one discontinuity');
  const at = segments.findIndex((segment) => segment.discontinuity);
  assert.ok(at >= earlier.length);
  const firstBack = segments.findIndex(
    (segment, i) => i >= earlier.length && (segment.dateMs ?? 0) < restartedAt + 60_000 - 5000,
  );
  assert.equal(at, firstBack, 'at the first fragment of the publish whose clock is behind');
  assert.ok((segments[at]?.dateMs ?? 0) >= restartedAt, 'dated by its own clock');
  assert.ok((segments[at]?.dateMs ?? 0) < (segments[at - 1]?.dateMs ?? 0), 'time went back');
  assertDatesGoForward(segments);
  assertTimelineMatchesDates(segments.slice(at));
  const live = await waitForText(
    url('live.m3u8'),
    (text) => readPlaylist(text).tags.get('EXT-X-DISCONTINUITY-SEQUENCE') === '1',
    20_000,
  );
  assert.ok(readPlaylist(live).segments.every((segment) => !segment.discontinuity));
});

test('a killed agent is restarted and continues the same history', async () => {
  const agents = await agentProcesses(stack.edge.prefix);
  assert.equal(agents.length, 1, JSON.stringify(agents));
  const [agent] = agents;
  assert.ok(agent !== undefined);
  assert.equal(agent.stream, stream);
  const earlier = (await playlist('history.m3u8')).segments;
  process.kill(agent.pid, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  let replacement = agent;
  while (replacement.pid === agent.pid && Date.now() < deadline) {
    await sleep(100);
    replacement = (await agentProcesses(stack.edge.prefix))[0] ?? agent;
  }
  assert.notEqual(replacement.pid, agent.pid, 'nginx-rtmp restarted the agent');
  assert.equal(replacement.ppid, agent.ppid, 'in the same worker');
  const segments = await waitForFragments(3, earlier.length);
  assert.deepEqual(segments.slice(0, earlier.length), earlier);
  assert.equal(new Set(segments.map((segment) => segment.name)).size, segments.length);
  assertDatesGoForward(segments);
  assertTimelineMatchesDates(segments.slice(earlier.length - 1));
});

test('the retention rule deleted the stream that ended beyond it, and logged it', async () => {
  const hls = path.join(stack.edge.prefix, 'hls');
  await assert.rejects(stat(path.join(hls, 'assembly-old')), { code: 'ENOENT' });
  assert.ok((await stat(path.join(hls, 'assembly-recent'))).isDirectory());
  assert.ok((await stat(path.join(hls, stream))).isDirectory());
  const log = await readFile(path.join(stack.edge.prefix, 'logs', 'agent.log'), 'utf8');
  const deletions = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => String(line.msg).startsWith('retention'));
  assert.deepEqual(
    deletions.map((line) => line.stream),
    ['assembly-old'],
  );
});

test('when the stream ends, the last fragment is listed and the agent exits', async () => {
  const stopped = new Promise<void>((resolve) =>
    stack.origin.once('publishStopped', () => resolve()),
  );
  await publisher?.stop();
  await stopped;
  const deadline = Date.now() + 15_000;
  while ((await agentProcesses(stack.edge.prefix)).length > 0 && Date.now() < deadline) {
    await sleep(100);
  }
  assert.deepEqual(await agentProcesses(stack.edge.prefix), []);
  const index = readPlaylist(
    await readFile(path.join(stack.edge.prefix, 'hls', stream, 'index.m3u8'), 'utf8'),
  );
  const history = await playlist('history.m3u8');
  const live = await playlist('live.m3u8');
  assert.equal(history.segments.at(-1)?.name, index.segments.at(-1)?.name);
  assert.equal(live.segments.at(-1)?.name, index.segments.at(-1)?.name);
  assert.equal(
    history.segments.length,
    new Set(index.segments.map((segment) => segment.name)).size,
  );
});
