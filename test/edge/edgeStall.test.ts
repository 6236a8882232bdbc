/**
 * A stall of the program just before a keyframe, through the real origin (node-media-server)
 * to a real nginx-rtmp edge. The bridge stamps the program's packets on arrival, so when the
 * loaded machine holds the program back for a moment, the stream goes on with both audio and
 * video timestamps jumping ahead. nginx-rtmp opens a fragment at a keyframe and then writes the
 * audio it buffered before it into that fragment: after a stall of 170 ms the fragment's audio
 * started 180 ms before its video, until the origin learnt to flush it (RtmpOrigin guardPackets).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { audioDecodeErrors, fragmentStarts } from '../helpers/hlsPlaylist.js';
import type { Quadrants } from '../helpers/media.js';
import {
  publishQuadrants,
  readPlaylist,
  startMediaStack,
  waitForText,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const QUADRANTS: Quadrants = ['red', 'green', 'blue', 'yellow'];
const stream = streamName('assembly-stall');
/**
 * The stall: both streams' timestamps jump this much at the keyframe of 3 s (1 s GOPs), the
 * audio's 30 ms more, so that in the burst the keyframe comes before the first new audio (as in
 * the fragment CI caught; when new audio comes first, it flushes the held audio by itself).
 */
const STALL_MS = 170;
const AUDIO_STALL_MS = STALL_MS + 30;
let stack: MediaStack;
let publisher: TestProcess | undefined;

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, 'stream-key-assembly-stall');
});

after(async () => {
  await publisher?.stop();
  await stack?.teardown();
});

test("a stall of audio and video just before a keyframe leaves that fragment's audio with its video", async () => {
  publisher = publishQuadrants(stack.origin.publishUrl(stream), QUADRANTS, {
    clock: { jump: { atSeconds: 3, byMs: STALL_MS, audioByMs: AUDIO_STALL_MS } },
  });
  const url = (file: string): string => stack.edge.hlsUrl(stream, file);
  // The fragment that holds the stall (the one before the keyframe lasts a GOP and the stall),
  // and two after it.
  const holds = (durationMs: number): boolean => durationMs >= 1000 + STALL_MS - 50;
  const body = await waitForText(
    url('history.m3u8'),
    (text) => {
      const segments = readPlaylist(text).segments;
      const stall = segments.findIndex((segment) => holds(segment.durationMs));
      return stall >= 0 && segments.length >= stall + 3;
    },
    60_000,
  );
  const segments = readPlaylist(body).segments;
  const stall = segments.findIndex((segment) => holds(segment.durationMs));
  const skews: number[] = [];
  for (const segment of segments.slice(0, stall + 3)) {
    const { audio, video } = await fragmentStarts(url(segment.name));
    assert.ok(audio !== undefined && video !== undefined, `A/V in ${segment.name}`);
    skews.push(Math.round((audio - video) * 1000));
  }
  console.log(
    `audio start − video start per fragment (the stall ends fragment ${stall + 1}): ` +
      `${skews.join(', ')} ms`,
  );
  for (const skew of skews) assert.ok(Math.abs(skew) <= 100, `skews ${skews.join(', ')} ms`);
  // The fragment after the stall opens with the origin's resent audio frame, which decodes.
  const after = segments[stall + 1];
  assert.ok(after !== undefined);
  assert.equal(await audioDecodeErrors(url(after.name)), '', `the audio of ${after.name} decodes`);
});
