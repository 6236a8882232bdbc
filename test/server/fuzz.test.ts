/**
 * Fuzzing of the app's socket.io surface: random and mutated payloads for every client event,
 * sent by every role, with and without an ack, plus raw garbage frames on the socket.io
 * WebSocket. Bounded in count and time; the seed is printed (MONTAGE_FUZZ_SEED repeats a run).
 *
 * The oracle is what events.ts documents: a payload that breaks the documented shape, or a role
 * that may not send the event, must be answered with an error (never "ok"); a payload that fits
 * may be answered either way (a camera not connected, no media server, a rate limit). Every
 * error is a clear one (a code other than `internal` and a message). After every batch the
 * server still answers a normal request, every socket is still connected, the assemblies are
 * listed unchanged, the other assembly heard nothing, and the process saw no uncaught exception
 * or unhandled rejection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { parseAssemblyId } from '../../server/domain/ids.js';
import {
  REACTIONS,
  type ClientToServerEvents,
  type ParticipantWire,
  type Reply,
  type RoleWire,
} from '../../server/signaling/events.js';
import { Rng } from '../helpers/Rng.js';
import { createAssembly, request, setup, type RunningApp } from './appHelpers.js';
import { client, welcome, type ClientSocket } from './sockets.js';

type EventName = keyof ClientToServerEvents;
type Role = Exclude<RoleWire, 'operator'> | 'operator';

/** Who may send each event (events.ts); null: any role. Keyed by every event, so none is missed. */
const EVENT_ROLES: Record<EventName, readonly Role[] | null> = {
  'presence:list': null,
  'program:cut': ['presenter', 'moderator'],
  'layout:set': ['moderator', 'operator'],
  'reaction:send': null,
  'camera:offer': ['camera'],
  'camera:candidate': ['camera'],
  'monitor:offer': ['presenter', 'moderator'],
  'monitor:candidate': ['presenter', 'moderator'],
  'camera:thumbnail': ['camera'],
  'camera:mute': ['moderator'],
  'camera:rename': ['moderator'],
  'assembly:golive': ['presenter', 'moderator'],
  'assembly:end': ['presenter', 'moderator'],
  'camera:remove': ['moderator'],
  'library:list': ['presenter', 'moderator'],
  'recording:set': ['moderator'],
  'preview:set': ['presenter', 'moderator'],
  'preview:take': ['presenter', 'moderator'],
  'preview:offer': ['presenter', 'moderator'],
  'preview:candidate': ['presenter', 'moderator'],
};
const EVENTS = Object.keys(EVENT_ROLES) as EventName[];
/** A valid one would change the assembly for the rest of the run (ended, camera gone). */
const DESTRUCTIVE: readonly EventName[] = ['assembly:end', 'camera:remove'];

const MESSAGES = Number(process.env.MONTAGE_FUZZ_MESSAGES ?? 1000);
const BATCH = 50;
const ACK_TIMEOUT_MS = 15_000;

// ---- The oracle: does the payload, as the server receives it, fit the documented shape? ----

type Pred = (value: unknown) => boolean;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const str =
  (max: number, min = 1): Pred =>
  (v) =>
    typeof v === 'string' && v.trim().length >= min && v.trim().length <= max;
const id: Pred = (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v.trim());
const bool: Pred = (v) => typeof v === 'boolean';
const int =
  (min: number, max: number): Pred =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const oneOf =
  (values: readonly string[]): Pred =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const nullOr =
  (pred: Pred): Pred =>
  (v) =>
    v === null || pred(v);

/** Exactly these fields; the optional ones may be absent. */
function fields(required: Record<string, Pred>, optional: Record<string, Pred> = {}): Pred {
  return (value) => {
    if (!isPlainObject(value)) return false;
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(required, key) && !Object.hasOwn(optional, key)) return false;
    }
    for (const [key, pred] of Object.entries(required)) {
      if (!Object.hasOwn(value, key) || !pred(value[key])) return false;
    }
    for (const [key, pred] of Object.entries(optional)) {
      if (Object.hasOwn(value, key) && !pred(value[key])) return false;
    }
    return true;
  };
}

