/**
 * Admission (issue 10): a MediaPipeline is a worker process, so the engine runs at most
 * KMS_MAX_PIPELINES of them. A create over the limit fails at once with Kurento's 40009
 * NOT_ENOUGH_RESOURCES naming the limit; a burst cannot overshoot (pipelines still starting
 * count), nothing half-built stays behind, a released pipeline frees its place, and the engine
 * answers ping throughout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { loadConfig } from '../../kms/src/config.js';
import { RawClient, startTestEngine, waitUntil, type Json } from './helpers.js';

let engine: RunningEngine;
/** This process's priority before any engine in it raised its protocol thread's. */
const NORMAL_PRIORITY = os.getPriority();

before(async () => {
  // A long queue: this file is about the limits, not about how fast workers start.
  engine = await startTestEngine({ maxPipelines: 2, pipelineQueueMs: 30_000 });
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

test('with KMS_MAX_CPU_PERCENT, a create while the machine is busier than the limit fails at once with 40009 naming the limit and the CPU in use, and builds nothing', async () => {
  // 1 % of the machine: one busy process on each core certainly uses more.
  const busy = Array.from({ length: os.availableParallelism() }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  const cpuEngine = await startTestEngine({ maxCpuPercent: 1 });
  const raw = await RawClient.open(cpuEngine.url);
  try {
    let refusal: Json | undefined;
    // The engine samples the CPU every second; the first refusal comes after one sample.
    await waitUntil(
      'a create to be refused for CPU',
      async () => {
        const reply = await raw.call('create', { type: 'MediaPipeline' });
        if (reply.result !== undefined) {
          await raw.ok('release', { object: (reply.result as Json).value as string });
          return false;
        }
        refusal = reply.error as Json;
        return true;
      },
      15_000,
    );
    const error = refusal as { code: number; message: string };
    assert.equal(error.code, 40009);
    const match = /CPU in use (\d+) % is over the limit of 1 % \(KMS_MAX_CPU_PERCENT\)/.exec(
      error.message,
    );
    assert.ok(match, error.message);
    assert.ok(Number(match[1]) > 1, error.message);
    const started = Date.now();
    const again = await raw.call('create', { type: 'MediaPipeline' });
    assert.equal((again.error as Json | undefined)?.code, 40009, 'still refused while busy');
    assert.ok(Date.now() - started < 1000, 'refused at once, not after a sample');
    const pipelines = (
      await raw.ok('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' })
    ).value as string[];
    assert.deepEqual(pipelines, []);
    assert.deepEqual(cpuEngine.workerPids(), []);
  } finally {
    for (const child of busy) child.kill('SIGKILL');
    await raw.close();
    await cpuEngine.close();
  }
});

test('the worker pool settings have defaults and are validated', () => {
  const config = loadConfig({}, '/nonexistent/.env');
  assert.equal(config.warmWorkers, 1);
  assert.equal(config.pipelineQueueMs, 750);
  assert.equal(config.maxCpuPercent, 0, 'CPU admission is off unless set');
  assert.ok(config.workerStartConcurrency >= 2);
  const set = loadConfig(
    {
      KMS_WARM_WORKERS: '0',
      KMS_WORKER_START_CONCURRENCY: '3',
      KMS_PIPELINE_QUEUE_MS: '2000',
      KMS_MAX_CPU_PERCENT: '85',
    },
    '/nonexistent/.env',
  );
  assert.equal(set.warmWorkers, 0);
  assert.equal(set.workerStartConcurrency, 3);
  assert.equal(set.pipelineQueueMs, 2000);
  assert.equal(set.maxCpuPercent, 85);
  assert.throws(
    () => loadConfig({ KMS_MAX_CPU_PERCENT: '150' }, '/nonexistent/.env'),
    /KMS_MAX_CPU_PERCENT=150 is invalid/,
  );
  assert.throws(
    () => loadConfig({ KMS_WORKER_START_CONCURRENCY: '0' }, '/nonexistent/.env'),
    /KMS_WORKER_START_CONCURRENCY=0 is invalid/,
  );
});

test('a warm worker is handed to the next pipeline and the pool refills behind it; with KMS_WARM_WORKERS=0 none is kept', async () => {
  const warmEngine = await startTestEngine({ warmWorkers: 1 });
  const coldEngine = await startTestEngine({ warmWorkers: 0 });
  const raw = await RawClient.open(warmEngine.url);
  try {
    await waitUntil('the warm worker', () => warmEngine.warmWorkerPids().length === 1, 30_000);
    const [warm] = warmEngine.warmWorkerPids();
    const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
    assert.deepEqual(warmEngine.workerPids(), [warm], 'the pipeline runs on the warm worker');
    await waitUntil('the pool to refill', () => warmEngine.warmWorkerPids().length === 1, 30_000);
    assert.notEqual(warmEngine.warmWorkerPids()[0], warm);
    await raw.ok('release', { object: pipeline });
    assert.deepEqual(coldEngine.warmWorkerPids(), []);
  } finally {
    await raw.close();
    await warmEngine.close();
    await coldEngine.close();
  }
});

test('media workers run at the normal priority, below the engine thread that answers clients where the OS allows raising it', async () => {
  const priorityEngine = await startTestEngine({ warmWorkers: 0 });
  const raw = await RawClient.open(priorityEngine.url);
  try {
    await raw.ok('create', { type: 'MediaPipeline' });
    const [worker] = priorityEngine.workerPids();
    assert.ok(worker !== undefined);
    // The worker was spawned after this thread's priority was raised: it must not inherit it.
    assert.equal(os.getPriority(worker), NORMAL_PRIORITY);
    // Root (as on these machines) may raise a priority; others keep the normal one.
    if (process.getuid?.() === 0) assert.ok(os.getPriority() < NORMAL_PRIORITY);
    else assert.equal(os.getPriority(), NORMAL_PRIORITY);
  } finally {
    await raw.close();
    await priorityEngine.close();
  }
});
