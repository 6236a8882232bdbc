/**
 * The playlist agent's rules on nginx-rtmp playlists as nginx-rtmp writes them (text fixtures
 * in its exact format), and the retention rule on real folders with past modification times.
 * The agent running inside a real edge is tested in edgePlaylists.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseHistoryPlaylist, parseNginxPlaylist } from '../../server/edges/hlsPlaylists.js';
import { sweepStaleStreams } from '../../server/edges/retention.js';
import { StreamHistory } from '../../server/edges/StreamHistory.js';
import { programTimestamp } from '../../server/hls/programClock.js';
import { Logger } from '../../server/log.js';
import { readPlaylist } from './helpers.js';

const NOW = Date.parse('2026-12-04T10:00:00.000Z');

/** The fragment name nginx-rtmp gives a fragment starting at wall-clock `unixMs`. */
function nameAt(unixMs: number): string {
  return `${programTimestamp(unixMs) * 90}.ts`;
}

/** nginx-rtmp's index.m3u8 (hls_type event) for fragments given as [start, duration ms]. */
function nginxPlaylist(
  fragments: Array<[number, number]>,
  options: { discontinuityAt?: number[]; sequence?: number } = {},
): string {
  let text =
    '#EXTM3U\n#EXT-X-VERSION:3\n' +
    `#EXT-X-MEDIA-SEQUENCE:${options.sequence ?? 0}\n#EXT-X-TARGETDURATION:1\n` +
    '#EXT-X-PLAYLIST-TYPE: EVENT\n';
  fragments.forEach(([start, duration], i) => {
    if (options.discontinuityAt?.includes(i)) text += '#EXT-X-DISCONTINUITY\n';
    text += `#EXTINF:${(duration / 1000).toFixed(3)},\n${nameAt(start)}\n`;
  });
  return text;
}

/** `count` back-to-back fragments of `durationMs` from `startMs`. */
function run(startMs: number, count: number, durationMs = 1000): Array<[number, number]> {
  return Array.from({ length: count }, (_, i) => [startMs + i * durationMs, durationMs]);
}

test('every fragment gets its program-clock date, and EXTINF and dates agree', () => {
  const history = new StreamHistory();
  const listed = run(NOW - 5000, 5);
  assert.equal(history.append(parseNginxPlaylist(nginxPlaylist(listed)), NOW), 5);
  const { tags, segments } = readPlaylist(history.historyPlaylist());
  assert.equal(tags.get('EXT-X-PLAYLIST-TYPE'), 'EVENT');
  assert.equal(tags.get('EXT-X-MEDIA-SEQUENCE'), '0');
  assert.equal(tags.get('EXT-X-TARGETDURATION'), '1');
  assert.deepEqual(
    segments.map((segment) => segment.dateMs),
    listed.map(([start]) => start),
  );
  for (let i = 1; i < segments.length; i++) {
    const [previous, current] = [segments[i - 1], segments[i]];
    assert.ok(
      previous !== undefined && current?.dateMs !== undefined && previous.dateMs !== undefined,
    );
    assert.equal(current.dateMs - previous.dateMs, previous.durationMs);
  }
});

test('only fragments after the last known one are appended, each once', () => {
  const history = new StreamHistory();
  history.append(parseNginxPlaylist(nginxPlaylist(run(NOW - 10_000, 3))), NOW);
  // nginx-rtmp rewrites the whole list with one more fragment each time.
  assert.equal(history.append(parseNginxPlaylist(nginxPlaylist(run(NOW - 10_000, 3))), NOW), 0);
  assert.equal(history.append(parseNginxPlaylist(nginxPlaylist(run(NOW - 10_000, 5))), NOW), 2);
  assert.equal(history.length, 5);
  // Its playlist lost (a new folder): what it lists anew is appended after the history.
  const restarted = run(NOW - 4000, 2);
  assert.equal(history.append(parseNginxPlaylist(nginxPlaylist(restarted)), NOW), 2);
  assert.deepEqual(
    history.list().map((fragment) => fragment.unixMs),
    [...run(NOW - 10_000, 5), ...run(NOW - 4000, 2)].map(([start]) => start),
  );
});