const empty: Pred = (v) => v === null || v === undefined || fields({})(v);
const sdp = fields({ sdp: str(64 * 1024) });
const candidate = fields(
  { candidate: str(1000, 0) },
  { sdpMid: nullOr(str(64, 0)), sdpMLineIndex: nullOr(int(0, 64)) },
);
const cut: Pred = (v) =>
  fields({ source: oneOf(['composite']) })(v) ||
  fields({ source: oneOf(['camera']), cameraId: id })(v) ||
  fields({ source: oneOf(['video']), file: str(500) })(v) ||
  fields({ source: oneOf(['video']), url: str(2000) })(v);
const cameraList: Pred = (v) =>
  Array.isArray(v) && v.length <= 25 && v.every(id) && new Set(v).size === v.length;

const SHAPES: Record<EventName, Pred> = {
  'presence:list': empty,
  'program:cut': cut,
  'layout:set': fields(
    { layout: oneOf(['grid', 'spotlight', 'pip']) },
    { maxTiles: int(1, 25), cameras: nullOr(cameraList) },
  ),
  'reaction:send': fields({ reaction: oneOf(REACTIONS) }, { at: int(0, Number.MAX_SAFE_INTEGER) }),
  'camera:offer': sdp,
  'camera:candidate': candidate,
  'monitor:offer': sdp,
  'monitor:candidate': candidate,
  'camera:thumbnail': fields({
    jpeg: (v) =>
      Buffer.isBuffer(v) &&
      v.length >= 4 &&
      v.length <= 48 * 1024 &&
      v[0] === 0xff &&
      v[1] === 0xd8 &&
      v[2] === 0xff,
  }),
  'camera:mute': fields({ cameraId: id, muted: bool }),
  'camera:rename': fields({ cameraId: id, name: str(40) }),
  'assembly:golive': empty,
  'assembly:end': empty,
  'camera:remove': fields({ cameraId: id }),
  'library:list': empty,
  'recording:set': fields({ on: bool }),
  'preview:set': cut,
  'preview:take': empty,
  'preview:offer': sdp,
  'preview:candidate': candidate,
};

/**
 * The payload as socket.io delivers it: JSON (undefined fields dropped, NaN and ±Infinity
 * become null) with Buffers passed through as binary attachments.
 */
function onTheWire(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : onTheWire(v)));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v !== undefined)
        Object.defineProperty(out, key, { value: onTheWire(v), enumerable: true });
    }
    return out;
  }
  return value;
}

// ---- The generator: valid templates, mutated. ----

function deepNesting(rng: Rng): unknown {
  let value: unknown = rng.pick([1, 'x', null, []]);
  const depth = rng.int(50, 400);
  for (let i = 0; i < depth; i++) value = rng.chance(0.5) ? [value] : { a: value };
  return value;
}

/** An object with an own `__proto__`, `constructor` or `prototype` key, as JSON.parse makes it. */
function pollution(rng: Rng, base: unknown): unknown {
  const key = rng.pick(['__proto__', 'constructor', 'prototype']);
  const inner = rng.pick(['{"polluted":true}', '{"toString":1}', '"x"', 'null', '[]']);
  const fieldsText = isPlainObject(base) ? JSON.stringify(base).slice(1, -1) : '';
  return JSON.parse(`{${fieldsText}${fieldsText === '' ? '' : ','}"${key}":${inner}}`) as unknown;
}

