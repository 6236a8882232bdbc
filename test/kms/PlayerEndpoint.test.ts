import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { RawClient, eventValue, isEvent, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine();
});

after(async () => {
  await engine.close();
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
  const { pipeline, id } = await player(raw, 'file:///tmp/eos%2Fclip.webm');
  assert.equal(
    (await raw.ok('invoke', { object: id, operation: 'getUri' })).value,
    'file:///tmp/eos/clip.webm',
  );
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'STOP');
  await raw.ok('subscribe', { object: id, type: 'UriEndpointStateChanged' });
  await raw.ok('subscribe', { object: id, type: 'EndOfStream' });
  await raw.ok('invoke', { object: id, operation: 'play' });
  assert.equal(
    eventValue(await raw.waitEvent(isEvent('UriEndpointStateChanged', id))).data.state,
    'START',
  );
  await raw.waitEvent(isEvent('EndOfStream', id));
  await raw.ok('invoke', { object: id, operation: 'pause' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'PAUSE');
  await raw.ok('invoke', { object: id, operation: 'stop' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getState' })).value, 'STOP');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('position, video info and a failed seek (40700)', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await player(raw, 'http://127.0.0.1/clip.webm');
  assert.equal((await raw.ok('invoke', { object: id, operation: 'getPosition' })).value, 1234);
  await raw.ok('invoke', {
    object: id,
    operation: 'setPosition',
    operationParams: { position: 5000 },
  });
  const seek = await raw.call('invoke', {
    object: id,
    operation: 'setPosition',
    operationParams: { position: 99999 },
  });
  assert.equal(codeOf(seek), 40700);
  assert.equal((seek.error as Json).message, 'Seek fails');
  const info = (await raw.ok('invoke', { object: id, operation: 'getVideoInfo' })).value as Json;
  assert.deepEqual(info, {
    __module__: 'kurento',
    __type__: 'VideoInfo',
    isSeekable: true,
    seekableInit: 0,
    seekableEnd: 10000,
    duration: 10000,
  });
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('a URI that cannot be opened is reported as an Error event while play() succeeds', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await player(raw, 'file:///tmp/missing.webm');
  await raw.ok('subscribe', { object: id, type: 'Error' });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'play' })).value, null);
  const error = eventValue(await raw.waitEvent(isEvent('Error', id)));
  assert.equal(error.data.type, 'RESOURCE_ERROR_OPEN');
  assert.equal(typeof error.data.description, 'string');
  assert.equal(typeof error.data.errorCode, 'number');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});