test("nginx-rtmp's discontinuities are dropped; time going back makes one", () => {
  const history = new StreamHistory();
  // A new publish on the edge (restart) continuing the program clock after a 3 s outage.
  const forward = [...run(NOW - 20_000, 4), ...run(NOW - 13_000, 3)];
  history.append(parseNginxPlaylist(nginxPlaylist(forward, { discontinuityAt: [4] })), NOW);
  assert.ok(history.list().every((fragment) => !fragment.discontinuity));
  // Then a publisher whose clock is 60 s behind.
  const back = [...forward, ...run(NOW - 70_000, 3)];
  history.append(parseNginxPlaylist(nginxPlaylist(back, { discontinuityAt: [4, 7] })), NOW);
  const flags = history.list().map((fragment) => fragment.discontinuity);
  assert.deepEqual(flags, [false, false, false, false, false, false, false, true, false, false]);
  const { segments } = readPlaylist(history.historyPlaylist());
  assert.equal(segments.filter((segment) => segment.discontinuity).length, 1);
});

test('live.m3u8 is the last N fragments with growing sequence numbers', () => {
  const history = new StreamHistory();
  const forward = run(NOW - 20_000, 6);
  const back = run(NOW - 80_000, 6);
  const sequences: number[] = [];
  const discontinuitySequences: number[] = [];
  for (let count = 1; count <= 12; count++) {
    const all = [...forward, ...back].slice(0, count);
    history.append(parseNginxPlaylist(nginxPlaylist(all)), NOW);
    const { tags, segments } = readPlaylist(history.livePlaylist(4));
    assert.equal(tags.has('EXT-X-PLAYLIST-TYPE'), false, 'a live playlist has no type');
    assert.equal(segments.length, Math.min(4, count));
    assert.equal(segments.at(-1)?.name, nameAt((all.at(-1) ?? [0])[0]));
    const sequence = Number(tags.get('EXT-X-MEDIA-SEQUENCE'));
    assert.equal(sequence, Math.max(0, count - 4));
    sequences.push(sequence);
    // The discontinuity (fragment 6) is in the window with its tag, then counted once gone.
    const dseq = Number(tags.get('EXT-X-DISCONTINUITY-SEQUENCE') ?? 0);
    discontinuitySequences.push(dseq);
    const tagged = segments.filter((segment) => segment.discontinuity).length;
    assert.equal(dseq + tagged, count > 6 ? 1 : 0, `window ending at ${count}`);
  }
  assert.deepEqual(
    sequences,
    [...sequences].sort((a, b) => a - b),
  );
  assert.deepEqual(discontinuitySequences, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
});

test('TARGETDURATION covers the longest fragment listed, rounded as RFC 8216 says', () => {
  const history = new StreamHistory();
  // An outage of 4.2 s inside the fifth fragment (nginx-rtmp closes it at the next keyframe).
  const listed: Array<[number, number]> = [...run(NOW - 30_000, 4), [NOW - 26_000, 5200]];
  listed.push(...run(NOW - 20_800, 8));
  history.append(parseNginxPlaylist(nginxPlaylist(listed)), NOW);
  assert.equal(readPlaylist(history.historyPlaylist()).tags.get('EXT-X-TARGETDURATION'), '5');
  // Once the long fragment left the live window, the live target is back to one second.
  assert.equal(readPlaylist(history.livePlaylist(4)).tags.get('EXT-X-TARGETDURATION'), '1');
  assert.equal(readPlaylist(history.livePlaylist(9)).tags.get('EXT-X-TARGETDURATION'), '5');
});

test('a restarted agent continues from history.m3u8 with the same dates and flags', () => {
  const first = new StreamHistory();
  const listed = [...run(NOW - 20_000, 5), ...run(NOW - 60_000, 3)];
  first.append(parseNginxPlaylist(nginxPlaylist(listed)), NOW);
  const recovered = parseHistoryPlaylist(first.historyPlaylist());
  assert.ok(recovered !== undefined);
  const second = new StreamHistory(recovered);
  assert.deepEqual(second.list(), first.list());
  assert.equal(second.historyPlaylist(), first.historyPlaylist());
  // Fragments after the recovery continue it (an hour later, the dates are the same).
  const more = [...listed, ...run(NOW - 57_000, 2)];
  assert.equal(second.append(parseNginxPlaylist(nginxPlaylist(more)), NOW + 3_600_000), 2);
  assert.equal(parseHistoryPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\n'), undefined);
});

test('lines that are not nginx-rtmp fragments are not listed', () => {
  const text =
    '#EXTM3U\n#EXTINF:1.000,\n../../etc/passwd\n#EXTINF:1.000,\n12.ts\n' +
    'orphan.ts\n#EXTINF:1.000,\n1e5.ts\n#EXTINF:x,\n13.ts\n#EXTINF:1.000,\r\n14.ts\r\n';
  assert.deepEqual(parseNginxPlaylist(text), [
    { name: '12.ts', durationMs: 1000 },
    { name: '14.ts', durationMs: 1000 },
  ]);
});

/** V8's garbage collector, made callable in this process (`--expose-gc` set at run time). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The heap in use after a full collection, in MB. */
function liveHeapMb(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}

test('the history keeps its fragment names, not the playlists they were read from', () => {
  // The agent reads nginx-rtmp's playlist every second and appends the one new fragment. A
  // name cut from that text (by split, slice or a match) is, in V8, a view that keeps the whole
  // text alive: a history of 1800 fragments held 1800 playlists (1.1 MB a minute in the soak).
  const gc = collector();
  const rounds = 150;
  // A large playlist per round, as nginx-rtmp's grows in a long assembly.
  const padding = `#${'x'.repeat(100_000)}\n`;
  const playlistOf = (round: number): string =>
    padding + nginxPlaylist([[NOW + round * 1000, 1000]]);
  assert.ok(nameAt(NOW).length >= 13, 'the names are long enough to be views in V8');

  // The control: keeping the parsed names as they come keeps every playlist.
  const before = liveHeapMb(gc);
  const kept: string[] = [];
  for (let round = 0; round < rounds; round++) {
    kept.push(...parseNginxPlaylist(playlistOf(round)).map((fragment) => fragment.name));
  }
  const keptMb = liveHeapMb(gc) - before;
  assert.ok(keptMb > 10, `the control retains the playlists (${keptMb.toFixed(1)} MB)`);
  kept.length = 0;

  const start = liveHeapMb(gc);
  const history = new StreamHistory();
  for (let round = 0; round < rounds; round++) {
    history.append(parseNginxPlaylist(playlistOf(round)), NOW + round * 1000 + 2000);
  }
  const historyMb = liveHeapMb(gc) - start;
  assert.equal(history.length, rounds);
  assert.ok(
    historyMb < 2,
    `${rounds} fragments hold ${historyMb.toFixed(1)} MB (the control: ${keptMb.toFixed(1)} MB)`,
  );
});

test('retention deletes ended streams after the retention time, never a live one', async () => {
  const hls = await mkdtemp(path.join(tmpdir(), 'montage-retention-'));
  const lines: string[] = [];
  const logger = new Logger('info', { write: (line: string) => lines.push(line) });
  const hour = 3_600_000;
  const now = Date.now();
  const stream = async (name: string, ageMs: number, agentPid?: number): Promise<void> => {
    const folder = path.join(hls, name);
    await mkdir(folder);
    for (const file of ['index.m3u8', 'history.m3u8', '1.ts', '2.ts']) {
      await writeFile(path.join(folder, file), 'x');
      const when = new Date(now - ageMs);
      await utimes(path.join(folder, file), when, when);
    }
    if (agentPid !== undefined) await writeFile(path.join(folder, '.agent.pid'), `${agentPid}\n`);
  };
  try {
    await stream('ended-long-ago', 49 * hour);
    await stream('ended-yesterday', 20 * hour);
    // An outage of two days on a live stream: its agent is running.
    await stream('live-but-stalled', 60 * hour, process.pid);
    // An agent that died long ago left its pid file behind.
    await stream('dead-agent', 50 * hour, 2 ** 22 + 1);
    await writeFile(path.join(hls, 'not-a-stream.txt'), 'x');
    await mkdir(path.join(hls, 'bad name'));
    // A name the agent refused (nginx-rtmp still wrote HLS for it), ended long ago.
    await stream('refused.name', 50 * hour);
    const deleted = await sweepStaleStreams({
      hlsDir: hls,
      maxAgeMs: 48 * hour,
      nowMs: now,
      logger,
    });
    assert.deepEqual(deleted.sort(), ['dead-agent', 'ended-long-ago', 'refused.name']);
    assert.deepEqual((await readdir(hls)).sort(), [
      'bad name',
      'ended-yesterday',
      'live-but-stalled',
      'not-a-stream.txt',
    ]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const summary = logged.map((line) => [line.stream, line.files, line.bytes]);
    assert.deepEqual(
      summary.sort(),
      [
        ['dead-agent', 5, 12],
        ['ended-long-ago', 4, 4],
        ['refused.name', 4, 4],
      ],
      'each deletion is logged with what it freed',
    );
    assert.deepEqual(
      await sweepStaleStreams({
        hlsDir: path.join(hls, 'missing'),
        maxAgeMs: hour,
        nowMs: now,
        logger,
      }),
      [],
    );
  } finally {
    await rm(hls, { recursive: true, force: true });
  }
});
