import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { RawClient, isEvent, startTestEngine, waitUntil, type Json } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  // A one-second GC period makes the reconnection window testable.
  engine = await startTestEngine({ sessionGcSeconds: 1 });
});

after(async () => {
  await engine.close();
});

/** Ids of the live pipelines, read without taking a reference to any of them. */
async function pipelineIds(raw: RawClient): Promise<string[]> {
  return (await raw.ok('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' }))
    .value as string[];
}

test('connect {sessionId} on a new socket keeps objects and subscriptions and moves events there', async () => {
  const first = await RawClient.open(engine.url);
  const created = await first.ok('create', { type: 'MediaPipeline' });
  const sessionId = created.sessionId as string;
  const pipeline = created.value as string;
  const source = (
    await first.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  const sink = (
    await first.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline },
    })
  ).value as string;
  await first.ok('subscribe', { object: source, type: 'ElementConnected' });
  await first.close();

  const second = await RawClient.open(engine.url);
  await second.ok('ping');
  const connected = await second.ok('connect', { sessionId });
  assert.equal(connected.sessionId, sessionId);
  assert.equal(typeof connected.serverId, 'string');
  // No sessionId in params: the connection's session is used.
  await second.ok('invoke', {
    object: source,
    operation: 'connect',
    operationParams: { sink, mediaType: 'VIDEO' },
  });
  await second.waitEvent(isEvent('ElementConnected', source));
  await second.ok('release', { object: pipeline });
  await second.close();
});

test('connect and keepAlive with an unknown session fail with 40007; connect without params makes a session', async () => {
  const raw = await RawClient.open(engine.url);
  const bad = await raw.call('connect', { sessionId: 'no-such-session' });
  assert.equal((bad.error as Json).code, 40007);
  assert.equal((bad.error as Json).message, 'Invalid session');
  assert.equal((bad.error as { data: { type: string } }).data.type, 'INVALID_SESSION');
  assert.equal(((await raw.call('keepAlive', { sessionId: 'nope' })).error as Json).code, 40007);
  const fresh = await raw.ok('connect');
  assert.equal(typeof fresh.sessionId, 'string');
  assert.equal(
    (await raw.ok('keepAlive', { sessionId: fresh.sessionId as string })).sessionId,
    fresh.sessionId,
  );
  await raw.close();
});

test('a session left without a connection for a GC period loses its objects and is forgotten', async () => {
  const first = await RawClient.open(engine.url);
  const created = await first.ok('create', { type: 'MediaPipeline' });
  await first.close();
  const closedAt = Date.now();
  const second = await RawClient.open(engine.url);
  // Polled through the ServerManager: describing the pipeline would make it this session's too.
  await waitUntil(
    'the abandoned pipeline to be collected',
    async () => !(await pipelineIds(second)).includes(created.value as string),
    5000,
  );
  // Collected between one and two GC periods (1 s here) after the socket closed, plus slack.
  const after = Date.now() - closedAt;
  assert.ok(after < 3500, `collected ${after} ms after the disconnect`);
  const reconnect = await second.call('connect', { sessionId: created.sessionId as string });
  assert.equal((reconnect.error as Json).code, 40007);
  const gone = await second.call('describe', { object: created.value as string });
  assert.equal((gone.error as Json).code, 40101);
  await second.close();
});

test('an unknown sessionId in create registers that session on the fly', async () => {
  const raw = await RawClient.open(engine.url);
  const created = await raw.ok('create', { type: 'MediaPipeline', sessionId: 'my-own-session' });
  assert.equal(created.sessionId, 'my-own-session');
  assert.equal(
    (await raw.ok('connect', { sessionId: 'my-own-session' })).sessionId,
    'my-own-session',
  );
  await raw.ok('release', { object: created.value as string });
  await raw.close();
});

test('objects owned by a live session survive other sessions being collected', async () => {
  const keeper = await RawClient.open(engine.url);
  const created = await keeper.ok('create', { type: 'MediaPipeline' });
  const visitor = await RawClient.open(engine.url);
  await visitor.ok('describe', { object: created.value as string });
  // The visitor's own pipeline is the witness that the collector has run over its session.
  const witness = (await visitor.ok('create', { type: 'MediaPipeline' })).value as string;
  await visitor.close();
  await waitUntil(
    "the visitor's session to be collected",
    async () => !(await pipelineIds(keeper)).includes(witness),
    5000,
  );
  assert.equal(
    (await keeper.ok('describe', { object: created.value as string })).type,
    'MediaPipeline',
  );
  await keeper.ok('release', { object: created.value as string });
  await keeper.close();
});
