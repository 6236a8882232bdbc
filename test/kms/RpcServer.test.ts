import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { RawClient, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;
let bystander: RawClient;

before(async () => {
  engine = await startTestEngine({ maxMessageBytes: 4096 });
  bystander = await RawClient.open(engine.url);
});

after(async () => {
  await bystander.close();
  await engine.close();
});

function errorOf(response: Json): { code: number; message: string; data?: { type: string } } {
  return response.error as { code: number; message: string; data?: { type: string } };
}

/** After every bad message the server must still serve other clients. */
async function assertStillServing(): Promise<void> {
  const pong = await bystander.ok('ping');
  assert.equal(pong.value, 'pong');
}

test('invalid JSON gets -32700 Parse error and the server keeps serving', async () => {
  const raw = await RawClient.open(engine.url);
  const response = await raw.sendRaw('{"jsonrpc":"2.0",', null);
  assert.equal(errorOf(response).code, -32700);
  assert.equal(errorOf(response).data?.type, 'PARSE_ERROR');
  assert.equal(response.id, null);
  assert.equal((await raw.ok('ping')).value, 'pong');
  await raw.close();
  await assertStillServing();
});

test('a batch (array) is refused with -32600', async () => {
  const raw = await RawClient.open(engine.url);
  const response = await raw.sendRaw(
    JSON.stringify([{ jsonrpc: '2.0', method: 'ping', id: 1 }]),
    null,
  );
  assert.equal(errorOf(response).code, -32600);
  assert.equal(errorOf(response).data?.type, 'INVALID_REQUEST');
  await raw.close();
  await assertStillServing();
});

test('requests without jsonrpc 2.0, with a non-string method or an object id get -32600', async () => {
  const raw = await RawClient.open(engine.url);
  assert.equal(
    errorOf(await raw.sendRaw(JSON.stringify({ method: 'ping', id: 5 }), 5)).code,
    -32600,
  );
  assert.equal(
    errorOf(await raw.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 3, id: 6 }), 6)).code,
    -32600,
  );
  assert.equal(
    errorOf(await raw.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'ping', id: {} }), null))
      .code,
    -32600,
  );
  assert.equal(errorOf(await raw.sendRaw('42', null)).code, -32600);
  await raw.close();
  await assertStillServing();
});

test('an unknown method gets -32601 without data', async () => {
  const raw = await RawClient.open(engine.url);
  const response = await raw.call('frobnicate', {});
  assert.equal(errorOf(response).code, -32601);
  assert.equal(errorOf(response).message, 'Method not found.');
  assert.equal(errorOf(response).data, undefined);
  await raw.close();
  await assertStillServing();
});

test('missing params gives -32602 and a missing or mistyped field gives -32000', async () => {
  const raw = await RawClient.open(engine.url);
  const noParams = await raw.call('create');
  assert.equal(errorOf(noParams).code, -32602);
  assert.equal(errorOf(noParams).data?.type, 'INVALID_PARAMS');
  const noObject = await raw.call('invoke', { operation: 'getName' });
  assert.equal(errorOf(noObject).code, -32000);
  assert.equal(errorOf(noObject).message, "'object' parameter is required");
  assert.equal(errorOf(noObject).data, undefined);
  const badType = await raw.call('create', { type: 7 });
  assert.equal(errorOf(badType).message, "'type' parameter should be a string");
  await raw.close();
  await assertStillServing();
});

test('an oversized message gets a clear error and the connection stays usable', async () => {
  const raw = await RawClient.open(engine.url);
  const big = JSON.stringify({
    jsonrpc: '2.0',
    method: 'ping',
    id: 1,
    params: { pad: 'x'.repeat(5000) },
  });
  const response = await raw.sendRaw(big, null);
  assert.equal(errorOf(response).code, -32600);
  assert.match(errorOf(response).message, /exceeds the limit of 4096 bytes/);
  assert.equal((await raw.ok('ping')).value, 'pong');
  await raw.close();
  await assertStillServing();
});

test('binary frames are accepted and answered with text frames', async () => {
  const raw = await RawClient.open(engine.url);
  let binaryReply = true;
  raw.socket.once('message', (_data, isBinary) => {
    binaryReply = isBinary;
  });
  const response = await raw.sendRaw(
    Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'ping', id: 9 })),
    9,
    true,
  );
  assert.equal((response.result as Json).value, 'pong');
  assert.equal(binaryReply, false);
  await raw.close();
});

test('a wrong path is closed with 1002 "Invalid path"; a query string is ignored', async () => {
  const url = new URL(engine.url);
  const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
    const socket = new WebSocket(`ws://${url.host}/nope`);
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  assert.deepEqual(closed, { code: 1002, reason: 'Invalid path' });
  const withQuery = await RawClient.open(`${engine.url}?access_token=abc`);
  assert.equal((await withQuery.ok('ping')).value, 'pong');
  await withQuery.close();
  await assertStillServing();
});

test('ping answers pong, adding the sessionId once the connection has one', async () => {
  const raw = await RawClient.open(engine.url);
  assert.deepEqual(await raw.ok('ping', { interval: 5000 }), { value: 'pong' });
  const created = await raw.ok('create', { type: 'MediaPipeline' });
  const pong = await raw.ok('ping');
  assert.equal(pong.sessionId, created.sessionId);
  await raw.ok('release', { object: created.value as string });
  await raw.close();
});

test('a repeated request id in the same session is answered from the response cache', async () => {
  const raw = await RawClient.open(engine.url);
  const first = await raw.call('create', { type: 'MediaPipeline' }, 77);
  const sessionId = (first.result as Json).sessionId as string;
  const again = await raw.call('create', { type: 'MediaPipeline', sessionId }, 77);
  assert.deepEqual(again, first);
  const manager = await raw.ok('invoke', {
    object: 'manager_ServerManager',
    operation: 'getPipelines',
  });
  assert.equal(
    (manager.value as string[]).filter((id) => id === (first.result as Json).value).length,
    1,
  );
  await raw.ok('release', { object: (first.result as Json).value as string });
  await raw.close();
});