function randomValue(rng: Rng): unknown {
  switch (rng.int(0, 17)) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return rng.chance(0.5);
    case 3:
      return rng.pick([0, -1, 1.5, -0, 2 ** 53, -(2 ** 63), 1e308, 65, 26]);
    case 4:
      return rng.pick([NaN, Infinity, -Infinity]);
    case 5:
      return '';
    case 6:
      return rng.text(rng.int(1, 60));
    case 7:
      // Huge, but under socket.io's 256 kB message limit so that it reaches the handler.
      return rng.text(rng.int(1000, 100_000));
    case 8:
      return [];
    case 9:
      return {};
    case 10:
      return deepNesting(rng);
    case 11:
      return rng.bytes(rng.int(0, 2000));
    case 12:
      return Buffer.alloc(0);
    case 13:
      return rng.pick(['composite', 'camera', 'video', 'grid', 'clap', 'true', '1', ' ']);
    case 14:
      return [rng.text(8), rng.int(0, 9)];
    case 15:
      return rng.pick(['../../etc/passwd', 'file:///etc/passwd', '%00', 'a'.repeat(65)]);
    case 16:
      return Buffer.from([0xff, 0xd8, 0xff, ...rng.bytes(rng.int(0, 60_000))]);
    default:
      return pollution(rng, {});
  }
}

interface Context {
  cameraId: string;
  otherCameraId: string;
}

/** A payload that fits the event (what the pages send). */
function template(event: EventName, rng: Rng, ctx: Context): Record<string, unknown> {
  const camera = () => rng.pick([ctx.cameraId, ctx.otherCameraId, 'cam-nope']);
  const offer = () => ({
    sdp: `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${rng.text(20)}`,
  });
  const ice = () => ({
    candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host',
    sdpMid: '0',
    sdpMLineIndex: 0,
  });
  const source = () =>
    rng.pick<Record<string, unknown>>([
      { source: 'composite' },
      { source: 'camera', cameraId: camera() },
      { source: 'video', file: 'clip.mp4' },
      { source: 'video', url: 'http://127.0.0.1:9/x.mp4' },
    ]);
  switch (event) {
    case 'presence:list':
    case 'assembly:golive':
    case 'assembly:end':
    case 'library:list':
    case 'preview:take':
      return {};
    case 'program:cut':
    case 'preview:set':
      return source();
    case 'layout:set':
      return { layout: rng.pick(['grid', 'spotlight', 'pip']), maxTiles: rng.int(1, 25) };
    case 'reaction:send':
      return { reaction: rng.pick(REACTIONS), at: Date.now() };
    case 'camera:offer':
    case 'monitor:offer':
    case 'preview:offer':
      return offer();
    case 'camera:candidate':
    case 'monitor:candidate':
    case 'preview:candidate':
      return ice();
    case 'camera:thumbnail':
      return { jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]) };
    case 'camera:mute':
      return { cameraId: camera(), muted: rng.chance(0.5) };
    case 'camera:rename':
      return { cameraId: camera(), name: `Room ${rng.int(1, 99)}` };
    case 'camera:remove':
      return { cameraId: camera() };
    case 'recording:set':
      return { on: rng.chance(0.5) };
  }
}

function mutate(base: Record<string, unknown>, rng: Rng): unknown {
  const keys = Object.keys(base);
  const copy: Record<string, unknown> = { ...base };
  switch (rng.int(0, 7)) {
    case 0:
      return base;
    case 1:
      if (keys.length > 0) delete copy[rng.pick(keys)];
      return copy;
    case 2:
      copy[rng.pick(['extra', 'id', 'role', 'assembly', 'cameraId', rng.text(5)])] =
        randomValue(rng);
      return copy;
    case 3:
    case 4:
      if (keys.length > 0) copy[rng.pick(keys)] = randomValue(rng);
      return copy;
    case 5:
      return pollution(rng, base);
    case 6:
      return randomValue(rng);
    default:
      for (const key of keys) if (rng.chance(0.5)) copy[key] = randomValue(rng);
      return copy;
  }
}

// ---- The harness. ----

