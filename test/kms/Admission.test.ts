/**
 * Admission (issue 10): a MediaPipeline is a worker process, so the engine runs at most
 * KMS_MAX_PIPELINES of them. A create over the limit fails at once with Kurento's 40009
 * NOT_ENOUGH_RESOURCES naming the limit; a burst cannot overshoot (pipelines still starting
 * count), nothing half-built stays behind, a released pipeline frees its place, and the engine
 * answers ping throughout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { loadConfig } from '../../kms/src/config.js';
import { RawClient, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine({ maxPipelines: 2 });
});

after(async () => {
  await engine?.close();
});

test('a burst of creates over KMS_MAX_PIPELINES gets 40009 at once for the extra ones, and a release frees a place', async () => {
  const raw = await RawClient.open(engine.url);
  const started = Date.now();
  const replies = await Promise.all(
    Array.from({ length: 5 }, () => raw.call('create', { type: 'MediaPipeline' })),
  );
  const created = replies.filter((reply) => reply.result !== undefined);
  const refused = replies.filter((reply) => reply.error !== undefined);
  assert.equal(created.length, 2, 'the limit, not more');
  assert.equal(refused.length, 3);
  for (const reply of refused) {
    const error = reply.error as { code: number; message: string };
    assert.equal(error.code, 40009);
    assert.match(error.message, /at most 2 \(KMS_MAX_PIPELINES\)/);
  }
  assert.equal((await raw.ok('ping')).value, 'pong');
  const pipelines = (
    await raw.ok('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' })
  ).value as string[];
  assert.equal(pipelines.length, 2, 'nothing half-built behind the refusals');
  assert.ok(Date.now() - started < 30_000);

  const first = (created[0]?.result as Json).value as string;
  await raw.ok('release', { object: first });
  const again = await raw.ok('create', { type: 'MediaPipeline' });
  assert.equal(typeof again.value, 'string');
  for (const id of [(created[1]?.result as Json).value, again.value]) {
    await raw.ok('release', { object: id as string });
  }
  await raw.close();
});

test('KMS_MAX_PIPELINES defaults to 100, 0 turns the limit off, other values are refused', () => {
  assert.equal(loadConfig({}, '/nonexistent/.env').maxPipelines, 100);
  assert.equal(loadConfig({ KMS_MAX_PIPELINES: '0' }, '/nonexistent/.env').maxPipelines, 0);
  assert.throws(
    () => loadConfig({ KMS_MAX_PIPELINES: 'many' }, '/nonexistent/.env'),
    /KMS_MAX_PIPELINES=many is invalid/,
  );
});
