/**
 * Two edges fed by one origin cut the program into the same fragments: the same names (the
 * program-clock timestamps) with the same dates and durations, so hls.js can move a viewer from
 * one edge (content-steering pathway) to the other by date. The second edge starts later, as an
 * edge added during an assembly does. Real nginx-rtmp edges, the real origin, ffmpeg.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { NginxEdge } from '../../server/edges/NginxEdge.js';
import { streamName, type EdgeId } from '../../server/origin/RtmpOrigin.js';
import {
  newTestEdge,
  publishQuadrants,
  readPlaylist,
  startMediaStack,
  stopTestEdge,
  waitForText,
  type ListedSegment,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const stream = streamName('assembly-two-edges');
let stack: MediaStack;
let second: NginxEdge | undefined;
let publisher: TestProcess | undefined;

function historyUrl(edge: NginxEdge): string {
  return edge.hlsUrl(stream, 'history.m3u8');
}

async function history(edge: NginxEdge): Promise<ListedSegment[]> {
  return readPlaylist(await (await fetch(historyUrl(edge))).text()).segments;
}

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, 'stream-key-assembly-two-edges');
});

after(async () => {
  await publisher?.stop();
  if (second !== undefined) {
    await stopTestEdge(second);
    await rm(second.prefix, { recursive: true, force: true });
  }
  await stack.teardown();
});

test('an edge added during the assembly lists the same fragments with the same dates', async () => {
  publisher = publishQuadrants(stack.origin.publishUrl(stream), [
    'cyan',
    'magenta',
    'yellow',
    'red',
  ]);
  await waitForText(
    historyUrl(stack.edge),
    (text) => readPlaylist(text).segments.length >= 3,
    30_000,
  );
  second = await newTestEdge();
  await second.start();
  // The origin pushes streams that are already live to an edge as soon as it is added.
  stack.origin.addEdge('second' as EdgeId, second.ingestUrl);
  const edge = second;
  await waitForText(historyUrl(edge), (text) => readPlaylist(text).segments.length >= 6, 30_000);
  const later = await history(edge);
  // The first edge may be a few milliseconds behind with the newest fragment.
  const newest = later.at(-1)?.name ?? '';
  await waitForText(historyUrl(stack.edge), (text) => text.includes(newest), 10_000);
  const first = await history(stack.edge);
  const byName = new Map(first.map((segment) => [segment.name, segment]));
  // The later edge's first fragment may begin at a keyframe the first edge did not cut at (it
  // starts with whatever the origin sends first); from its second fragment on, every fragment
  // is one the first edge has, identical.
  const shared = later.slice(1).filter((segment) => byName.has(segment.name));
  assert.equal(
    shared.length,
    later.length - 1,
    `${JSON.stringify(later)} vs ${JSON.stringify(first)}`,
  );
  for (const segment of later.slice(1)) {
    assert.deepEqual(
      { ...segment, discontinuity: false },
      { ...byName.get(segment.name), discontinuity: false },
    );
  }
  const firstLater = later[0];
  const match = firstLater === undefined ? undefined : byName.get(firstLater.name);
  console.log(
    `second edge starts at the first edge's fragment ${first.findIndex((s) => s.name === later[1]?.name) - 1}` +
      `; its first fragment ${match === undefined ? 'differs' : 'is the same'}`,
  );
  assert.ok(later.every((segment) => !segment.discontinuity));
});