interface Member {
  role: Role;
  socket: ClientSocket;
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

function describe(value: unknown): string {
  // The replacer sees a Buffer after its toJSON; `this[key]` is the Buffer itself.
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const original = key === '' ? value : this[key];
    return Buffer.isBuffer(original) ? `<${original.length} bytes>` : v;
  }) as string | undefined;
  return text === undefined ? String(value) : text.slice(0, 300);
}

/** Records uncaught exceptions and unhandled rejections of this (the app's) process. */
function watchProcess(t: { after(fn: () => void): void }): unknown[] {
  const crashes: unknown[] = [];
  const onCrash = (error: unknown): void => {
    crashes.push(error);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  t.after(() => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });
  return crashes;
}

async function connect(running: RunningApp, auth: Record<string, string>): Promise<ClientSocket> {
  const socket = client(running, auth);
  await welcome(socket);
  return socket;
}

function assertClearError(reply: unknown, what: string): void {
  const error = (reply as { error?: { code?: unknown; message?: unknown } }).error;
  assert.ok(
    typeof error?.code === 'string' && error.code !== '' && error.code !== 'internal',
    `${what}: not a clear error code: ${describe(reply)}`,
  );
  assert.ok(
    typeof error.message === 'string' && error.message.length > 0,
    `${what}: no error message: ${describe(reply)}`,
  );
}

