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

function errorOf(response: Json): { code: number; message: string } {
  return response.error as { code: number; message: string };
}

async function create(raw: RawClient, type: string, constructorParams: Json): Promise<string> {
  return (await raw.ok('create', { type, constructorParams })).value as string;
}

function invoke(raw: RawClient, object: string, operation: string, operationParams: Json = {}) {
  return raw.call('invoke', { object, operation, operationParams });
}

test('describe gives HubPort the MediaElement hierarchy and every hub the Hub hierarchy', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  try {
    for (const type of ['Composite', 'AlphaBlending', 'Dispatcher', 'DispatcherOneToMany']) {
      const hub = await create(raw, type, { mediaPipeline: pipeline });
      const port = await create(raw, 'HubPort', { hub });
      const described = await raw.ok('describe', { object: hub });
      assert.equal(described.type, type);
      assert.equal(described.qualifiedType, `kurento.${type}`);
      assert.deepEqual(described.hierarchy, ['kurento.Hub', 'kurento.MediaObject']);
      const port_ = await raw.ok('describe', { object: port });
      assert.equal(port_.qualifiedType, 'kurento.HubPort');
      assert.deepEqual(port_.hierarchy, ['kurento.MediaElement', 'kurento.MediaObject']);
    }
  } finally {
    await raw.ok('release', { object: pipeline });
    await raw.close();
  }
});

test('a port of another hub cannot be connected, set as source or placed (40004)', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  try {
    const dispatcher = await create(raw, 'Dispatcher', { mediaPipeline: pipeline });
    const other = await create(raw, 'Dispatcher', { mediaPipeline: pipeline });
    const own = await create(raw, 'HubPort', { hub: dispatcher });
    const foreign = await create(raw, 'HubPort', { hub: other });
    const connect = errorOf(
      await invoke(raw, dispatcher, 'connect', { source: foreign, sink: own }),
    );
    assert.deepEqual([connect.code, connect.message], [40004, 'Can not connect ports']);
    assert.equal(
      (await invoke(raw, dispatcher, 'connect', { source: own, sink: own })).error,
      undefined,
    );

    const oneToMany = await create(raw, 'DispatcherOneToMany', { mediaPipeline: pipeline });
    assert.equal(
      errorOf(await invoke(raw, oneToMany, 'setSource', { source: foreign })).code,
      40004,
    );

    const alpha = await create(raw, 'AlphaBlending', { mediaPipeline: pipeline });
    assert.equal(
      errorOf(await invoke(raw, alpha, 'setMaster', { source: foreign, zOrder: 1 })).code,
      40004,
    );
  } finally {
    await raw.ok('release', { object: pipeline });
    await raw.close();
  }
});

test('releasing a hub releases its ports (ObjectDestroyed, then 40101)', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  try {
    await raw.ok('subscribe', { object: 'manager_ServerManager', type: 'ObjectDestroyed' });
    const hub = await create(raw, 'Composite', { mediaPipeline: pipeline });
    const ports = [await create(raw, 'HubPort', { hub }), await create(raw, 'HubPort', { hub })];
    const children = (await invoke(raw, hub, 'getChildren')).result as Json;
    assert.deepEqual([...(children.value as string[])].sort(), [...ports].sort());
    await raw.ok('release', { object: hub });
    for (const id of [...ports, hub]) {
      await raw.waitEvent(
        (e) => isEvent('ObjectDestroyed')(e) && eventValue(e).data.objectId === id,
      );
      assert.equal(errorOf(await invoke(raw, id, 'getName')).code, 40101);
    }
    // The pipeline and its worker live on: a new hub works.
    const again = await create(raw, 'Dispatcher', { mediaPipeline: pipeline });
    await create(raw, 'HubPort', { hub: again });
  } finally {
    await raw.ok('release', { object: pipeline });
    await raw.close();
  }
});

/** A Composite's GStreamer graph, where its output caps can be read. */
async function compositeCaps(raw: RawClient, hub: string): Promise<string> {
  const dot = (await invoke(raw, hub, 'getGstreamerDot')).result as Json;
  // The output capsfilter's caps property (cut short after the size in the graph).
  const match = /video\/x-raw, format=\(string\)I420, width=\(int\)\d+, height=\(int\)\d+/.exec(
    String(dot.value),
  );
  assert.ok(match, 'the composite output caps appear in its graph');
  return match[0];
}

test('a Composite outputs 1280x720 by default and the size it is given', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  try {
    const byDefault = await compositeCaps(
      raw,
      await create(raw, 'Composite', { mediaPipeline: pipeline }),
    );
    assert.match(byDefault, /width=\(int\)1280/);
    assert.match(byDefault, /height=\(int\)720/);
    const given = await compositeCaps(
      raw,
      await create(raw, 'Composite', {
        mediaPipeline: pipeline,
        width: 320,
        height: 240,
        framerate: 15,
      }),
    );
    assert.match(given, /width=\(int\)320/);
    assert.match(given, /height=\(int\)240/);
  } finally {
    await raw.ok('release', { object: pipeline });
    await raw.close();
  }
});
