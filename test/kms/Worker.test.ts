import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Worker, type WorkerSettings } from '../../kms/src/worker/Worker.js';
import {
  ChannelClosedError,
  MissingPluginError,
  WorkerError,
  WorkerStartError,
  WorkerTimeoutError,
  SdpError,
} from '../../kms/src/worker/errors.js';
import { REAL_WORKER } from './helpers.js';

function settings(
  command = REAL_WORKER,
  prefixArgs: string[] = [],
  requestTimeoutMs = 0,
): WorkerSettings {
  return {
    command,
    prefixArgs,
    iceAddresses: ['127.0.0.1'],
    stun: undefined,
    turn: undefined,
    jitterBufferMs: 20,
    logPrefix: '[test worker]',
    startTimeoutMs: 10_000,
    requestTimeoutMs,
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a pending request is rejected with ChannelClosedError when the worker dies, and died is emitted', async () => {
  const worker = await Worker.start(settings());
  const pid = worker.pid ?? 0;
  const died = new Promise<WorkerError>((resolve) => worker.once('died', resolve));
  // A stopped worker cannot answer, so the request is certainly pending when it is killed.
  process.kill(pid, 'SIGSTOP');
  const pending = worker.request('worker.ping');
  process.kill(pid, 'SIGKILL');
  await assert.rejects(pending, ChannelClosedError);
  const error = await died;
  assert.match(error.message, /SIGKILL/);
  await assert.rejects(worker.request('worker.ping'), ChannelClosedError);
  await worker.close();
});

test('a worker that leaves a request unanswered past the request timeout is killed, and died is emitted', async () => {
  const worker = await Worker.start(settings(REAL_WORKER, [], 1500));
  const pid = worker.pid;
  // A working worker answers well within the timeout...
  assert.deepEqual(await worker.request('worker.ping'), {});
  const died = new Promise<WorkerError>((resolve) => worker.once('died', resolve));
  // ...a stopped one (as a deadlocked one) never does.
  process.kill(pid, 'SIGSTOP');
  const startedAt = Date.now();
  await assert.rejects(worker.request('worker.ping'), (error: unknown) => {
    assert.ok(error instanceof WorkerTimeoutError, String(error));
    assert.match(error.message, /worker\.ping: the media worker did not answer within 1500 ms/);
    return true;
  });
  assert.ok(Date.now() - startedAt >= 1400, 'the request waited for the timeout');
  const error = await died;
  assert.match(error.message, /SIGKILL/);
  assert.equal(isRunning(pid), false, 'the hung worker is gone');
  await assert.rejects(worker.request('worker.ping'), ChannelClosedError);
  await worker.close();
});

test('worker error names come back as typed errors', async () => {
  const worker = await Worker.start(settings());
  await worker.request('element.create', { id: 'e1', type: 'WebRtcEndpoint', options: {} });
  await assert.rejects(worker.request('webrtc.processOffer', { id: 'e1', offer: 'bad' }), SdpError);
  assert.deepEqual(await worker.request('worker.ping'), {});
  await worker.close();
  await worker.close();
});

test('exit code 42 becomes MissingPluginError naming the plugins', async () => {
  // The real worker, run where GStreamer finds no plugins at all: an empty plugin path and a
  // fresh registry file, so nothing cached elsewhere can satisfy the plugin check.
  const empty = mkdtempSync(path.join(tmpdir(), 'montage-no-plugins-'));
  try {
    const hidden = settings('/usr/bin/env', [
      `GST_PLUGIN_SYSTEM_PATH_1_0=${empty}`,
      `GST_PLUGIN_PATH_1_0=${empty}`,
      `GST_REGISTRY_1_0=${path.join(empty, 'registry.bin')}`,
      REAL_WORKER,
    ]);
    await assert.rejects(Worker.start(hidden), (error: unknown) => {
      assert.ok(error instanceof MissingPluginError, String(error));
      assert.ok(error.plugins.includes('webrtcbin'), error.plugins.join(', '));
      assert.ok(error.plugins.includes('vp8enc'), error.plugins.join(', '));
      assert.match(error.message, new RegExp(error.plugins.join(', ')));
      return true;
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('a missing worker binary gives WorkerStartError', async () => {
  await assert.rejects(Worker.start(settings('/nonexistent/montage-worker')), WorkerStartError);
});

test('close() ends a worker that ignores EOF by killing it', async () => {
  const worker = await Worker.start(settings());
  const pid = worker.pid ?? 0;
  // A stopped worker never sees the EOF on fd 3, like one stuck in a GStreamer call.
  process.kill(pid, 'SIGSTOP');
  const started = Date.now();
  await worker.close();
  const took = Date.now() - started;
  // Only the SIGKILL after the grace period can end it, so close() takes at least that long.
  assert.ok(took >= 1900 && took < 5000, `close() took ${took} ms`);
  assert.equal(isRunning(pid), false);
});