test('random and mutated payloads for every event, from every role, get clear errors and harm nothing', async (t) => {
  const rng = Rng.fromEnv('socket.io fuzz');
  const started = Date.now();
  const crashes = watchProcess(t);
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'Fuzzed assembly');
  const b = await createAssembly(running, 'Bystander assembly');
  const mint = (assembly: string, role: Exclude<Role, 'operator'>): string =>
    running.app.core.invites.mint('test', parseAssemblyId(assembly), role, 600).token;

  const members: Member[] = [];
  for (const role of ['moderator', 'presenter', 'camera', 'viewer'] as const) {
    members.push({ role, socket: await connect(running, { token: mint(a.id, role) }) });
  }
  members.push({
    role: 'operator',
    socket: await connect(running, { token: running.operatorToken, assembly: a.id }),
  });
  const cameraWelcome = await (async () => {
    const socket = client(running, { token: mint(a.id, 'camera') });
    const w = await welcome(socket);
    members.push({ role: 'camera', socket });
    return w;
  })();
  t.after(() => {
    for (const member of members) member.socket.close();
  });
  // The other assembly: it must hear nothing of A's fuzzing.
  // The camera first, so the moderator's welcome lists it and no participant:joined is pending.
  const bystanderCamera = client(running, { token: mint(b.id, 'camera') });
  const bCameraId = must((await welcome(bystanderCamera)).you.cameraId, "B's camera id");
  const bystander = await connect(running, { token: mint(b.id, 'moderator') });
  t.after(() => {
    bystander.close();
    bystanderCamera.close();
  });
  // B's own camera may change state (its picture never comes: 'none' after 10 s); anything else
  // heard in B came from A.
  const heardInB: string[] = [];
  const listen = (event: string, ...args: unknown[]): void => {
    const own =
      event === 'participant:updated' &&
      (args[0] as { cameraId?: unknown } | undefined)?.cameraId === bCameraId;
    if (!own) heardInB.push(`${event} ${describe(args)}`);
  };
  bystander.onAny(listen);
  bystanderCamera.onAny(listen);
  /** Who is in B, by name and role (a camera's picture state changes on its own). */
  const whoIsInB = async (): Promise<string[]> => {
    const reply = (await bystander
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('presence:list', {})) as Reply<ParticipantWire[]>;
    assert.ok(reply.ok);
    return reply.data.map((p) => `${p.id} ${p.role} ${p.cameraId} ${p.name} ${p.muted}`).sort();
  };
  const bPresence = await whoIsInB();

  const presence = (await must(members[0], 'moderator')
    .socket.timeout(ACK_TIMEOUT_MS)
    .emitWithAck('presence:list', {})) as Reply<Array<{ cameraId?: string }>>;
  assert.ok(presence.ok);
  const cameraIds = presence.data.flatMap((p) => (p.cameraId === undefined ? [] : [p.cameraId]));
  assert.equal(cameraIds.length, 2);
  const ctx: Context = {
    cameraId: must(cameraWelcome.you.cameraId, 'camera id'),
    otherCameraId: must(
      cameraIds.find((c) => c !== cameraWelcome.you.cameraId),
      'other camera id',
    ),
  };

  const counts = { sent: 0, ok: 0, errors: 0, noAck: 0 };
  const seenEvents = new Set<EventName>();
  const checkBatch = async (): Promise<void> => {
    assert.deepEqual(crashes, [], 'an uncaught exception or unhandled rejection in the app');
    for (const member of members) {
      assert.ok(member.socket.connected, `the ${member.role} was disconnected`);
      const reply = (await member.socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck('presence:list', {})) as Reply<unknown>;
      assert.ok(reply.ok, `presence:list failed for the ${member.role}: ${describe(reply)}`);
    }
    for (const [assembly, name] of [
      [a.id, 'Fuzzed assembly'],
      [b.id, 'Bystander assembly'],
    ] as const) {
      const got = await request(
        `${running.url}/api/assemblies/${assembly}`,
        'GET',
        running.operatorToken,
      );
      assert.equal(got.status, 200);
      const view = (got.body as { assembly: { name: string; phase: string } }).assembly;
      assert.equal(view.name, name);
      assert.notEqual(view.phase, 'ended');
    }
    assert.deepEqual(heardInB, [], 'assembly B heard events of A');
    assert.deepEqual(await whoIsInB(), bPresence);
  };

  const moderator = must(
    members.find((m) => m.role === 'moderator'),
    'moderator',
  );
  const camera = must(
    members.find((m) => m.role === 'camera'),
    'camera',
  );
  /**
   * Messages the fuzzer found "ok" before they were fixed, sent first on every run: an empty
   * binary attachment passed for `{}` (and ended the assembly), and a thumbnail's unknown
   * fields were ignored.
   */
  const found: Array<[Member, EventName, unknown]> = [
    [moderator, 'assembly:end', Buffer.alloc(0)],
    [moderator, 'preview:take', new Uint8Array(0)],
    [camera, 'camera:thumbnail', { jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0]), extra: null }],
    [moderator, 'assembly:golive', JSON.parse('{"__proto__":{}}')],
  ];
  for (let n = 0; n < found.length + MESSAGES; n++) {
    const known = found[n];
    const member = known !== undefined ? known[0] : rng.pick(members);
    const event = known !== undefined ? known[1] : rng.pick(EVENTS);
    seenEvents.add(event);
    const payload = known !== undefined ? known[2] : mutate(template(event, rng, ctx), rng);
    const roles = EVENT_ROLES[event];
    const allowed = roles === null || roles.includes(member.role);
    const fits = SHAPES[event](onTheWire(payload));
    const what = `#${n} ${member.role} ${event} ${describe(payload)}`;
    // A valid end or remove would change the assembly for every later message.
    if (allowed && fits && DESTRUCTIVE.includes(event)) continue;
    counts.sent++;
    if (n >= found.length && (!allowed || !fits) && rng.chance(0.2)) {
      // Without an ack, a refused message is answered with request:error naming the event.
      counts.noAck++;
      const failure = new Promise<{ event: string; code: string; message: string }>(
        (resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`${what}: no request:error within ${ACK_TIMEOUT_MS} ms`)),
            ACK_TIMEOUT_MS,
          );
          member.socket.once('request:error', (f) => {
            clearTimeout(timer);
            resolve(f);
          });
        },
      );
      const extra = rng.chance(0.5) ? [rng.pick([1, 'ack', null, {}])] : [];
      (member.socket.emit as (e: string, ...args: unknown[]) => void)(event, payload, ...extra);
      const got = await failure;
      assert.equal(got.event, event, what);
      assertClearError({ error: got }, what);
      counts.errors++;
    } else {
      const reply = (await member.socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck(event, payload)) as Reply<unknown>;
      if ((reply as { ok?: unknown }).ok === true) {
        assert.ok(allowed && fits, `${what}: "ok" for a message that breaks the protocol`);
        assert.ok(Object.hasOwn(reply, 'data'), `${what}: ok without data`);
        counts.ok++;
      } else {
        assert.equal((reply as { ok?: unknown }).ok, false, `${what}: no ok field`);
        assertClearError(reply, what);
        counts.errors++;
      }
    }
    if ((n + 1) % BATCH === 0) await checkBatch();
  }
  await checkBatch();
  assert.equal(seenEvents.size, EVENTS.length, 'every event was fuzzed');
  assert.ok(counts.ok > 0 && counts.errors > counts.ok, `too few of each: ${describe(counts)}`);
  console.log(`# socket.io fuzz: ${describe(counts)} in ${Date.now() - started} ms`);
});

