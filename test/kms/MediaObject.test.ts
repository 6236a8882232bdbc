import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { connectKurento } from '../helpers/kurento.js';
import { RawClient, call, eventValue, isEvent, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine();
});

after(async () => {
  await engine.close();
});

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

function errorOf(response: Json): { code: number; message: string; data?: { type: string } } {
  return response.error as { code: number; message: string; data?: { type: string } };
}

test('create, describe, invoke and release round-trip through kurento-client', async () => {
  const client = await connectKurento(engine.url);
  try {
    const pipeline = await client.create('MediaPipeline');
    assert.match(pipeline.id, new RegExp(`^${UUID}_kurento\\.MediaPipeline$`));
    const endpoint = await pipeline.create('WebRtcEndpoint');
    assert.match(endpoint.id, new RegExp(`^${pipeline.id}/${UUID}_kurento\\.WebRtcEndpoint$`));
    assert.equal(await endpoint.getName(), endpoint.id);
    await endpoint.setName('camera-1');
    assert.equal(await endpoint.getName(), 'camera-1');
    const parent = await endpoint.getParent();
    assert.equal((parent as unknown as { id: string }).id, pipeline.id);
    const mp = await endpoint.getMediaPipeline();
    assert.equal(mp.id, pipeline.id);
    const children = (await pipeline.getChildren()) as Array<{ id: string }>;
    assert.deepEqual(
      children.map((c) => c.id),
      [endpoint.id],
    );
    const creationTime = await endpoint.getCreationTime();
    assert.ok(Math.abs(creationTime - Date.now() / 1000) < 60);
    await call(endpoint, 'setMaxVideoRecvBandwidth', 700);
    assert.equal(await call(endpoint, 'getMaxVideoRecvBandwidth'), 700);
    await endpoint.setStunServerAddress('127.0.0.1');
    await endpoint.setStunServerPort(3478);
    assert.equal(await endpoint.getStunServerAddress(), '127.0.0.1');
    assert.equal(await endpoint.getStunServerPort(), 3478);
    await endpoint.addTag('room', 'a');
    assert.equal(await endpoint.getTag('room'), 'a');
    const tags = (await endpoint.getTags()) as Array<{ key: string; value: string }>;
    assert.deepEqual(
      tags.map((t) => [t.key, t.value]),
      [['room', 'a']],
    );
    await pipeline.release();
  } finally {
    client.close();
  }
});

test('describe reports type, qualifiedType and the ancestors-only hierarchy', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const endpoint = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  const described = await raw.ok('describe', { object: endpoint });
  assert.equal(described.type, 'WebRtcEndpoint');
  assert.equal(described.qualifiedType, 'kurento.WebRtcEndpoint');
  assert.deepEqual(described.hierarchy, [
    'kurento.BaseRtpEndpoint',
    'kurento.SdpEndpoint',
    'kurento.SessionEndpoint',
    'kurento.Endpoint',
    'kurento.MediaElement',
    'kurento.MediaObject',
  ]);
  assert.deepEqual((await raw.ok('describe', { object: pipeline })).hierarchy, [
    'kurento.MediaObject',
  ]);
  assert.deepEqual((await raw.ok('describe', { object: 'manager_ServerManager' })).hierarchy, [
    'kurento.MediaObject',
  ]);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

/**
 * `kurento.X` typed as X: the typings list plain names only, while kurento-client itself maps
 * the qualified name to the same class at run time.
 */
function qualified<T extends string>(type: T): T {
  return `kurento.${type}` as T;
}

test('every class is also created by its module-qualified name (kurento.X), as Kurento registers both', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'kurento.MediaPipeline' })).value as string;
  for (const type of [
    'WebRtcEndpoint',
    'RtpEndpoint',
    'Composite',
    'Dispatcher',
    'PlayerEndpoint',
  ]) {
    const constructorParams: Json = { mediaPipeline: pipeline };
    if (type === 'PlayerEndpoint') constructorParams.uri = 'file:///nonexistent/clip.mp4';
    const id = (await raw.ok('create', { type: `kurento.${type}`, constructorParams }))
      .value as string;
    const described = await raw.ok('describe', { object: id });
    assert.equal(described.type, type);
    assert.equal(described.qualifiedType, `kurento.${type}`);
  }
  // An unknown module or class is still refused, naming what was asked for.
  for (const type of ['kurento.NoSuchEndpoint', 'other.WebRtcEndpoint']) {
    const failure = await raw.call('create', {
      type,
      constructorParams: { mediaPipeline: pipeline },
    });
    assert.equal((failure.error as { code: number }).code, 40108);
    assert.match(
      (failure.error as { message: string }).message,
      new RegExp(`Factory '${type}' not found`),
    );
  }
  await raw.ok('release', { object: pipeline });
  await raw.close();

  // kurento-client maps the qualified name to its own class too.
  const client = await connectKurento(engine.url);
  try {
    const clientPipeline = await client.create(qualified('MediaPipeline'));
    const endpoint = await clientPipeline.create(qualified('WebRtcEndpoint'));
    assert.match(await endpoint.generateOffer(), /^v=0/);
    await clientPipeline.release();
  } finally {
    client.close();
  }
});

