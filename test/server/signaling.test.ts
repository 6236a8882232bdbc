import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type {
  ClientToServerEvents,
  Reply,
  ServerToClientEvents,
  WelcomeWire,
  WireErrorBody,
} from '../../server/signaling/events.js';
import { makeQuadrantClip } from '../helpers/media.js';
import { createAssembly, setup, type RunningApp } from './appHelpers.js';

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type Payload<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];

/** The next `event` on `socket` (its first argument); rejects after 5 s. */
function next<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
): Promise<Payload<E>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5000);
    const listener = ((payload: Payload<E>) => {
      clearTimeout(timer);
      resolve(payload);
    }) as ServerToClientEvents[E];
    socket.once(event, listener as never);
  });
}

function client(running: RunningApp, auth: Record<string, string>): ClientSocket {
  return io(running.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Connects and resolves with the welcome message. */
async function join(
  running: RunningApp,
  auth: Record<string, string>,
): Promise<[ClientSocket, WelcomeWire]> {
  const socket = client(running, auth);
  return [socket, await next(socket, 'welcome')];
}

/** Connects and resolves with the handshake refusal. */
async function refusal(
  running: RunningApp,
  auth: Record<string, string>,
): Promise<Error & { data?: WireErrorBody }> {
  const socket = client(running, auth);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connect_error within 5 s')), 5000);
      socket.once('connect_error', (error: Error & { data?: WireErrorBody }) => {
        clearTimeout(timer);
        resolve(error);
      });
    });
  } finally {
    socket.close();
  }
}

function mint(
  running: RunningApp,
  assembly: string,
  role: 'camera' | 'presenter' | 'moderator' | 'viewer',
): string {
  return running.app.core.invites.mint('test', parseAssemblyId(assembly), role, 600).token;
}

test('a valid token connects, joins its assembly and is counted in the metrics', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'A');
  const [presenter, welcome] = await join(running, { token: mint(running, a.id, 'presenter') });
  t.after(() => presenter.close());
  assert.equal(welcome.assembly.id, a.id);
  assert.equal(welcome.assembly.name, 'A');
  assert.equal(welcome.you.role, 'presenter');
  assert.deepEqual(welcome.program, { kind: 'composite' });

  const joined = next(presenter, 'participant:joined');
  const [camera, cameraWelcome] = await join(running, {
    token: mint(running, a.id, 'camera'),
    assembly: a.id,
  });
  t.after(() => camera.close());
  const cameraId = cameraWelcome.you.cameraId;
  assert.ok(cameraId !== undefined && cameraId.startsWith('cam-'));
  assert.equal((await joined).role, 'camera');

  const metrics = running.app.core.metrics;
  assert.equal(metrics.cameras.get({ assembly: a.id }), 1);
  assert.equal(metrics.viewers.get({ assembly: a.id }), 0);

  // The presenter cuts to the camera: the ack carries the new program and the room hears it.
  const changed = next(camera, 'program:changed');
  const reply = (await presenter
    .timeout(5000)
    .emitWithAck('program:cut', { source: 'camera', cameraId })) as Reply<unknown>;
  assert.deepEqual(reply, { ok: true, data: { kind: 'camera', cameraId } });
  assert.deepEqual(await changed, { source: { kind: 'camera', cameraId } });
  assert.equal(metrics.programSource.get({ assembly: a.id, source: `camera:${cameraId}` }), 1);

  // The camera leaves: the program falls back to the composite.
  const back = next(presenter, 'program:changed');
  camera.close();
  assert.deepEqual(await back, { source: { kind: 'composite' } });
  assert.equal(metrics.cameras.get({ assembly: a.id }), 0);
});

test('invalid, expired and wrong-assembly tokens are refused at the handshake with a clear message', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'A');
  const b = await createAssembly(running, 'B');

  const missing = await refusal(running, {});
  assert.equal(missing.data?.code, 'token_missing');
  assert.match(missing.message, /pass it in the socket.io handshake as auth: \{ token \}/);

  const forged = await refusal(running, {
    token: `${mint(running, a.id, 'viewer').slice(0, -3)}abc`,
  });
  assert.equal(forged.data?.code, 'token_invalid');
  assert.match(forged.message, /signature does not match/);

  const wrong = await refusal(running, { token: mint(running, a.id, 'viewer'), assembly: b.id });
  assert.deepEqual(wrong.data, {
    code: 'wrong_assembly',
    message: `this token is for assembly '${a.id}', not for assembly '${b.id}'`,
  });
  assert.equal(wrong.message, wrong.data?.message);

  const expired = running.app.core.tokens.sign({
    assembly: parseAssemblyId(a.id),
    role: 'viewer',
    ttlSeconds: -1,
  });
  const late = await refusal(running, { token: expired });
  assert.equal(late.data?.code, 'token_expired');
});