test('garbage socket.io and engine.io frames close only the sender; the server and others go on', async (t) => {
  const rng = Rng.fromEnv('socket.io frame fuzz');
  const crashes = watchProcess(t);
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'Fuzzed assembly');
  const token = running.app.core.invites.mint(
    'test',
    parseAssemblyId(a.id),
    'moderator',
    600,
  ).token;
  const moderator = await connect(running, { token });
  t.after(() => moderator.close());
  const wsUrl = `${running.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;

  /** One raw connection: the engine.io open, then (maybe) the socket.io connect, then garbage. */
  const frames = (): Array<string | Buffer> => {
    switch (rng.int(0, 7)) {
      case 0:
        return [rng.bytes(rng.int(1, 300))];
      case 1:
        return [rng.text(rng.int(1, 300))];
      case 2:
        return [`42${rng.text(rng.int(0, 200))}`];
      case 3:
        return [`42["program:cut",${rng.text(rng.int(0, 50))}`];
      case 4:
        // A binary event announcing attachments that never come, or random ones.
        return [
          `451-["camera:thumbnail",{"jpeg":{"_placeholder":true,"num":${rng.int(0, 5)}}}]`,
          rng.bytes(8),
        ];
      case 5:
        return [`42${rng.int(0, 99)}["presence:list",{}]`, '42["no:such:event",1,2,3]'];
      case 6:
        return ['2', '3', `4${'['.repeat(rng.int(1, 5000))}`];
      default:
        return [
          JSON.stringify(deepNesting(rng)),
          `42["presence:list",${JSON.stringify(deepNesting(rng))}]`,
        ];
    }
  };
  const rounds = 60;
  for (let i = 0; i < rounds; i++) {
    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    if (rng.chance(0.7)) ws.send(`40${JSON.stringify({ token })}`);
    for (const frame of frames()) ws.send(frame);
    // Then a normal request on the same connection: the server answers it or has closed the
    // connection; neither within the bound is a hang.
    ws.send(`40${JSON.stringify({ token })}`);
    ws.send('421234["presence:list",{}]');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`round ${i}: no answer and no close within ${ACK_TIMEOUT_MS} ms`)),
        ACK_TIMEOUT_MS,
      );
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      ws.on('message', (data) => {
        if ((data as Buffer).toString('utf8').startsWith('431234')) done();
      });
      ws.once('close', done);
    });
    ws.terminate();
    if ((i + 1) % 20 === 0) {
      assert.deepEqual(crashes, []);
      assert.ok(moderator.connected);
      const reply = (await moderator
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck('presence:list', {})) as Reply<unknown>;
      assert.ok(reply.ok);
    }
  }
  const listed = await request(
    `${running.url}/api/assemblies/${a.id}`,
    'GET',
    running.operatorToken,
  );
  assert.equal(listed.status, 200);
  assert.deepEqual(crashes, []);
});
