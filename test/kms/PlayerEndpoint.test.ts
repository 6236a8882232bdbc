import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { makeQuadrantClip, mediaDir } from '../helpers/media.js';
import {
  RawClient,
  eventValue,
  isEvent,
  startTestEngine,
  waitUntil,
  type Json,
} from './helpers.js';

let engine: RunningEngine;
let dir: string;
/** One second of VP8 + Opus, in a subfolder so a URI can spell the '/' before it as %2F. */
let shortClip: string;
/** Four seconds of VP8 + Opus, long enough to read a position and seek inside it. */
let longClip: string;

before(async () => {
  dir = await mediaDir();
  await mkdir(path.join(dir, 'eos'));
  [shortClip, longClip] = await Promise.all([
    makeQuadrantClip(path.join(dir, 'eos', 'clip.webm'), ['red', 'green', 'blue', 'white'], {
      seconds: 1,
      container: 'webm',
    }),
    makeQuadrantClip(path.join(dir, 'long.webm'), ['cyan', 'magenta', 'yellow', 'black'], {
      seconds: 4,
      container: 'webm',
    }),
  ]);
  engine = await startTestEngine();
});

after(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

function codeOf(response: Json): number {
  return (response.error as { code: number }).code;
}

async function player(raw: RawClient, uri: string): Promise<{ pipeline: string; id: string }> {
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const id = (
    await raw.ok('create', {
      type: 'PlayerEndpoint',
      constructorParams: { mediaPipeline: pipeline, uri },
    })
  ).value as string;
  return { pipeline, id };
}

test('only file:// and http(s):// URIs are accepted, with a clear 40001 otherwise', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  for (const uri of ['rtsp://camera/stream', 'not a uri', 'file:///media/../etc/passwd']) {
    const response = await raw.call('create', {
      type: 'PlayerEndpoint',
      constructorParams: { mediaPipeline: pipeline, uri },
    });
    assert.equal(codeOf(response), 40001, uri);
    assert.match((response.error as Json).message as string, /Invalid URI/);
  }
  const noUri = await raw.call('create', {
    type: 'PlayerEndpoint',
    constructorParams: { mediaPipeline: pipeline },
  });
  assert.equal((noUri.error as Json).message, "'uri' parameter is required");
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('play, pause and stop change the state with UriEndpointStateChanged; EndOfStream is raised', async () => {
  const raw = await RawClient.open(engine.url);
  // getUri shows an escaped '/' as '/', as KMS does. (GStreamer itself will not open a file
  // URI with %2F in it, so the clip is played through its plain URI.)
  const escaped = await player(raw, `file://${dir}/eos%2Fclip.webm`);
  assert.equal(
    (await raw.ok('invoke', { object: escaped.id, operation: 'getUri' })).value,
    `file://${shortClip}`,
  );
  await raw.ok('release', { object: escaped.pipeline });
  const { pipeline, id } = await player(raw, `file://${shortClip}`);
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'STOP');
  await raw.ok('subscribe', { object: id, type: 'UriEndpointStateChanged' });
  await raw.ok('subscribe', { object: id, type: 'EndOfStream' });
  await raw.ok('invoke', { object: id, operation: 'play' });
  assert.equal(
    eventValue(await raw.waitEvent(isEvent('UriEndpointStateChanged', id))).data.state,
    'START',
  );
  // The clip lasts one second; generous for a loaded 2-core machine, but bounded.
  await raw.waitEvent(isEvent('EndOfStream', id), 10_000);
  await raw.ok('invoke', { object: id, operation: 'pause' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'PAUSE');
  await raw.ok('invoke', { object: id, operation: 'stop' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'STOP');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('position, video info and a failed seek (40700)', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await player(raw, `file://${longClip}`);
  const videoInfo = async (): Promise<Json> =>
    (await raw.ok('invoke', { object: id, operation: 'getVideoInfo' })).value as Json;
  // Nothing is known about the file before the first play.
  assert.deepEqual(await videoInfo(), {
    __module__: 'kurento',
    __type__: 'VideoInfo',
    isSeekable: false,
    seekableInit: 0,
    seekableEnd: 0,
    duration: 0,
  });
  const position = async (): Promise<number> =>
    (await raw.ok('invoke', { object: id, operation: 'getPosition' })).value as number;
  await raw.ok('invoke', { object: id, operation: 'play' });
  await waitUntil('the player to advance', async () => (await position()) > 0, 10_000);
  await raw.ok('invoke', {
    object: id,
    operation: 'setPosition',
    operationParams: { position: 3000 },
  });
  await waitUntil('the seek to land', async () => (await position()) >= 3000, 10_000);
  const info = await videoInfo();
  assert.deepEqual(Object.keys(info).sort(), [
    '__module__',
    '__type__',
    'duration',
    'isSeekable',
    'seekableEnd',
    'seekableInit',
  ]);
  assert.equal(info.__type__, 'VideoInfo');
  assert.equal(info.isSeekable, true);
  assert.equal(info.seekableInit, 0);
  assert.ok(Math.abs((info.duration as number) - 4000) < 300, `duration ${String(info.duration)}`);
  assert.equal(info.seekableEnd, info.duration);
  // A stopped player has nothing to seek in.
  await raw.ok('invoke', { object: id, operation: 'stop' });
  assert.equal(await position(), 0);
  const seek = await raw.call('invoke', {
    object: id,
    operation: 'setPosition',
    operationParams: { position: 1000 },
  });
  assert.equal(codeOf(seek), 40700);
  assert.equal((seek.error as Json).message, 'Seek fails');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('a URI that cannot be opened is reported as an Error event while play() succeeds', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await player(raw, `file://${dir}/missing.webm`);
  await raw.ok('subscribe', { object: id, type: 'Error' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'play' })).value, null);
  const error = eventValue(await raw.waitEvent(isEvent('Error', id), 10_000));
  assert.equal(error.data.type, 'RESOURCE_ERROR_OPEN');
  assert.match(error.data.description as string, /missing\.webm/);
  assert.equal(typeof error.data.description, 'string');
  assert.equal(typeof error.data.errorCode, 'number');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});
