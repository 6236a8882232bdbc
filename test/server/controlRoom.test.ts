/**
 * The control room's state over REST and signaling, without media (no media server): an
 * assembly starts backstage, goes live and ends (each change stored, audited and told to every
 * page), cameras get server-owned names that a moderator can change and every page receives,
 * and reaction totals and the layout's choice of cameras are the server's.
 * test/e2e/controlRoom.test.ts proves the same with real media and pages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { AssemblyWire, ParticipantWire, Reply } from '../../server/signaling/events.js';
import { createAssembly, request, setup, wireError, type RunningApp } from './appHelpers.js';
import { client, next, welcome, type ClientSocket } from './sockets.js';

type Role = 'camera' | 'presenter' | 'moderator' | 'viewer';

function mint(running: RunningApp, assembly: string, role: Role): string {
  return running.app.core.invites.mint('test', parseAssemblyId(assembly), role, 600).token;
}

function open(
  running: RunningApp,
  sockets: ClientSocket[],
  assembly: string,
  role: Role,
): ClientSocket {
  const socket = client(running, { token: mint(running, assembly, role), assembly });
  sockets.push(socket);
  return socket;
}

async function ask<T>(socket: ClientSocket, event: string, payload: unknown): Promise<Reply<T>> {
  return (await (
    socket.timeout(10_000) as unknown as {
      emitWithAck: (e: string, p: unknown) => Promise<unknown>;
    }
  ).emitWithAck(event, payload)) as Reply<T>;
}

test('an assembly starts backstage, goes live and ends over REST: stored, audited, refused when it does not fit, and the watch API says where it stands', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const api = (method: string, path: string, token: string, body?: unknown) =>
    request(`${running.url}${path}`, method, token, body);

  const created = await api('POST', '/api/assemblies', running.operatorToken, { name: 'Assembly' });
  assert.equal(created.status, 201);
  const assembly = (created.body as { assembly: AssemblyWire }).assembly;
  assert.equal(assembly.phase, 'backstage', 'a new assembly starts backstage');
  assert.equal(assembly.wentLiveAt, undefined);
  const unattended = await api('POST', '/api/assemblies', running.operatorToken, {
    name: 'Unattended',
    live: true,
  });
  assert.equal((unattended.body as { assembly: AssemblyWire }).assembly.phase, 'live');
  const badCreate = await api('POST', '/api/assemblies', running.operatorToken, {
    name: 'x',
    live: 'yes',
  });
  assert.equal(badCreate.status, 400);

  const viewer = mint(running, assembly.id, 'viewer');
  const watch = await api('GET', `/api/assemblies/${assembly.id}/watch`, viewer);
  assert.equal(watch.status, 200);
  assert.deepEqual(
    { ...(watch.body as object), liveUrl: undefined, historyUrl: undefined, hls: undefined },
    {
      phase: 'backstage',
      name: 'Assembly',
      live: false,
      publicWatch: false,
      liveUrl: undefined,
      historyUrl: undefined,
      hls: undefined,
    },
  );
  // The signature of its HLS, valid from now (test/hls/hlsSigning.test.ts checks it on an edge).
  const { hls } = watch.body as { hls: { expires: number; ttlSeconds: number; prefix: string } };
  assert.equal(hls.ttlSeconds, 600);
  assert.ok(Math.abs(hls.expires - Date.now() / 1000 - 600) < 30, JSON.stringify(hls));
  assert.match(hls.prefix, new RegExp(`^/hls/s/${hls.expires}/[A-Za-z0-9_-]{22}/$`));

  const refused = await api('POST', `/api/assemblies/${assembly.id}/live`, viewer, {});
  assert.equal(refused.status, 403);
  assert.equal(wireError(refused.body).code, 'forbidden_role');
  const badBody = await api(
    'POST',
    `/api/assemblies/${assembly.id}/live`,
    mint(running, assembly.id, 'presenter'),
    { now: true },
  );
  assert.equal(badBody.status, 400);

  const presenter = mint(running, assembly.id, 'presenter');
  const live = await api('POST', `/api/assemblies/${assembly.id}/live`, presenter, {});
  assert.equal(live.status, 200);
  const wentLive = (live.body as { assembly: AssemblyWire }).assembly;
  assert.equal(wentLive.phase, 'live');
  assert.ok(wentLive.wentLiveAt !== undefined);
  const again = await api('POST', `/api/assemblies/${assembly.id}/live`, presenter, {});
  assert.equal((again.body as { assembly: AssemblyWire }).assembly.wentLiveAt, wentLive.wentLiveAt);

  const ended = await api('POST', `/api/assemblies/${assembly.id}/end`, presenter, {});
  assert.equal((ended.body as { assembly: AssemblyWire }).assembly.phase, 'ended');
  const late = await api('POST', `/api/assemblies/${assembly.id}/live`, presenter, {});
  assert.equal(late.status, 409);
  assert.equal(wireError(late.body).code, 'wrong_phase');
  const watchEnded = await api('GET', `/api/assemblies/${assembly.id}/watch`, viewer);
  assert.equal((watchEnded.body as { phase: string; live: boolean }).phase, 'ended');
  assert.equal((watchEnded.body as { phase: string; live: boolean }).live, false);

  const actions = running.app.core.audit
    .recent(20)
    .filter((entry) => entry.assemblyId === assembly.id && entry.action.startsWith('assembly.'))
    .map((entry) => `${entry.actor} ${entry.action}`)
    .reverse();
  assert.deepEqual(actions, [
    'operator assembly.create',
    `presenter@${assembly.id} assembly.live`,
    `presenter@${assembly.id} assembly.end`,
  ]);
});

test('Go live and End over signaling reach every page of the assembly; cameras cannot change the phase', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const { id } = await createAssembly(running, 'Phases', { live: false });
  const moderator = open(running, sockets, id, 'moderator');
  const camera = open(running, sockets, id, 'camera');
  const watcher = open(running, sockets, id, 'viewer');
  const [m, c, w] = await Promise.all([welcome(moderator), welcome(camera), welcome(watcher)]);
  for (const page of [m, c, w]) assert.equal(page.assembly.phase, 'backstage');

  const forbidden = await ask(camera, 'assembly:golive', {});
  assert.equal(!forbidden.ok && forbidden.error.code, 'forbidden_role');
  const malformed = await ask(moderator, 'assembly:golive', { at: 'now' });
  assert.equal(!malformed.ok && malformed.error.code, 'invalid_argument');

  const told = Promise.all(
    [camera, watcher].map((socket) =>
      next(socket, 'assembly:updated', (assembly) => assembly.phase === 'live'),
    ),
  );
  const reply = await ask<AssemblyWire>(moderator, 'assembly:golive', {});
  assert.ok(reply.ok && reply.data.phase === 'live');
  await told;

  const ending = next(watcher, 'assembly:updated', (assembly) => assembly.phase === 'ended');
  const end = await ask<AssemblyWire>(moderator, 'assembly:end', {});
  assert.ok(end.ok && end.data.phase === 'ended');
  await ending;
  // A page that connects after the end is told at once, and its camera cannot publish.
  const lateCamera = open(running, sockets, id, 'camera');
  assert.equal((await welcome(lateCamera)).assembly.phase, 'ended');
  const offer = await ask(lateCamera, 'camera:offer', { sdp: 'v=0\r\n' });
  assert.equal(!offer.ok && offer.error.code, 'not_live');
});

test('cameras have server-owned names: "Camera N" by default, renamed by a moderator for every page (the camera included), validated', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const { id } = await createAssembly(running, 'Names');
  const moderator = open(running, sockets, id, 'moderator');
  await welcome(moderator);
  const first = open(running, sockets, id, 'camera');
  const second = open(running, sockets, id, 'camera');
  const one = (await welcome(first)).you;
  const two = (await welcome(second)).you;
  assert.deepEqual([one.name, one.slot, two.name, two.slot], ['Camera 1', 1, 'Camera 2', 2]);
  assert.equal(one.picture, 'waiting');
  assert.equal(one.muted, false);

  for (const [payload, code] of [
    [{ cameraId: two.cameraId, name: '' }, 'invalid_argument'],
    [{ cameraId: two.cameraId, name: 'x'.repeat(41) }, 'invalid_argument'],
    [{ cameraId: two.cameraId, name: 'Room\u000712' }, 'invalid_argument'],
    [{ cameraId: two.cameraId }, 'invalid_argument'],
    [{ cameraId: 'nobody', name: 'Room 1' }, 'not_live'],
  ] as const) {
    const reply = await ask(moderator, 'camera:rename', payload);
    assert.equal(!reply.ok && reply.error.code, code, JSON.stringify(payload));
  }
  const byCamera = await ask(first, 'camera:rename', { cameraId: one.cameraId, name: 'Mine' });
  assert.equal(!byCamera.ok && byCamera.error.code, 'forbidden_role');

  const crewSees = next(moderator, 'participant:updated', (p) => p.name === 'Room 12');
  const cameraSees = next(second, 'participant:updated', (p) => p.name === 'Room 12');
  const firstHears: ParticipantWire[] = [];
  first.on('participant:updated', (p) => firstHears.push(p));
  const renamed = await ask(moderator, 'camera:rename', {
    cameraId: two.cameraId,
    name: '  Room 12 ',
  });
  assert.ok(renamed.ok);
  const [[crew], [own]] = await Promise.all([crewSees, cameraSees]);
  assert.equal(crew.cameraId, two.cameraId);
  assert.equal(own.id, two.id);
  // A panel opened now (or reloaded) gets the name in its welcome.
  const panel = open(running, sockets, id, 'presenter');
  const names = (await welcome(panel)).participants
    .filter((p) => p.role === 'camera')
    .map((p) => p.name);
  assert.deepEqual(names, ['Camera 1', 'Room 12']);
  assert.deepEqual(firstHears, [], 'another camera is not told');

  // A camera invite's label is the name its camera joins under (and takes the next place).
  const labelled = running.app.core.invites.mint(
    'test',
    parseAssemblyId(id),
    'camera',
    600,
    'Library',
  );
  const third = client(running, { token: labelled.token, assembly: id });
  sockets.push(third);
  const joined = (await welcome(third)).you;
  assert.deepEqual([joined.name, joined.slot], ['Library', 3]);
});

test('reaction totals and the layout’s choice of cameras are the server’s: a panel opened later gets them, every panel hears changes', async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const { id } = await createAssembly(running, 'Totals');
  const moderator = open(running, sockets, id, 'moderator');
  const other = open(running, sockets, id, 'moderator');
  const viewer = open(running, sockets, id, 'viewer');
  const camera = open(running, sockets, id, 'camera');
  const [, , , cam] = await Promise.all([
    welcome(moderator),
    welcome(other),
    welcome(viewer),
    welcome(camera),
  ]);
  const tick = next(moderator, 'reactions:tick');
  for (const reaction of ['clap', 'clap', 'heart']) {
    const reply = await ask(viewer, 'reaction:send', { reaction });
    assert.ok(reply.ok);
  }
  const [{ totals }] = await tick;
  assert.deepEqual(totals, { clap: 2, heart: 1 });
  const late = open(running, sockets, id, 'presenter');
  assert.deepEqual((await welcome(late)).reactionTotals, { clap: 2, heart: 1 });

  const heard = next(other, 'layout:changed');
  const reply = await ask(moderator, 'layout:set', {
    layout: 'spotlight',
    cameras: [cam.you.cameraId],
  });
  assert.ok(reply.ok);
  assert.deepEqual((await heard)[0], { cameras: [cam.you.cameraId] });
  const reloaded = open(running, sockets, id, 'moderator');
  const state = await welcome(reloaded);
  assert.deepEqual(state.layoutCameras, [cam.you.cameraId]);
  assert.equal(state.assembly.layout, 'spotlight');
});
