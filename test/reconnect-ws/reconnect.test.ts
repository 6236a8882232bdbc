import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import reconnect from 'reconnect-ws';
import { findFreePort, TestServer } from './servers.js';

const WAIT = { signal: AbortSignal.timeout(10_000) };

function echoServer(port: number): TestServer {
  return new TestServer(port, (text) => `echo:${text}`);
}

async function nextConnection(client: reconnect.Client): Promise<reconnect.Stream> {
  const [stream] = (await once(client, 'connection', { signal: AbortSignal.timeout(10_000) })) as [
    reconnect.Stream,
  ];
  return stream;
}

async function nextData(stream: reconnect.Stream): Promise<unknown> {
  const [data] = (await once(stream, 'data', { signal: AbortSignal.timeout(5000) })) as [unknown];
  return data;
}

test('the backoff is Fibonacci from 100 ms and capped at 10 s', () => {
  const delays = [1, 2, 3, 4, 5, 6, 12, 13, 50].map((n) =>
    reconnect.delayForAttempt(n, 100, 10_000),
  );
  assert.deepEqual(delays, [100, 100, 200, 300, 500, 800, 10_000, 10_000, 10_000]);
});

test('connects and exchanges text frames in both directions', async (t) => {
  const server = echoServer(await findFreePort());
  await server.start();
  t.after(() => server.stop());

  const streams: reconnect.Stream[] = [];
  const client = reconnect({}, (stream) => streams.push(stream));
  t.after(() => client.disconnect());
  const connected = nextConnection(client);
  client.connect(server.url);
  const stream = await connected;

  assert.equal(client.connected, true);
  assert.equal(client.reconnect, true);
  assert.deepEqual(streams, [stream]);

  const reply = nextData(stream);
  stream.write('{"jsonrpc":"2.0","method":"ping","id":0}');
  assert.equal(await reply, 'echo:{"jsonrpc":"2.0","method":"ping","id":0}');
  assert.deepEqual(server.frames, [
    { text: '{"jsonrpc":"2.0","method":"ping","id":0}', isBinary: false },
  ]);

  // Buffers are sent as text frames too, so a server that only reads text still understands.
  const second = nextData(stream);
  stream.write(Buffer.from('buffered'));
  assert.equal(await second, 'echo:buffered');
  assert.equal(server.frames[1]?.isBinary, false);
});

test('a refused first connect is retried until the server appears, without crashing', async (t) => {
  const server = echoServer(await findFreePort());
  t.after(() => server.stop());

  const client = reconnect({}, () => undefined);
  t.after(() => client.disconnect());
  const backoffs: number[] = [];
  const reconnects: number[] = [];
  client.on('backoff', (attempt) => backoffs.push(attempt));
  client.on('reconnect', (attempt) => reconnects.push(attempt));

  client.connect(server.url);
  await once(client, 'backoff', WAIT);
  await once(client, 'backoff', WAIT);
  assert.equal(client.connected, false);
  assert.equal(client.reconnect, true);

  const connected = nextConnection(client);
  await server.start();
  const stream = await connected;
  assert.equal(client.connected, true);
  assert.ok(backoffs.length >= 2);
  // Retries of a connection that never opened are not reconnects: kurento-client would otherwise
  // try to resume a session it never had.
  assert.deepEqual(reconnects, []);

  const reply = nextData(stream);
  stream.write('hello');
  assert.equal(await reply, 'echo:hello');
});

test('a dropped connection emits reconnect and then connection with a new stream', async (t) => {
  const server = echoServer(await findFreePort());
  await server.start();
  t.after(() => server.stop());

  const client = reconnect({}, () => undefined);
  t.after(() => client.disconnect());
  const first = nextConnection(client);
  client.connect(server.url);
  const firstStream = await first;

  const disconnected = once(client, 'disconnect', WAIT);
  const reconnecting = once(client, 'reconnect', WAIT);
  await server.stop();
  await disconnected;
  assert.equal(client.connected, false);
  const [attempt, delay] = (await reconnecting) as [number, number];
  assert.equal(attempt, 1);
  assert.equal(delay, 100);

  const second = nextConnection(client);
  await server.start();
  const secondStream = await second;
  assert.notEqual(secondStream, firstStream);
  assert.equal(firstStream.destroyed, true);
  // Writing to the stale stream must not throw or crash the process.
  firstStream.write('late');

  const reply = nextData(secondStream);
  secondStream.write('again');
  assert.equal(await reply, 'echo:again');
  assert.equal(server.connections, 2);
});

test('failAfter N emits fail after N failed retries and stops', async (t) => {
  const port = await findFreePort();
  const client = reconnect({ failAfter: 3 }, () => undefined);
  t.after(() => client.disconnect());
  const backoffs: number[] = [];
  client.on('backoff', (attempt) => backoffs.push(attempt));

  const failed = once(client, 'fail', WAIT);
  client.connect(`ws://127.0.0.1:${port}/kurento`);
  const [error] = (await failed) as [Error | undefined];

  assert.deepEqual(backoffs, [1, 2, 3]);
  assert.equal(client.reconnect, false);
  assert.equal(client.connected, false);
  assert.match(String(error?.message), /ECONNREFUSED/);
  await sleep(400);
  assert.deepEqual(backoffs, [1, 2, 3]);
});

test('disconnect() stops retrying', async (t) => {
  const server = echoServer(await findFreePort());
  t.after(() => server.stop());
  const client = reconnect({}, () => undefined);
  let backoffs = 0;
  client.on('backoff', () => (backoffs += 1));

  client.connect(server.url);
  await once(client, 'backoff', WAIT);
  const disconnected = once(client, 'disconnect', WAIT);
  client.disconnect();
  await disconnected;
  assert.equal(client.reconnect, false);

  // Even with the server back, nothing reconnects.
  await server.start();
  await sleep(500);
  assert.equal(backoffs, 1);
  assert.equal(server.connections, 0);
  assert.equal(client.connected, false);
});

test('disconnect() closes an open connection and does not reconnect', async (t) => {
  const server = echoServer(await findFreePort());
  await server.start();
  t.after(() => server.stop());
  const client = reconnect({}, () => undefined);
  const connected = nextConnection(client);
  client.connect(server.url);
  const stream = await connected;

  let reconnects = 0;
  client.on('reconnect', () => (reconnects += 1));
  client.disconnect();
  await once(stream, 'close', WAIT);
  await sleep(400);
  assert.equal(client.connected, false);
  assert.equal(reconnects, 0);
  assert.equal(server.connections, 1);
  // A second disconnect is harmless.
  client.disconnect();
});