test('malformed and forbidden messages get an error ack; no ack gets request:error', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [viewer] = await join(running, { token: mint(running, a.id, 'viewer') });
  const [presenter] = await join(running, { token: mint(running, a.id, 'presenter') });
  t.after(() => {
    viewer.close();
    presenter.close();
  });

  const bad = (await presenter
    .timeout(5000)
    .emitWithAck('program:cut', { source: 'nowhere' } as never)) as Reply<unknown>;
  assert.deepEqual(bad, {
    ok: false,
    error: {
      code: 'invalid_argument',
      message: "program:cut.source must be one of composite, camera, video (got 'nowhere')",
    },
  });

  const absent = (await presenter
    .timeout(5000)
    .emitWithAck('program:cut', { source: 'camera', cameraId: 'cam-nobody' })) as Reply<unknown>;
  assert.equal(absent.ok, false);
  assert.match(JSON.stringify(absent), /camera 'cam-nobody' is not connected to this assembly/);

  const traversal = (await presenter
    .timeout(5000)
    .emitWithAck('program:cut', { source: 'video', file: '../../etc/passwd' })) as Reply<unknown>;
  assert.match(JSON.stringify(traversal), /without folders or '\.\.'/);

  const forbidden = (await viewer
    .timeout(5000)
    .emitWithAck('program:cut', { source: 'composite' })) as Reply<unknown>;
  assert.deepEqual(forbidden, {
    ok: false,
    error: {
      code: 'forbidden_role',
      message: 'a viewer token cannot send program:cut; this needs a presenter or moderator token',
    },
  });

  const failure = next(viewer, 'request:error');
  (viewer as unknown as Socket).emit('reaction:send', 'not an object');
  assert.deepEqual(await failure, {
    event: 'reaction:send',
    code: 'invalid_argument',
    message: "reaction:send must be a JSON object (got 'not an object')",
  });

  // Reactions are counted per second and reach the room as one tick; a flood is rate-limited.
  const tick = next(presenter, 'reactions:tick');
  const replies: Array<Reply<unknown>> = [];
  for (let i = 0; i < 10; i++) {
    replies.push(
      (await viewer
        .timeout(5000)
        .emitWithAck('reaction:send', { reaction: 'clap' })) as Reply<unknown>,
    );
  }
  assert.deepEqual(replies[0], { ok: true, data: null });
  const accepted = replies.filter((reply) => reply.ok).length;
  assert.ok(accepted >= 5 && accepted < 10, `${accepted} of 10 rapid reactions were counted`);
  const last = replies.at(-1);
  assert.equal(last?.ok === false ? last.error.code : 'accepted', 'rate_limited');
  assert.deepEqual(await tick, { counts: { clap: accepted }, totals: { clap: accepted } });
});

test('a moderator changes the layout over the socket and a deleted assembly disconnects everyone', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [moderator] = await join(running, { token: a.moderatorToken });
  const [viewer] = await join(running, { token: mint(running, a.id, 'viewer') });
  t.after(() => {
    moderator.close();
    viewer.close();
  });

  const updated = next(viewer, 'assembly:updated');
  const reply = (await moderator
    .timeout(5000)
    .emitWithAck('layout:set', { layout: 'spotlight', maxTiles: 4 })) as Reply<{ layout: string }>;
  assert.equal(reply.ok && reply.data.layout, 'spotlight');
  assert.equal((await updated).maxTiles, 4);

  const deleted = next(viewer, 'assembly:deleted');
  const disconnected = new Promise((resolve) => viewer.once('disconnect', resolve));
  const response = await fetch(`${running.url}/api/assemblies/${a.id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${a.moderatorToken}` },
  });
  assert.equal(response.status, 204);
  assert.deepEqual(await deleted, { id: a.id });
  await disconnected;
  const stale = running.app.core.tokens.sign({
    assembly: parseAssemblyId(a.id),
    role: 'viewer',
    ttlSeconds: 600,
  });
  const again = await refusal(running, { token: stale });
  assert.deepEqual(again.data, {
    code: 'assembly_not_found',
    message: `assembly '${a.id}' does not exist`,
  });
});

