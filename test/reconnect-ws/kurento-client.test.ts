import assert from 'node:assert/strict';
import { test } from 'node:test';
import kurento from 'kurento-client';
import { fakeKurentoServer, findFreePort } from './servers.js';

interface ConnectParams {
  sessionId?: string;
}

test('kurento-client 7.2.0 connects through reconnect-ws and resumes its session after a server restart', async (t) => {
  const server = fakeKurentoServer(await findFreePort());
  await server.start();
  t.after(() => server.stop());

  const client = await kurento(server.url, { failAfter: 50 });
  t.after(() => client.close());

  // The strict module check went through: describe and getInfo were answered.
  const methods = server.frames.map((frame) => (JSON.parse(frame.text) as { method: string }).method);
  assert.ok(methods.includes('describe'));
  assert.ok(methods.includes('invoke'));
  assert.ok(server.frames.every((frame) => !frame.isBinary), 'every frame is a text frame');
  assert.ok(!methods.includes('connect'), 'a first connection does not resume a session');

  await server.stop();
  server.frames.length = 0;
  await server.start();

  const frame = await server.waitForFrame(
    (candidate) => (JSON.parse(candidate.text) as { method: string }).method === 'connect',
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
