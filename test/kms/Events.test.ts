import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { connectKurento } from '../helpers/kurento.js';
import {
  RawClient,
  eventValue,
  isEvent,
  startTestEngine,
  waitUntil,
  type Json,
} from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine();
});

after(async () => {
  await engine.close();
});

async function pipelineWithEndpoint(
  raw: RawClient,
): Promise<{ pipeline: string; endpoint: string }> {
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const endpoint = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  return { pipeline, endpoint };
}

test('an event is delivered once per session however many subscriptions, until the last unsubscribe', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, endpoint } = await pipelineWithEndpoint(raw);
  const sink = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  const first = (await raw.ok('subscribe', { object: endpoint, type: 'ElementConnected' }))
    .value as string;
  const second = (await raw.ok('subscribe', { object: endpoint, type: 'ElementConnected' }))
    .value as string;
  assert.notEqual(first, second);
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'connect',
    operationParams: { sink, mediaType: 'VIDEO' },
  });
  await raw.settle();
  assert.equal(raw.events.filter(isEvent('ElementConnected')).length, 1);

  await raw.ok('unsubscribe', { object: endpoint, subscription: first });
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'connect',
    operationParams: { sink, mediaType: 'AUDIO' },
  });
  await raw.settle();
  assert.equal(raw.events.filter(isEvent('ElementConnected')).length, 2);

  await raw.ok('unsubscribe', { object: endpoint, subscription: second });
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'connect',
    operationParams: { sink, mediaType: 'DATA' },
  });
  await raw.settle();
  assert.equal(raw.events.filter(isEvent('ElementConnected')).length, 2);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('event data carries source, tags, a string timestampMillis and type inside params.value', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, endpoint } = await pipelineWithEndpoint(raw);
  const sink = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'addTag',
    operationParams: { key: 'k', value: 'v' },
  });
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'setSendTagsInEvents',
    operationParams: { sendTagsInEvents: true },
  });
  await raw.ok('subscribe', { object: endpoint, type: 'ElementConnected' });
  await raw.ok('invoke', {
    object: endpoint,
    operation: 'connect',
    operationParams: { sink, mediaType: 'VIDEO' },
  });
  const event = await raw.waitEvent(isEvent('ElementConnected', endpoint));
  assert.equal(event.jsonrpc, '2.0');
  assert.equal(event.id, undefined);
  const value = eventValue(event);
  assert.deepEqual(Object.keys(value).sort(), ['data', 'object', 'type']);
  assert.equal(value.data.source, endpoint);
  assert.equal(value.data.type, 'ElementConnected');
  assert.match(value.data.timestampMillis as string, /^\d{13}$/);
  assert.deepEqual(value.data.tags, [
    { __module__: 'kurento', __type__: 'Tag', key: 'k', value: 'v' },
  ]);
  assert.equal(value.data.sink, sink);
  assert.equal(value.data.mediaType, 'VIDEO');
  assert.equal(value.data.sourceMediaDescription, 'default');
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('subscribe to an event the class does not have fails with 40106; unsubscribe never fails', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, endpoint } = await pipelineWithEndpoint(raw);
  const bad = await raw.call('subscribe', { object: pipeline, type: 'IceCandidateFound' });
  assert.equal((bad.error as Json).code, 40106);
  assert.equal((bad.error as Json).message, "Event 'IceCandidateFound' not supported");
  const old = await raw.call('subscribe', { object: endpoint, type: 'OnIceCandidate' });
  assert.equal((old.error as Json).code, 40106);
  // Every event the client allows on the class is accepted, even if it never fires.
  for (const type of [
    'Error',
    'MediaSessionTerminated',
    'DataChannelOpened',
    'MediaTranscodingStateChanged',
    'ConnectionStateChanged',
  ]) {
    await raw.ok('subscribe', { object: endpoint, type });
  }
  assert.ok(
    (await raw.ok('unsubscribe', { object: endpoint, subscription: 'no-such-subscription' }))
      .sessionId,
  );
  assert.ok(
    (await raw.ok('unsubscribe', { object: 'no-such-object', subscription: 'x' })).sessionId,
  );
  await raw.ok('release', { object: pipeline });
  assert.ok((await raw.ok('unsubscribe', { object: endpoint, subscription: 'x' })).sessionId);
  await raw.close();
});

test('kurento-client listeners receive events and release then unsubscribe raises no error', async () => {
  const client = await connectKurento(engine.url);
  try {
    const pipeline = await client.create('MediaPipeline');
    const source = await pipeline.create('WebRtcEndpoint');
    const sink = await pipeline.create('WebRtcEndpoint');
    const received: Json[] = [];
    source.on('ElementConnected', (data: unknown) => received.push(data as Json));
    await source.connect(sink);
    await waitUntil('three ElementConnected events', () => received.length >= 3);
    // One more round trip: a duplicate event would have arrived by its answer.
    await source.getName();
    assert.deepEqual(received.map((d) => d.mediaType).sort(), ['AUDIO', 'DATA', 'VIDEO']);
    await source.release();
    await pipeline.release();
  } finally {
    client.close();
  }
});