test('camera thumbnails reach the crew only, and bad, oversized or too frequent ones are refused', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [camera, cameraWelcome] = await join(running, { token: mint(running, a.id, 'camera') });
  const [moderator] = await join(running, { token: mint(running, a.id, 'moderator') });
  const [viewer] = await join(running, { token: mint(running, a.id, 'viewer') });
  t.after(() => {
    camera.close();
    moderator.close();
    viewer.close();
  });
  let viewerGotOne = false;
  viewer.on('camera:thumbnail', () => (viewerGotOne = true));

  // A tiny but real JPEG header is enough for the relay, which checks the signature only.
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]).buffer;
  const relayed = next(moderator, 'camera:thumbnail');
  const sent = (await camera
    .timeout(5000)
    .emitWithAck('camera:thumbnail', { jpeg })) as Reply<unknown>;
  assert.deepEqual(sent, { ok: true, data: null });
  const thumbnail = await relayed;
  assert.equal(thumbnail.cameraId, cameraWelcome.you.cameraId);
  assert.deepEqual([...new Uint8Array(thumbnail.jpeg)], [...new Uint8Array(jpeg)]);

  const tooSoon = (await camera
    .timeout(5000)
    .emitWithAck('camera:thumbnail', { jpeg })) as Reply<unknown>;
  assert.equal(tooSoon.ok ? 'accepted' : tooSoon.error.code, 'rate_limited');

  const notJpeg = (await camera.timeout(5000).emitWithAck('camera:thumbnail', {
    jpeg: new Uint8Array([1, 2, 3, 4]).buffer,
  })) as Reply<unknown>;
  assert.deepEqual(notJpeg, {
    ok: false,
    error: { code: 'invalid_argument', message: 'camera:thumbnail: jpeg is not a JPEG image' },
  });
  const notBinary = (await camera
    .timeout(5000)
    .emitWithAck('camera:thumbnail', { jpeg: 'ffd8ff' })) as Reply<unknown>;
  assert.match(JSON.stringify(notBinary), /jpeg must be binary/);
  const huge = new Uint8Array(49 * 1024);
  huge.set([0xff, 0xd8, 0xff]);
  const oversized = (await camera
    .timeout(5000)
    .emitWithAck('camera:thumbnail', { jpeg: huge.buffer })) as Reply<unknown>;
  assert.match(JSON.stringify(oversized), /at most 49152 are accepted/);

  const forbidden = (await moderator
    .timeout(5000)
    .emitWithAck('camera:thumbnail', { jpeg })) as Reply<unknown>;
  assert.equal(forbidden.ok ? 'accepted' : forbidden.error.code, 'forbidden_role');
  assert.equal(viewerGotOne, false, 'viewers get no thumbnails');
});

test('revoking an invite tells its open connections why, closes them, and refuses it at the handshake', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'A');
  const id = parseAssemblyId(a.id);
  const camera = running.app.core.invites.mint('test', id, 'camera', 600, 'Room 12');
  const otherCamera = running.app.core.invites.mint('test', id, 'camera', 600, 'Room 14');

  const [moderator] = await join(running, { token: a.moderatorToken });
  t.after(() => moderator.close());
  const joined = next(moderator, 'participant:joined');
  // Two pages opened with the same link (a reload in another tab) are both closed.
  const [first, firstWelcome] = await join(running, { token: camera.token, assembly: a.id });
  const [second] = await join(running, { token: camera.token, assembly: a.id });
  const [other] = await join(running, { token: otherCamera.token, assembly: a.id });
  const [viewer, viewerWelcome] = await join(running, { token: mint(running, a.id, 'viewer') });
  t.after(() => {
    for (const socket of [first, second, other, viewer]) socket.close();
  });

  // The crew sees which link a camera came from (to revoke it); nobody else does.
  assert.equal((await joined).inviteId, camera.invite.id);
  const presence = (await moderator.timeout(5000).emitWithAck('presence:list', {})) as Reply<
    { cameraId?: string; inviteId?: string }[]
  >;
  assert.ok(presence.ok);
  const byCamera = new Map(presence.data.map((p) => [p.cameraId, p.inviteId]));
  assert.equal(byCamera.get(firstWelcome.you.cameraId), camera.invite.id);
  assert.equal(viewerWelcome.participants.filter((p) => p.inviteId !== undefined).length, 0);

  const told = [first, second].map((socket) => next(socket, 'request:error'));
  const closed = [first, second].map(
    (socket) => new Promise<string>((resolve) => socket.once('disconnect', resolve)),
  );
  let otherClosed = false;
  other.once('disconnect', () => (otherClosed = true));
  const left = next(moderator, 'participant:left');
  const revoked = await fetch(
    `${running.url}/api/assemblies/${a.id}/invites/${camera.invite.id}/revoke`,
    { method: 'POST', headers: { authorization: `Bearer ${a.moderatorToken}` } },
  );
  assert.equal(revoked.status, 200);
  for (const failure of await Promise.all(told)) {
    assert.deepEqual(failure, {
      event: 'connection',
      code: 'token_revoked',
      message: 'this link was revoked; ask your teacher for a new one',
    });
  }
  assert.deepEqual(await Promise.all(closed), ['io server disconnect', 'io server disconnect']);
  await left;

  // The other link's camera, the moderator and the viewer stay.
  const after = (await moderator.timeout(5000).emitWithAck('presence:list', {})) as Reply<
    { role: string; cameraId?: string }[]
  >;
  assert.ok(after.ok);
  assert.deepEqual(
    after.data.filter((p) => p.role === 'camera').map((p) => p.cameraId),
    [cameraIdOf(running, a.id, otherCamera.invite.id)],
  );
  assert.equal(otherClosed, false);
  assert.equal(other.connected, true);
  assert.equal(viewer.connected, true);

  // Connecting again with the revoked link is refused with the same code.
  const again = await refusal(running, { token: camera.token, assembly: a.id });
  assert.equal(again.data?.code, 'token_revoked');
  assert.equal(again.message, 'this link was revoked; ask your teacher for a new one');
});

