import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker, type WorkerSettings } from '../../kms/src/worker/Worker.js';
import {
  ChannelClosedError,
  MissingPluginError,
  WorkerError,
  WorkerStartError,
  SdpError,
} from '../../kms/src/worker/errors.js';
import { FAKE_WORKER } from './helpers.js';

function settings(prefixArgs: string[], command = process.execPath): WorkerSettings {
  return {
    command,
    prefixArgs,
    iceAddresses: ['127.0.0.1'],
    stun: undefined,
    turn: undefined,
    logPrefix: '[test worker]',
    startTimeoutMs: 5000,
  };
}

/** A worker that reports running and then never answers. */
const SILENT = `
const fs = require('node:fs');
fs.writeSync(4, JSON.stringify({ event: 'running', data: { pid: process.pid } }) + '\\n');
fs.createReadStream('', { fd: 3 }).on('data', () => {});
setInterval(() => {}, 1000);
`;

test('a pending request is rejected with ChannelClosedError when the worker dies, and died is emitted', async () => {
  const worker = await Worker.start(settings(['-e', SILENT, '--']));
  const died = new Promise<WorkerError>((resolve) => worker.once('died', resolve));
  const pending = worker.request('worker.ping');
  process.kill(worker.pid ?? 0, 'SIGKILL');
  await assert.rejects(pending, ChannelClosedError);
  const error = await died;
  assert.match(error.message, /SIGKILL/);
  await assert.rejects(worker.request('worker.ping'), ChannelClosedError);
  await worker.close();
});

test('worker error names come back as typed errors', async () => {
  const worker = await Worker.start(settings([FAKE_WORKER]));
  await worker.request('element.create', { id: 'e1', type: 'WebRtcEndpoint', options: {} });
  await assert.rejects(worker.request('webrtc.processOffer', { id: 'e1', offer: 'bad' }), SdpError);
  assert.deepEqual(await worker.request('worker.ping'), {});
  await worker.close();
  await worker.close();
});

test('exit code 42 becomes MissingPluginError naming the plugins', async () => {
  const script =
    "process.stderr.write('missing plugin: webrtcbin\\nmissing plugin: vp8enc\\n'); setTimeout(() => process.exit(42), 50);";
  await assert.rejects(Worker.start(settings(['-e', script, '--'])), (error: unknown) => {
    assert.ok(error instanceof MissingPluginError);
    assert.deepEqual(error.plugins, ['webrtcbin', 'vp8enc']);
    assert.match(error.message, /webrtcbin, vp8enc/);
    return true;
  });
});

test('a missing worker binary gives WorkerStartError', async () => {
  await assert.rejects(Worker.start(settings([], '/nonexistent/montage-worker')), WorkerStartError);
});

test('close() ends a worker that ignores EOF by killing it', async () => {
  const stubborn = SILENT.replace(
    "on('data', () => {})",
    "on('data', () => {}).on('end', () => {})",
  );
  const worker = await Worker.start(settings(['-e', stubborn, '--']));
  const started = Date.now();
  await worker.close();
  assert.ok(Date.now() - started < 5000);
  assert.throws(() => process.kill(worker.pid ?? 0, 0));
});
