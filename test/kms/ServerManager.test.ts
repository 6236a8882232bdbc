import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { connectKurento } from '../helpers/kurento.js';
import { RawClient, startTestEngine } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine();
});

after(async () => {
  await engine.close();
});

interface ModuleInfo {
  name: string;
  factories: string[];
  __type__: string;
}

test('kurento-client connects in strict mode and getInfo lists core, elements and filters', async () => {
  const client = await connectKurento(engine.url);
  try {
    const manager = await client.getServerManager();
    const info = (await manager.getInfo()) as unknown as {
      type: string;
      modules: ModuleInfo[];
      __type__: string;
    };
    assert.equal(info.type, 'KMS');
    assert.equal(info.__type__, 'ServerInfo');
    const byName = new Map(info.modules.map((m) => [m.name, m]));
    assert.deepEqual([...byName.keys()].sort(), ['core', 'elements', 'filters']);
    // Kurento's own module split: HubPort and PassThrough are core; hubs and endpoints are elements.
    assert.deepEqual(byName.get('core')?.factories, ['HubPort', 'MediaPipeline', 'PassThrough']);
    assert.deepEqual(byName.get('elements')?.factories, [
      'AlphaBlending',
      'Composite',
      'Dispatcher',
      'DispatcherOneToMany',
      'HttpPostEndpoint',
      'PlayerEndpoint',
      'RecorderEndpoint',
      'RtpEndpoint',
      'WebRtcEndpoint',
    ]);
    assert.deepEqual(byName.get('filters')?.factories, [
      'FaceOverlayFilter',
      'GStreamerFilter',
      'ImageOverlayFilter',
      'ZBarFilter',
    ]);
    assert.equal(byName.get('core')?.__type__, 'ModuleInfo');
  } finally {
    client.close();
  }
});

test('ServerManager reports pipelines, sessions, cpu, memory, kmd and metadata', async () => {
  const client = await connectKurento(engine.url);
  try {
    const manager = await client.getServerManager();
    const pipeline = await client.create('MediaPipeline');
    const pipelines = (await manager.getPipelines()) as unknown as Array<{ id: string }>;
    assert.ok(pipelines.some((p) => p.id === pipeline.id));
    const sessions = await manager.getSessions();
    assert.equal(sessions.length >= 1, true);
    const cpus = await manager.getCpuCount();
    assert.ok(Number.isInteger(cpus) && cpus > 0);
    const used = await manager.getUsedCpu(100);
    assert.ok(used >= 0 && used <= 100);
    const memory = await manager.getUsedMemory();
    assert.ok(memory > 0);
    const kmd = JSON.parse(await manager.getKmd('elements')) as { name: string };
    assert.equal(kmd.name, 'elements');
    assert.equal(await manager.getMetadata(), '');
    await pipeline.release();
  } finally {
    client.close();
  }
});

test('getKmd of an unknown module fails with 40500', async () => {
  const raw = await RawClient.open(engine.url);
  const response = await raw.call('invoke', {
    object: 'manager_ServerManager',
    operation: 'getKmd',
    operationParams: { moduleName: 'nope' },
  });
  assert.equal((response.error as { code: number }).code, 40500);
  await raw.close();
});