/** The camera id of the camera that joined with invite `inviteId` (from the live assembly). */
function cameraIdOf(running: RunningApp, assembly: string, inviteId: string): string {
  const live = running.app.live.find(parseAssemblyId(assembly));
  const camera = live?.participants.find((p) => p.inviteId === inviteId);
  return camera?.cameraId ?? 'none';
}

test('the preview is shared by the crew: preview:set and preview:take change it for everyone, a take swaps program and preview, and a previewed camera that leaves gives way to the composite', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [presenter, presenterWelcome] = await join(running, {
    token: mint(running, a.id, 'presenter'),
  });
  const [moderator] = await join(running, { token: a.moderatorToken });
  const [camera, cameraWelcome] = await join(running, { token: mint(running, a.id, 'camera') });
  t.after(() => {
    presenter.close();
    moderator.close();
    camera.close();
  });
  assert.deepEqual(presenterWelcome.preview, { kind: 'composite' });
  assert.deepEqual(presenterWelcome.tiles, [], 'no media server here: no tiles');
  const cameraId = cameraWelcome.you.cameraId ?? '';

  // One studio previews the camera; the other crew member hears it, and a new studio is told.
  const heard = next(moderator, 'preview:changed');
  const set = (await presenter
    .timeout(5000)
    .emitWithAck('preview:set', { source: 'camera', cameraId })) as Reply<unknown>;
  assert.deepEqual(set, { ok: true, data: { kind: 'camera', cameraId } });
  assert.deepEqual(await heard, { source: { kind: 'camera', cameraId } });
  const [late, lateWelcome] = await join(running, { token: mint(running, a.id, 'presenter') });
  t.after(() => late.close());
  assert.deepEqual(lateWelcome.preview, { kind: 'camera', cameraId });

  // Take: the camera goes on the program and the former program (the composite) to preview.
  const programChanged = next(camera, 'program:changed');
  const previewChanged = next(moderator, 'preview:changed');
  const taken = (await moderator.timeout(5000).emitWithAck('preview:take', {})) as Reply<unknown>;
  assert.deepEqual(taken, {
    ok: true,
    data: { program: { kind: 'camera', cameraId }, preview: { kind: 'composite' } },
  });
  assert.deepEqual(await programChanged, { source: { kind: 'camera', cameraId } });
  assert.deepEqual(await previewChanged, { source: { kind: 'composite' } });

  // Take again: back the other way.
  const again = (await presenter.timeout(5000).emitWithAck('preview:take', {})) as Reply<unknown>;
  assert.deepEqual(again, {
    ok: true,
    data: { program: { kind: 'composite' }, preview: { kind: 'camera', cameraId } },
  });

  // The previewed camera leaves: the preview falls back to the composite.
  const fallback = next(presenter, 'preview:changed');
  camera.close();
  assert.deepEqual(await fallback, { source: { kind: 'composite' } });
});

