import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import kurento from 'kurento-client';
import { fakeKurentoServer, findFreePort } from './servers.js';

function methodOf(text: string): string {
  return (JSON.parse(text) as { method: string }).method;
}

interface ConnectParams {
  sessionId?: string;
}

test('kurento-client 7.2.0 connects through reconnect-ws and resumes its session after a server restart', async (t) => {
  const server = fakeKurentoServer(await findFreePort());
  await server.start();
  // kurento-jsonrpc remembers every response for duplicates_timeout (20 s by default) with a
  // timer that keeps the process alive; a short one lets this test file exit promptly.
  const client = await kurento(server.url, { failAfter: 50, duplicates_timeout: 200 });
  // Close the client before the server goes away, or it would start reconnecting again.
  t.after(async () => {
    client.close();
    await server.stop();
  });

  // The strict module check runs after the connection opens: describe, then getInfo.
  await server.waitForFrame((frame) => methodOf(frame.text) === 'invoke');
  const methods = server.frames.map((frame) => methodOf(frame.text));
  assert.ok(methods.includes('describe'));
  assert.ok(methods.includes('invoke'));
  assert.ok(
    server.frames.every((frame) => !frame.isBinary),
    'every frame is a text frame',
  );
  assert.ok(!methods.includes('connect'), 'a first connection does not resume a session');

  await server.stop();
  server.frames.length = 0;
  await server.start();

  const frame = await server.waitForFrame(
    (candidate) => methodOf(candidate.text) === 'connect',
    10_000,
  );
  const request = JSON.parse(frame.text) as { params: ConnectParams };
  assert.deepEqual(request.params, { sessionId: 'session-1' });
  assert.equal(frame.isBinary, false);
  assert.equal(server.connections, 2);

  // The resumed connection carries requests again.
  const serverManager = await client.getServerManager();
  assert.ok(serverManager);
});

test('kurento-client started before the server is up connects once it appears, as a new session', async (t) => {
  const server = fakeKurentoServer(await findFreePort());
  const connecting = kurento(server.url, { failAfter: 50, duplicates_timeout: 200 });
  await sleep(300);
  await server.start();
  const client = await connecting;
  t.after(async () => {
    client.close();
    await server.stop();
  });

  await server.waitForFrame((frame) => methodOf(frame.text) === 'invoke');
  const methods = server.frames.map((frame) => methodOf(frame.text));
  // Retries of a connection that never opened are not reconnections: no session to resume.
  assert.ok(!methods.includes('connect'));
  assert.equal(server.connections, 1);
});
