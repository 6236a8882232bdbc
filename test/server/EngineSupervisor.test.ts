import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { EngineSupervisor, waitForPort } from '../../server/engine/EngineSupervisor.js';
import { REPO_ROOT } from '../helpers/engineProcess.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The real media engine, as `npm start` supervises it, on a free loopback port. */
async function supervisedEngine(): Promise<{ supervisor: EngineSupervisor; port: number }> {
  const port = await freePort();
  const supervisor = new EngineSupervisor(
    {
      command: process.execPath,
      args: [path.join(REPO_ROOT, 'dist/kms/src/main.js')],
      cwd: REPO_ROOT,
      env: { ...process.env, KMS_HOST: '127.0.0.1', KMS_PORT: String(port) },
    },
    { initialDelayMs: 50, maxDelayMs: 200, healthyAfterMs: 10_000, stopTimeoutMs: 2000 },
  );
  return { supervisor, port };
}

test('a crashed engine is restarted and accepts connections again', async (t) => {
  const { supervisor, port } = await supervisedEngine();
  t.after(() => supervisor.stop());
  supervisor.start();
  await waitForPort('127.0.0.1', port, 10_000);
  const firstPid = supervisor.pid;
  assert.ok(firstPid !== undefined);

  const crashed = once(supervisor, 'crashed', { signal: AbortSignal.timeout(5000) });
  const respawned = once(supervisor, 'spawned', { signal: AbortSignal.timeout(5000) });
  process.kill(firstPid, 'SIGKILL');
  const [code, signal, delayMs] = (await crashed) as [number | null, string | null, number];
  assert.equal(code, null);
  assert.equal(signal, 'SIGKILL');
  assert.equal(delayMs, 50);
  const [secondPid] = (await respawned) as [number];
  assert.notEqual(secondPid, firstPid);
  await waitForPort('127.0.0.1', port, 10_000);
});

test('stop() ends the engine and it is not restarted', async () => {
  const { supervisor, port } = await supervisedEngine();
  let restarts = 0;
  supervisor.on('crashed', () => (restarts += 1));
  supervisor.start();
  await waitForPort('127.0.0.1', port, 10_000);
  const pid = supervisor.pid;
  assert.ok(pid !== undefined);

  await supervisor.stop();
  assert.equal(isRunning(pid), false);
  assert.equal(supervisor.pid, undefined);
  await assert.rejects(waitForPort('127.0.0.1', port, 300), /nothing accepted connections/);
  assert.equal(restarts, 0);
  // Stopping twice is harmless.
  await supervisor.stop();
});
