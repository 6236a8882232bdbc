import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KurentoError } from '../../kms/src/rpc/KurentoError.js';
import type { WorkerSettings } from '../../kms/src/worker/Worker.js';
import { WorkerPool } from '../../kms/src/worker/WorkerPool.js';
import { workerPids } from '../helpers/engineProcess.js';
import { REAL_WORKER, waitUntil } from './helpers.js';

/** The real worker, started by a shell that first sleeps: a start that takes `seconds`. */
function slowSettings(seconds: number): WorkerSettings {
  return {
    command: '/bin/sh',
    prefixArgs: ['-c', `sleep ${seconds}; exec "$0" "$@"`, REAL_WORKER],
    iceAddresses: ['127.0.0.1'],
    stun: undefined,
    turn: undefined,
    jitterBufferMs: 20,
    logPrefix: '[pool test worker]',
    startTimeoutMs: 30_000,
    requestTimeoutMs: 0,
  };
}

test('a create beyond the starts under way fails after the queue time with 40009 naming KMS_PIPELINE_QUEUE_MS; the one a start reaches gets its worker however slow', async () => {
  const pool = new WorkerPool({
    settings: slowSettings(2),
    warm: 0,
    maxStarting: 1,
    queueMs: 200,
  });
  try {
    const started = Date.now();
    const first = pool.acquire();
    const second = pool.acquire();
    await assert.rejects(second, (error: unknown) => {
      assert.ok(error instanceof KurentoError);
      assert.equal(error.code, 40009);
      assert.match(error.message, /within 200 ms \(KMS_PIPELINE_QUEUE_MS\)/);
      assert.match(error.message, /KMS_WORKER_START_CONCURRENCY/);
      return true;
    });
    assert.ok(Date.now() - started < 1900, 'refused before the slow start ended');
    const worker = await first;
    assert.ok(Date.now() - started >= 1900, 'the first waited for its start');
    assert.deepEqual(await worker.request('worker.ping'), {});
    assert.deepEqual(pool.idlePids(), [], 'no warm pool was asked for');
    await worker.close();
  } finally {
    await pool.close();
  }
  assert.deepEqual(await workerPids(process.pid), []);
});

test('close() ends the warm workers and the ones still starting, and later acquires fail', async () => {
  const pool = new WorkerPool({ settings: slowSettings(1), warm: 2, maxStarting: 2, queueMs: 100 });
  // The two warm starts are under way (sleeping in their shell); close() must wait for them
  // to become workers and end those, or they would run on unowned.
  const closing = Date.now();
  await pool.close();
  assert.ok(Date.now() - closing >= 900, 'close() waited for the starts under way');
  assert.deepEqual(await workerPids(process.pid), [], 'nothing outlives close()');
  await assert.rejects(pool.acquire(), /shutting down/);

  const warm = new WorkerPool({ settings: slowSettings(0), warm: 2, maxStarting: 2, queueMs: 100 });
  await waitUntil('two warm workers', () => warm.idlePids().length === 2, 30_000);
  const pids = warm.idlePids();
  await warm.close();
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), `warm worker ${pid} runs on`);
});
