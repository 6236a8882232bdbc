/**
 * Camera keys over signaling, without media: a camera page that connects again with its key
 * gets its camera id back (within the grace period, or by taking over a connection the server
 * still holds), a malformed key is refused at the handshake, and other roles' keys are ignored.
 * test/e2e/features.test.ts proves the same with real media (the tile keeps its place).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { ParticipantWire, Reply, WireErrorBody } from '../../server/signaling/events.js';
import { createAssembly, setup, type RunningApp } from './appHelpers.js';
import { client, welcome, type ClientSocket } from './sockets.js';

function mint(running: RunningApp, assembly: string, role: 'camera' | 'presenter'): string {
  return running.app.core.invites.mint('test', parseAssemblyId(assembly), role, 600).token;
}

async function cameras(socket: ClientSocket): Promise<string[]> {
  const reply = (await socket.timeout(5000).emitWithAck('presence:list', {})) as Reply<
    ParticipantWire[]
  >;
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.data.flatMap((p) => (p.role === 'camera' && p.cameraId ? [p.cameraId] : []));
}

test('a camera page that connects again with its key gets its camera back; bad keys are refused', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const a = await createAssembly(running, 'Keys');
  const open = (auth: Record<string, string>): ClientSocket => {
    const socket = client(running, { assembly: a.id, ...auth });
    sockets.push(socket);
    return socket;
  };
  const camera = mint(running, a.id, 'camera');
  const key = randomBytes(18).toString('base64url');
  // The presenter keeps the assembly live while cameras come and go.
  const presenter = open({ token: mint(running, a.id, 'presenter') });
  await welcome(presenter);

  const first = open({ token: camera, cameraKey: key });
  const cameraId = (await welcome(first)).you.cameraId;
  assert.ok(cameraId !== undefined);

  // Dropped and back within the grace period (3 s by default): the same camera.
  first.close();
  const again = open({ token: camera, cameraKey: key });
  assert.equal((await welcome(again)).you.cameraId, cameraId);
  assert.deepEqual(await cameras(presenter), [cameraId]);

  // Another page's key, or none, is another camera.
  const other = open({ token: camera, cameraKey: randomBytes(18).toString('base64url') });
  const otherId = (await welcome(other)).you.cameraId;
  const keyless = open({ token: camera });
  const keylessId = (await welcome(keyless)).you.cameraId;
  assert.equal(new Set([cameraId, otherId, keylessId]).size, 3);

  // A connection with the key while the older one is still connected takes the camera over.
  const told = new Promise<string>((resolve) =>
    again.once('request:error', (failure) => resolve(failure.code)),
  );
  const closed = new Promise<string>((resolve) => again.once('disconnect', resolve));
  const takeover = open({ token: camera, cameraKey: key });
  assert.equal((await welcome(takeover)).you.cameraId, cameraId);
  assert.equal(await told, 'camera_reconnected');
  assert.equal(await closed, 'io server disconnect');
  assert.deepEqual((await cameras(presenter)).sort(), [cameraId, otherId, keylessId].sort());

  // A key that is not a long random value is refused at the handshake.
  for (const bad of ['short', 'x'.repeat(65), 'has spaces in it and is long enough']) {
    const refused = open({ token: camera, cameraKey: bad });
    const error = (await welcome(refused).then(
      () => new Error('connected'),
      (e: unknown) => e,
    )) as Error & { data?: WireErrorBody };
    assert.equal(error.data?.code, 'invalid_argument', `key '${bad}'`);
  }

  // A presenter's key is ignored: presenters have no camera.
  const withKey = open({ token: mint(running, a.id, 'presenter'), cameraKey: key });
  assert.equal((await welcome(withKey)).you.cameraId, undefined);
  assert.deepEqual((await cameras(presenter)).sort(), [cameraId, otherId, keylessId].sort());
});

test('a camera whose grace period ended gets its id, name and place back with its key; a camera without it is new', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const a = await createAssembly(running, 'Late');
  const open = (auth: Record<string, string>): ClientSocket => {
    const socket = client(running, { assembly: a.id, ...auth });
    sockets.push(socket);
    return socket;
  };
  const presenter = open({ token: mint(running, a.id, 'presenter') });
  await welcome(presenter);
  const key = randomBytes(18).toString('base64url');
  const first = open({ token: mint(running, a.id, 'camera'), cameraKey: key });
  const { you } = await welcome(first);
  assert.equal(you.name, 'Camera 1');
  assert.equal(you.slot, 1);
  const other = open({ token: mint(running, a.id, 'camera') });
  assert.equal((await welcome(other)).you.slot, 2);
  first.close();
  // The default grace period is 3 s: after it, the camera has left (its tile is gone).
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const late = open({ token: mint(running, a.id, 'camera'), cameraKey: key });
  const back = (await welcome(late)).you;
  assert.equal(back.cameraId, you.cameraId, 'the same camera id');
  assert.equal(back.name, 'Camera 1', 'the same name');
  assert.equal(back.slot, 1, 'the same place, before the camera that joined after it');
  const stranger = open({
    token: mint(running, a.id, 'camera'),
    cameraKey: randomBytes(18).toString('base64url'),
  });
  const fresh = (await welcome(stranger)).you;
  assert.ok(fresh.cameraId !== you.cameraId, 'another key is another camera');
  assert.equal(fresh.slot, 3);
});

test('a camera the moderator removed is told, closed, and its key is refused from then on', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const a = await createAssembly(running, 'Kick');
  const open = (auth: Record<string, string>): ClientSocket => {
    const socket = client(running, { assembly: a.id, ...auth });
    sockets.push(socket);
    return socket;
  };
  const moderator = open({ token: a.moderatorToken });
  await welcome(moderator);
  const token = mint(running, a.id, 'camera');
  const key = randomBytes(18).toString('base64url');
  const camera = open({ token, cameraKey: key });
  const cameraId = (await welcome(camera)).you.cameraId;
  assert.ok(cameraId !== undefined);

  const told = new Promise<{ event: string } & WireErrorBody>((resolve) =>
    camera.once('request:error', resolve),
  );
  const closed = new Promise<string>((resolve) => camera.once('disconnect', resolve));
  const reply = (await moderator
    .timeout(10_000)
    .emitWithAck('camera:remove', { cameraId })) as Reply<null>;
  assert.deepEqual(reply, { ok: true, data: null });
  assert.deepEqual(await told, {
    event: 'connection',
    code: 'removed',
    message: 'The moderator removed this camera from the assembly.',
  });
  assert.equal(await closed, 'io server disconnect');
  assert.deepEqual(await cameras(moderator), []);

  // The page reloaded (same key, same link) is refused, within the grace period and after.
  const refusedNow = await welcome(open({ token, cameraKey: key })).then(
    () => new Error('connected'),
    (error: unknown) => error,
  );
  assert.deepEqual((refusedNow as { data?: WireErrorBody }).data, {
    code: 'removed',
    message: 'The moderator removed this camera from the assembly.',
  });
  assert.deepEqual(await cameras(moderator), []);

  // Even once everyone left and the live assembly ended, the key stays refused.
  moderator.close();
  const ended = Date.now() + 15_000;
  while (running.app.live.find(parseAssemblyId(a.id)) !== undefined) {
    if (Date.now() > ended) throw new Error('the live assembly did not end');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const refusedLater = await welcome(open({ token, cameraKey: key })).then(
    () => new Error('connected'),
    (error: unknown) => error,
  );
  assert.equal((refusedLater as { data?: WireErrorBody }).data?.code, 'removed');

  // A fresh page (a new key) with the same link is a new camera: that is what revoking is for.
  const fresh = open({ token, cameraKey: randomBytes(18).toString('base64url') });
  const freshId = (await welcome(fresh)).you.cameraId;
  assert.ok(freshId !== undefined && freshId !== cameraId);
});
