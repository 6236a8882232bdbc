/**
 * The origin's push relay to an edge must survive the edge dropping the connection: a packet
 * or heartbeat sent between the socket closing and its close event made node-media-server
 * throw "RTMP client socket is not writable" outside any handler, and the app died with the
 * edge. The real relay client against a loopback TCP server that the test closes under it.
 * An edge that stops reading must not make the origin queue its stream in memory without end.
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
/** The guard's limit of unsent bytes here, and the backlogs it dropped the relay at. */
const MAX_BACKLOG = 256 * 1024;
const drops: number[] = [];

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
  if (guarded) guardRelayWrites(push, MAX_BACKLOG, (backlog) => drops.push(backlog));
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

test('guarded, a relay whose edge stops reading is dropped once its unsent backlog passes the limit', async () => {
  // The test's "edge" never reads: the kernel's buffers fill, then node queues in memory.
  const push = await connectedRelay(true);
  const socket = push.rtmpClient.socket;
  assert.ok(socket !== null);
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let largest = 0;
    // Bounded: far more than loopback's kernel buffers (a few MB each way) plus the limit.
    for (let i = 0; i < 4096 && drops.length === 0; i++) {
      push.rtmpClient.onOutputCallback(chunk);
      largest = Math.max(largest, socket.writableLength);
    }
    assert.equal(drops.length, 1, 'the relay was dropped once');
    assert.ok((drops[0] ?? 0) > MAX_BACKLOG, `dropped at ${drops[0]} bytes unsent`);
    assert.ok(largest <= MAX_BACKLOG + chunk.length, `${largest} bytes were queued at most`);
    assert.equal(socket.destroyed, true);
    // Later writes (until the close event reconnects it) are dropped, never queued or thrown.
    assert.doesNotThrow(() => push.rtmpClient.onOutputCallback(chunk));
  } finally {
    push.close();
  }
});