test('preview events are validated and kept to presenters and moderators, with clear errors', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [presenter] = await join(running, { token: mint(running, a.id, 'presenter') });
  const [viewer] = await join(running, { token: mint(running, a.id, 'viewer') });
  const [camera] = await join(running, { token: mint(running, a.id, 'camera') });
  t.after(() => {
    presenter.close();
    viewer.close();
    camera.close();
  });
  const send = async (socket: ClientSocket, event: string, payload: unknown): Promise<unknown> =>
    (socket as unknown as Socket).timeout(5000).emitWithAck(event, payload);
  const invalid = (message: string) => ({
    ok: false,
    error: { code: 'invalid_argument', message },
  });

  assert.deepEqual(
    await send(presenter, 'preview:set', { source: 'nowhere' }),
    invalid("preview:set.source must be one of composite, camera, video (got 'nowhere')"),
  );
  assert.deepEqual(
    await send(presenter, 'preview:set', { source: 'camera' }),
    invalid('preview:set.cameraId must be an id (it is missing)'),
  );
  assert.deepEqual(
    await send(presenter, 'preview:set', { source: 'camera', cameraId: 'cam-nobody' }),
    invalid("camera 'cam-nobody' is not connected to this assembly"),
  );
  assert.deepEqual(
    await send(presenter, 'preview:set', { source: 'video', file: 'a.mp4', url: 'http://x/' }),
    invalid('preview:set must have either a file or a url, not both or neither'),
  );
  assert.match(
    JSON.stringify(await send(presenter, 'preview:set', { source: 'video', file: '../x.mp4' })),
    /without folders or '\.\.'/,
  );
  assert.deepEqual(
    await send(presenter, 'preview:take', { now: true }),
    invalid('preview:take has unknown field(s) now; allowed: '),
  );
  assert.deepEqual(
    await send(presenter, 'preview:offer', {}),
    invalid('preview:offer.sdp must be an SDP offer (it is missing)'),
  );
  assert.deepEqual(
    await send(presenter, 'preview:candidate', { candidate: 7 }),
    invalid('preview:candidate.candidate must be an ICE candidate line (got 7)'),
  );
  for (const [socket, role] of [
    [viewer, 'viewer'],
    [camera, 'camera'],
  ] as const) {
    for (const event of ['preview:set', 'preview:take', 'preview:offer', 'preview:candidate']) {
      const reply = (await send(socket, event, {})) as Reply<unknown>;
      assert.deepEqual(
        reply,
        {
          ok: false,
          error: {
            code: 'forbidden_role',
            message: `a ${role} token cannot send ${event}; this needs a presenter or moderator token`,
          },
        },
        `${event} from a ${role}`,
      );
    }
  }
  // Without a media server the preview monitor cannot be offered, and says why.
  const offer = (await send(presenter, 'preview:offer', { sdp: 'v=0' })) as Reply<unknown>;
  assert.equal(offer.ok ? 'answered' : offer.error.code, 'media_unavailable');

  // Sent without an ack, a bad one comes back as request:error.
  const failure = next(presenter, 'request:error');
  (presenter as unknown as Socket).emit('preview:set', 'composite');
  assert.deepEqual(await failure, {
    event: 'preview:set',
    code: 'invalid_argument',
    message: "preview:set must be a JSON object (got 'composite')",
  });
});

test('library:list gives every clip its duration and first frame, read once, and null for a file that is no video', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const [presenter] = await join(running, { token: mint(running, a.id, 'presenter') });
  t.after(() => presenter.close());
  const dir = running.app.library.folder(parseAssemblyId(a.id));
  mkdirSync(dir, { recursive: true });
  await makeQuadrantClip(path.join(dir, 'clip.mp4'), ['red', 'red', 'red', 'red'], {
    seconds: 2,
    container: 'mp4',
    width: 320,
    height: 180,
  });
  writeFileSync(path.join(dir, 'broken.mp4'), 'not a video');

  type Listing = Reply<{
    scope: string;
    videos: Array<{
      name: string;
      durationMs: number | null;
      width: number | null;
      height: number | null;
      poster: string | null;
    }>;
  }>;
  const list = async (): Promise<Listing> =>
    (await presenter.timeout(30_000).emitWithAck('library:list', {})) as Listing;
  const first = await list();
  assert.ok(first.ok);
  assert.equal(first.data.scope, 'assembly');
  const [broken, clip] = first.data.videos;
  assert.equal(broken?.name, 'broken.mp4');
  assert.equal(broken?.durationMs, null);
  assert.equal(broken?.poster, null);
  assert.equal(clip?.name, 'clip.mp4');
  // Its picture size, for the panel.
  assert.deepEqual([clip?.width, clip?.height], [320, 180]);
  assert.deepEqual([broken?.width, broken?.height], [null, null]);
  const duration = clip?.durationMs ?? 0;
  assert.ok(Math.abs(duration - 2000) < 150, `the clip lasts 2 s, listed as ${duration} ms`);
  assert.match(clip?.poster ?? '', /^data:image\/jpeg;base64,\/9j\//, 'a JPEG data URL');
  // Listed again, the same answer (from the cache).
  assert.deepEqual(await list(), first);
});
