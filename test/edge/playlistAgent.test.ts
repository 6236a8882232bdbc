/**
 * The playlist agent on a real folder, fed the way nginx-rtmp feeds it (its index.m3u8 written
 * to index.m3u8.bak and renamed over), without nginx: the files it writes, its restart from
 * history.m3u8, and its hand-over to a newer agent. edgePlaylists.test.ts runs it under nginx.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { PlaylistAgent } from '../../server/edges/PlaylistAgent.js';
import { programTimestamp } from '../../server/hls/programClock.js';
import { Logger } from '../../server/log.js';
import { readPlaylist } from './helpers.js';

const STREAM = 'assembly-agent';
let hls: string;
let folder: string;
const lines: string[] = [];
const logger = new Logger('info', { write: (line: string) => lines.push(line) });
const start = Date.now() - 60_000;

function nameAt(index: number): string {
  return `${programTimestamp(start + index * 1000) * 90}.ts`;
}

/** Writes index.m3u8 listing fragments 0..count-1 the way nginx-rtmp does (.bak, rename). */
async function nginxWrites(count: number): Promise<void> {
  let text =
    '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:1\n' +
    '#EXT-X-PLAYLIST-TYPE: EVENT\n#EXT-X-DISCONTINUITY\n';
  for (let i = 0; i < count; i++) text += `#EXTINF:1.000,\n${nameAt(i)}\n`;
  await writeFile(path.join(folder, 'index.m3u8.bak'), text);
  await rename(path.join(folder, 'index.m3u8.bak'), path.join(folder, 'index.m3u8'));
}

function agent(): PlaylistAgent {
  return new PlaylistAgent({
    hlsDir: hls,
    stream: STREAM,
    liveWindow: 3,
    retentionMs: 3_600_000,
    logger,
  });
}

/** Waits until the agent's next write lists `count` fragments. */
async function written(playlistAgent: PlaylistAgent, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const text = await readFile(path.join(folder, 'history.m3u8'), 'utf8').catch(() => '');
    if (readPlaylist(text).segments.length >= count) return;
    await Promise.race([once(playlistAgent, 'written'), sleep(500)]);
  }
  throw new Error(`history.m3u8 never listed ${count} fragments`);
}

before(async () => {
  hls = await mkdtemp(path.join(tmpdir(), 'montage-agent-'));
  folder = path.join(hls, STREAM);
  await mkdir(folder);
  // Left by an agent killed in the middle of a write.
  await writeFile(path.join(folder, '.live.m3u8.4242.tmp'), 'half a playl');
});

after(async () => {
  await rm(hls, { recursive: true, force: true });
});

test('each rewrite of index.m3u8 becomes live.m3u8 and history.m3u8 with gzipped twins', async () => {
  const first = agent();
  await first.start();
  assert.deepEqual(
    (await readdir(folder)).filter((name) => name.endsWith('.tmp')),
    [],
    'a temporary file left behind is removed',
  );
  for (let count = 1; count <= 5; count++) {
    await nginxWrites(count);
    await written(first, count);
  }
  const live = await readFile(path.join(folder, 'live.m3u8'), 'utf8');
  const history = await readFile(path.join(folder, 'history.m3u8'), 'utf8');
  assert.equal(gunzipSync(await readFile(path.join(folder, 'live.m3u8.gz'))).toString(), live);
  assert.equal(
    gunzipSync(await readFile(path.join(folder, 'history.m3u8.gz'))).toString(),
    history,
  );
  assert.deepEqual(
    readPlaylist(live).segments.map((segment) => segment.name),
    [2, 3, 4].map(nameAt),
  );
  assert.equal(readPlaylist(live).tags.get('EXT-X-MEDIA-SEQUENCE'), '2');
  assert.deepEqual(
    readPlaylist(history).segments.map((segment) => segment.dateMs),
    [0, 1, 2, 3, 4].map((i) => start + i * 1000),
  );
  assert.ok(readPlaylist(history).segments.every((segment) => !segment.discontinuity));
  assert.equal(
    (await readFile(path.join(folder, '.agent.pid'), 'utf8')).trim(),
    String(process.pid),
  );
  assert.ok(!history.includes('#EXT-X-ENDLIST'), 'open while the stream lasts');
  await first.stop(true);
  assert.ok(!(await readdir(folder)).includes('.agent.pid'), 'the pid file goes with the agent');
  // The stream ended: its history is closed, a video-on-demand playlist of every fragment.
  const ended = await readFile(path.join(folder, 'history.m3u8'), 'utf8');
  assert.ok(ended.endsWith('#EXT-X-ENDLIST\n'), ended);
  assert.equal(ended, `${history}#EXT-X-ENDLIST\n`);
  assert.equal(gunzipSync(await readFile(path.join(folder, 'history.m3u8.gz'))).toString(), ended);
});

test('a restarted agent continues the history it finds', async () => {
  // Fragments listed while no agent ran.
  await nginxWrites(8);
  const second = agent();
  await second.start();
  await written(second, 8);
  const { segments } = readPlaylist(await readFile(path.join(folder, 'history.m3u8'), 'utf8'));
  assert.deepEqual(
    segments.map((segment) => segment.name),
    [0, 1, 2, 3, 4, 5, 6, 7].map(nameAt),
  );
  assert.ok(
    lines.some((line) => line.includes('"history recovered"') && line.includes('"fragments":5')),
  );
  // A new publish of the stream opens its history again.
  assert.ok(
    !(await readFile(path.join(folder, 'history.m3u8'), 'utf8')).includes('#EXT-X-ENDLIST'),
  );
  await second.stop(true);
});

test('an agent hands the stream over to a newer one', async () => {
  const older = agent();
  await older.start();
  await nginxWrites(9);
  await written(older, 9);
  // A newer agent (here: this test's parent process, which is alive) took the stream over.
  await writeFile(path.join(folder, '.agent.pid'), `${process.ppid}\n`);
  const before = await readFile(path.join(folder, 'history.m3u8'), 'utf8');
  await nginxWrites(10);
  // The rewrite reaches the agent, which then stands down instead of writing.
  const deadline = Date.now() + 10_000;
  while (!lines.some((line) => line.includes('another agent owns the stream now'))) {
    assert.ok(Date.now() < deadline, 'the older agent noticed the newer one');
    await sleep(20);
  }
  await older.idle();
  assert.equal(await readFile(path.join(folder, 'history.m3u8'), 'utf8'), before);
  await older.stop(true);
  // The stream is the newer agent's: the older one does not close it either.
  assert.equal(await readFile(path.join(folder, 'history.m3u8'), 'utf8'), before);
  assert.equal(
    (await readFile(path.join(folder, '.agent.pid'), 'utf8')).trim(),
    String(process.ppid),
  );
});
