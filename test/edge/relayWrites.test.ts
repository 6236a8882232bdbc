/**
 * The origin's push relay to an edge must survive the edge dropping the connection: a packet
 * or heartbeat sent between the socket closing and its close event made node-media-server
 * throw "RTMP client socket is not writable" outside any handler, and the app died with the
 * edge. The real relay client against a loopback TCP server that the test closes under it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { guardRelayWrites } from '../../server/origin/guardRelayWrites.js';
import {
  RtmpClientSession,
  type NmsRtmpClientSession,
} from '../../server/origin/nodeMediaServer.js';

let server: Server;
let port: number;
const accepted: Socket[] = [];

before(async () => {
  // An "edge" that accepts and says nothing: the relay's socket is open, its handshake pending.
  server = createServer((socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  for (const socket of accepted) socket.destroy();
  server.close();
  await once(server, 'close');
});

/** A push relay whose client socket is connected to the test server. */
async function connectedRelay(guarded: boolean): Promise<NmsRtmpClientSession> {
  const push = new RtmpClientSession({
    url: `rtmp://127.0.0.1:${port}/hls/relay-test`,
    mode: 'push',
    streamPath: '/live/relay-test',
    reconnect: false,
  });
  if (guarded) guardRelayWrites(push);
  const connection = once(server, 'connection');
  void push.run();
  await connection;
  const deadline = Date.now() + 30_000;
  while (push.rtmpClient.socket?.readyState !== 'open') {
    assert.ok(Date.now() < deadline, 'the relay never connected');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return push;
}

/** Destroy the relay's socket and write in the same tick, before its close event runs. */
function writeAfterDrop(push: NmsRtmpClientSession): void {
  const socket = push.rtmpClient.socket;
  assert.ok(socket !== null);
  socket.destroy();
  push.rtmpClient.onOutputCallback(Buffer.from([0x02, 0, 0, 0]));
}

test('unguarded, the relay client throws on a write after the edge drops it', async () => {
  // Proves the hazard exists in the node-media-server we ship, so the next test means something.
  const push = await connectedRelay(false);
  try {
    assert.throws(() => writeAfterDrop(push), /not writable/);
  } finally {
    push.close();
  }
});

test('guarded, a write after the edge drops the relay is dropped, and so is every reconnect', async () => {
  const push = await connectedRelay(true);
  try {
    assert.doesNotThrow(() => writeAfterDrop(push));
    // A reconnect builds a new client: the guard must cover it too.
    const next = push.createClient();
    assert.doesNotThrow(() => next.onOutputCallback(Buffer.from([0x02])));
  } finally {
    push.close();
  }
});