test('error codes: 40101, 40108, 40008, 40001, 40110 and void results are null', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;

  const notFound = await raw.call('invoke', {
    object: 'nope_kurento.MediaPipeline',
    operation: 'getName',
  });
  assert.equal(errorOf(notFound).code, 40101);
  assert.equal(errorOf(notFound).message, "Object 'nope_kurento.MediaPipeline' not found");
  assert.equal(errorOf(notFound).data?.type, 'MEDIA_OBJECT_NOT_FOUND');
  assert.equal(errorOf(await raw.call('describe', { object: 'nope' })).code, 40101);

  const noFactory = await raw.call('create', {
    type: 'NoSuchElement',
    constructorParams: { mediaPipeline: pipeline },
  });
  assert.equal(errorOf(noFactory).code, 40108);
  assert.equal(errorOf(noFactory).message, "Factory 'NoSuchElement' not found");

  const unknownOp = await raw.call('invoke', {
    object: pipeline,
    operation: 'foo',
    operationParams: { a: 1, b: 2 },
  });
  assert.equal(errorOf(unknownOp).code, 40008);
  assert.equal(errorOf(unknownOp).message, "Method 'foo' with 2 parameters not found");

  const badName = await raw.call('invoke', {
    object: pipeline,
    operation: 'setName',
    operationParams: { name: 5 },
  });
  assert.equal(errorOf(badName).code, 40001);
  assert.equal(errorOf(badName).message, "'name' parameter should be a string");
  assert.equal(errorOf(badName).data?.type, 'MARSHALL_ERROR');

  const noCtor = await raw.call('create', { type: 'WebRtcEndpoint' });
  assert.equal(errorOf(noCtor).code, 40001);
  assert.equal(errorOf(noCtor).message, "'constructorParams' is required");

  const badPipeline = await raw.call('create', {
    type: 'WebRtcEndpoint',
    constructorParams: { mediaPipeline: 'ghost' },
  });
  assert.equal(errorOf(badPipeline).code, 40101);

  const endpoint = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  const badPort = await raw.call('invoke', {
    object: endpoint,
    operation: 'setStunServerPort',
    operationParams: { stunServerPort: 'x' },
  });
  assert.equal(
    errorOf(badPort).message,
    "'stunServerPort' parameter should be a integer".replace('a integer', 'a integer'),
  );
  const badBool = await raw.call('invoke', {
    object: endpoint,
    operation: 'setIceTcp',
    operationParams: { iceTcp: 1 },
  });
  assert.equal(errorOf(badBool).message, "'iceTcp' parameter should be a boolean");
  const badEnum = await raw.call('invoke', {
    object: endpoint,
    operation: 'isMediaFlowingIn',
    operationParams: { mediaType: 'SMELL' },
  });
  assert.equal(errorOf(badEnum).message, "Invalid value for 'MediaType'");
  const noParams = await raw.call('invoke', { object: endpoint, operation: 'processOffer' });
  assert.equal(errorOf(noParams).message, "'operationParams' is required");

  const tag = await raw.call('invoke', {
    object: pipeline,
    operation: 'getTag',
    operationParams: { key: 'missing' },
  });
  assert.equal(errorOf(tag).code, 40110);
  const removed = await raw.ok('invoke', {
    object: pipeline,
    operation: 'removeTag',
    operationParams: { key: 'missing' },
  });
  assert.equal(removed.value, null);

  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('release cascades from the pipeline to its children with ObjectDestroyed, and ObjectCreated is raised', async () => {
  const raw = await RawClient.open(engine.url);
  await raw.ok('subscribe', { object: 'manager_ServerManager', type: 'ObjectCreated' });
  await raw.ok('subscribe', { object: 'manager_ServerManager', type: 'ObjectDestroyed' });
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const a = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  const b = (
    await raw.ok('create', {
      type: 'PlayerEndpoint',
      constructorParams: { mediaPipeline: pipeline, uri: 'file:///tmp/x.webm' },
    })
  ).value as string;
  const created = await raw.waitEvent(
    (e) => isEvent('ObjectCreated')(e) && eventValue(e).data.object === b,
  );
  assert.equal(eventValue(created).object, 'manager_ServerManager');
  assert.equal(eventValue(created).data.type, undefined);
  assert.equal(typeof eventValue(created).data.timestampMillis, 'string');

  const released = await raw.ok('release', { object: pipeline });
  assert.deepEqual(Object.keys(released), ['sessionId']);
  for (const id of [a, b, pipeline]) {
    await raw.waitEvent((e) => isEvent('ObjectDestroyed')(e) && eventValue(e).data.objectId === id);
    assert.equal(
      errorOf(await raw.call('invoke', { object: id, operation: 'getName' })).code,
      40101,
    );
  }
  // Releasing again, or releasing something unknown, still succeeds.
  assert.ok((await raw.ok('release', { object: pipeline })).sessionId);
  assert.ok((await raw.ok('release', { object: 'never-existed' })).sessionId);
  const pipelines = await raw.ok('invoke', {
    object: 'manager_ServerManager',
    operation: 'getPipelines',
  });
  assert.ok(!(pipelines.value as string[]).includes(pipeline));
  await raw.close();
});

test('kurento-client: releasing an element removes it from its pipeline children', async () => {
  const client = await connectKurento(engine.url);
  try {
    const pipeline = await client.create('MediaPipeline');
    const a = await pipeline.create('WebRtcEndpoint');
    const b = await pipeline.create('WebRtcEndpoint');
    await a.release();
    const children = (await pipeline.getChildren()) as Array<{ id: string }>;
    assert.deepEqual(
      children.map((c) => c.id),
      [b.id],
    );
    await pipeline.release();
    await assert.rejects(
      client.getMediaobjectById(b.id),
      (error: Error & { code?: number }) => error.code === 40101,
    );
  } finally {
    client.close();
  }
});
