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

async function setup(
  raw: RawClient,
  count: number,
): Promise<{ pipeline: string; elements: string[] }> {
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const elements: string[] = [];
  for (let i = 0; i < count; i++) {
    elements.push(
      (
        await raw.ok('create', {
          type: 'WebRtcEndpoint',
          constructorParams: { mediaPipeline: pipeline },
        })
      ).value as string,
    );
  }
  for (const element of elements) {
    await raw.ok('subscribe', { object: element, type: 'ElementConnected' });
    await raw.ok('subscribe', { object: element, type: 'ElementDisconnected' });
  }
  return { pipeline, elements };
}

function invoke(
  raw: RawClient,
  object: string,
  operation: string,
  operationParams?: Json,
): Promise<Json> {
  return raw.ok(
    'invoke',
    operationParams ? { object, operation, operationParams } : { object, operation },
  );
}

test('connect without a media type makes three connections and raises three ElementConnected', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, elements } = await setup(raw, 2);
  const [a = '', b = ''] = elements;
  assert.equal((await invoke(raw, a, 'connect', { sink: b })).value, null);
  await raw.settle();
  const connected = raw.events
    .filter(isEvent('ElementConnected', a))
    .map((e) => eventValue(e).data.mediaType);
  assert.deepEqual(connected.sort(), ['AUDIO', 'DATA', 'VIDEO']);
  const sinks = (await invoke(raw, a, 'getSinkConnections')).value as Json[];
  assert.equal(sinks.length, 3);
  assert.deepEqual(
    sinks.find((c) => c.type === 'VIDEO'),
    {
      __module__: 'kurento',
      __type__: 'ElementConnectionData',
      source: a,
      sink: b,
      type: 'VIDEO',
      sourceDescription: 'default',
      sinkDescription: 'default',
    },
  );
  const sources = (await invoke(raw, b, 'getSourceConnections', { mediaType: 'AUDIO' }))
    .value as Json[];
  assert.deepEqual(
    sources.map((c) => c.source),
    [a],
  );
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('a new source for the same sink input replaces the old one with ElementDisconnected on the old source', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, elements } = await setup(raw, 3);
  const [a = '', b = '', c = ''] = elements;
  await invoke(raw, a, 'connect', { sink: c, mediaType: 'VIDEO' });
  await invoke(raw, b, 'connect', { sink: c, mediaType: 'VIDEO' });
  const disconnected = await raw.waitEvent(isEvent('ElementDisconnected', a));
  assert.equal(eventValue(disconnected).data.sink, c);
  assert.equal(eventValue(disconnected).data.mediaType, 'VIDEO');
  const sources = (await invoke(raw, c, 'getSourceConnections')).value as Json[];
  assert.deepEqual(
    sources.map((s) => s.source),
    [b],
  );
  assert.deepEqual((await invoke(raw, a, 'getSinkConnections')).value, []);
  // A source may feed many sinks.
  await invoke(raw, b, 'connect', { sink: a, mediaType: 'VIDEO' });
  assert.equal(((await invoke(raw, b, 'getSinkConnections')).value as Json[]).length, 2);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('disconnect removes links and raises ElementDisconnected even for a link that does not exist', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, elements } = await setup(raw, 2);
  const [a = '', b = ''] = elements;
  await invoke(raw, a, 'connect', { sink: b });
  await invoke(raw, a, 'disconnect', { sink: b, mediaType: 'AUDIO' });
  const left = ((await invoke(raw, a, 'getSinkConnections')).value as Json[])
    .map((c) => c.type)
    .sort();
  assert.deepEqual(left, ['DATA', 'VIDEO']);
  await invoke(raw, b, 'disconnect', { sink: a, mediaType: 'VIDEO' });
  await raw.waitEvent(isEvent('ElementDisconnected', b));
  await invoke(raw, a, 'disconnect', { sink: b });
  await raw.settle();
  assert.equal(raw.events.filter(isEvent('ElementDisconnected', a)).length, 4);
  assert.deepEqual((await invoke(raw, b, 'getSourceConnections')).value, []);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('connecting elements of different pipelines fails with 40004; an unknown sink with 40101', async () => {
  const raw = await RawClient.open(engine.url);
  const one = await setup(raw, 1);
  const two = await setup(raw, 1);
  const response = await raw.call('invoke', {
    object: one.elements[0],
    operation: 'connect',
    operationParams: { sink: two.elements[0] },
  });
  assert.equal((response.error as Json).code, 40004);
  assert.equal((response.error as Json).message, 'Media elements do not share pipeline');
  const ghost = await raw.call('invoke', {
    object: one.elements[0],
    operation: 'connect',
    operationParams: { sink: 'ghost' },
  });
  assert.equal((ghost.error as Json).code, 40101);
  const notElement = await raw.call('invoke', {
    object: one.elements[0],
    operation: 'connect',
    operationParams: { sink: one.pipeline },
  });
  assert.equal((notElement.error as Json).code, 40001);
  await raw.ok('release', { object: one.pipeline });
  await raw.ok('release', { object: two.pipeline });
  await raw.close();
});

test('releasing a sink removes its links and tells the source with ElementDisconnected', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, elements } = await setup(raw, 2);
  const [a = '', b = ''] = elements;
  await invoke(raw, a, 'connect', { sink: b, mediaType: 'VIDEO' });
  await raw.ok('release', { object: b });
  await raw.waitEvent(isEvent('ElementDisconnected', a));
  assert.deepEqual((await invoke(raw, a, 'getSinkConnections')).value, []);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('isMediaFlowingIn/Out answer for AUDIO and VIDEO and refuse DATA with 40107', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, elements } = await setup(raw, 1);
  const [a = ''] = elements;
  assert.equal((await invoke(raw, a, 'isMediaFlowingIn', { mediaType: 'VIDEO' })).value, false);
  assert.equal((await invoke(raw, a, 'isMediaFlowingOut', { mediaType: 'AUDIO' })).value, false);
  const data = await raw.call('invoke', {
    object: a,
    operation: 'isMediaFlowingIn',
    operationParams: { mediaType: 'DATA' },
  });
  assert.equal((data.error as Json).code, 40107);
  assert.equal(
    (data.error as { data: { type: string } }).data.type,
    'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR',
  );
  await raw.ok('release', { object: pipeline });
  await raw.close();
});
