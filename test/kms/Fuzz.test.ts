/**
 * Fuzzing of the engine's JSON-RPC: the frames kurento-client 7.2.0 really sends for a typical
 * flow are recorded through a loopback proxy, then mutated (a field deleted, a type swapped, a
 * boundary value, a duplicated id, truncation, random bytes) and sent on a raw socket. Seeded
 * (MONTAGE_FUZZ_SEED repeats a run) and bounded in count.
 *
 * Invariants: every request with a usable id gets a JSON-RPC response with that id, carrying a
 * result or an error with an integer code and a message; unparsable text gets the -32700 reply;
 * ping keeps answering; no worker dies (no UNEXPECTED_PIPELINE_ERROR on the recorded pipeline,
 * its worker still runs); the engine (this process) sees no uncaught exception.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import kurento from 'kurento-client';
import WebSocket, { WebSocketServer } from 'ws';
import { connectKurento } from '../helpers/kurento.js';
import { Rng } from '../helpers/Rng.js';
import { RawClient, isEvent, startTestEngine, type Json } from './helpers.js';

const FRAMES = Number(process.env.MONTAGE_FUZZ_FRAMES ?? 1000);
const REPLY_TIMEOUT_MS = 20_000;

/** A loopback proxy that records every text frame a client sends to the engine. */
async function recordingProxy(
  target: string,
): Promise<{ url: string; frames: string[]; close(): Promise<void> }> {
  const frames: string[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (downstream, request) => {
    const upstream = new WebSocket(`${target.replace(/\/[^/]*$/, '')}${request.url ?? ''}`);
    const queued: Array<{ data: Buffer; binary: boolean }> = [];
    upstream.on('open', () => {
      for (const frame of queued.splice(0)) upstream.send(frame.data, { binary: frame.binary });
    });
    downstream.on('message', (data: Buffer, binary) => {
      frames.push(data.toString('utf8'));
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary });
      else queued.push({ data, binary });
    });
    upstream.on('message', (data: Buffer, binary) => downstream.send(data, { binary }));
    downstream.on('close', () => upstream.close());
    upstream.on('close', () => downstream.close());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}${new URL(target).pathname}`,
    frames,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** Every path to a value inside `value` ([] is the value itself). */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

function parentOf(root: unknown, path: Array<string | number>): Record<string, unknown> {
  // An earlier change may have replaced a parent: then the change goes nowhere.
  let node: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return {};
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : {};
}

function boundary(rng: Rng): unknown {
  return rng.pick<unknown>([
    null,
    true,
    false,
    0,
    -1,
    -0,
    0.5,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53 + 2,
    1e308,
    -1e308,
    '',
    ' ',
    '0',
    'true',
    'null',
    rng.text(rng.int(1, 40)),
    'x'.repeat(rng.int(1000, 200_000)),
    [],
    {},
    [null],
    { type: 'MediaPipeline' },
    '__proto__',
    JSON.parse('{"__proto__":{"polluted":1}}') as unknown,
    'VIDEO',
    'DATA',
    'kurento.MediaPipeline',
  ]);
}

/** One mutation of a recorded frame: the text to send. */
function mutate(frame: Json, rng: Rng): string {
  const copy = JSON.parse(JSON.stringify(frame)) as Json;
  const all = paths(copy).filter((p) => p.length > 0);
  switch (rng.int(0, 7)) {
    case 0: {
      // Delete a field or element.
      const path = rng.pick(all);
      const parent = parentOf(copy, path);
      const key = path[path.length - 1] as string | number;
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    }
    case 1:
    case 2: {
      // Swap a value for another type or a boundary value.
      const path = rng.pick(all);
      parentOf(copy, path)[path[path.length - 1] as string] = boundary(rng);
      break;
    }
    case 3: {
      // An extra field somewhere.
      const path = rng.pick([[], ...all.filter((p) => p[0] === 'params')]);
      const node =
        path.length === 0 ? copy : parentOf(copy, [...path, ''])[path[path.length - 1] as string];
      if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
        (node as Json)[rng.pick(['extra', 'id', 'object', 'type', '__proto__', 'constructor'])] =
          boundary(rng);
      }
      break;
    }
    case 4:
      // Truncated text.
      return JSON.stringify(copy).slice(0, rng.int(0, JSON.stringify(copy).length - 1));
    case 5:
      // Two frames glued, or a batch array (not supported by Kurento).
      return rng.chance(0.5)
        ? JSON.stringify(copy) + JSON.stringify(copy)
        : JSON.stringify([copy, copy]);
    case 6:
      // The method swapped for another recorded one.
      copy.method = boundary(rng) ?? 'describe';
      break;
    default:
      // Several values at once.
      for (const path of all) {
        if (rng.chance(0.3)) parentOf(copy, path)[path[path.length - 1] as string] = boundary(rng);
      }
  }
  return JSON.stringify(copy);
}

test('mutated kurento-client JSON-RPC frames get JSON-RPC errors, and no worker or the engine dies', async (t) => {
  const rng = Rng.fromEnv('JSON-RPC fuzz');
  const started = Date.now();
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
  const media = mkdtempSync(join(tmpdir(), 'montage-fuzz-'));
  t.after(() => rmSync(media, { recursive: true, force: true }));
  writeFileSync(join(media, 'clip.webm'), 'not played in this test');
  // Few pipelines: a mutated create must not fill a loaded machine with workers.
  const engine = await startTestEngine({ fileRoots: [media], maxPipelines: 4 });
  t.after(() => engine.close());
  const proxy = await recordingProxy(engine.url);
  t.after(() => proxy.close());

  // The recorded flow, as an application would run it.
  const client = await connectKurento(proxy.url);
  t.after(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const webrtc = await pipeline.create('WebRtcEndpoint');
  const offerer = await pipeline.create('WebRtcEndpoint');
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media}/clip.webm` });
  await player.connect(webrtc);
  webrtc.on('IceCandidateFound', () => undefined);
  const offer = await offerer.generateOffer();
  await webrtc.processOffer(offer);
  await webrtc.getMediaState();
  await webrtc.setName('fuzzed');
  await webrtc.gatherCandidates();
  await webrtc.addIceCandidate(
    kurento.getComplexType('IceCandidate')({
      candidate: 'candidate:1 1 UDP 2122260223 127.0.0.1 9 typ host',
      sdpMid: '0',
      sdpMLineIndex: 0,
    }),
  );
  await offerer.release();
  const recorded = proxy.frames
    .map((text) => JSON.parse(text) as Json)
    .filter((frame) => typeof frame.method === 'string');
  const methods = new Set(recorded.map((frame) => frame.method));
  for (const method of ['create', 'invoke', 'subscribe', 'release'])
    assert.ok(methods.has(method), `${method} was recorded: ${[...methods].join(', ')}`);
  // kurento-client pings only on its heartbeat; the frame it sends is this one.
  recorded.push({ jsonrpc: '2.0', id: 0, method: 'ping', params: { interval: 240000 } });

  const pipelineId = (pipeline as unknown as { id: string }).id;
  const monitor = await RawClient.open(engine.url);
  t.after(() => monitor.close());
  await monitor.ok('subscribe', { object: pipelineId, type: 'Error' });
  const workers = engine.workerPids();
  assert.equal(workers.length, 1);

  const raw = await RawClient.open(engine.url);
  t.after(() => raw.close());
  let nextId = 1_000_000;
  const counts = { results: 0, errors: 0, unanswerable: 0, parseErrors: 0 };
  const codes = new Map<number, number>();
  for (let n = 0; n < FRAMES; n++) {
    let frame = rng.pick(recorded);
    // The recorded endpoint is negotiated already (40208 before the worker sees anything): half
    // the SDP calls go to a fresh endpoint instead, so mutated SDP reaches a worker.
    const params = frame.params as Json | undefined;
    let fresh: string | undefined;
    if (
      frame.method === 'invoke' &&
      ['processOffer', 'generateOffer', 'processAnswer'].includes(String(params?.operation)) &&
      rng.chance(0.5)
    ) {
      const created = await raw.call('create', {
        type: 'WebRtcEndpoint',
        constructorParams: { mediaPipeline: pipelineId },
      });
      fresh = (created.result as Json | undefined)?.value as string | undefined;
      if (fresh !== undefined) frame = { ...frame, params: { ...params, object: fresh } };
    }
    let text: string;
    let binary = false;
    if (rng.chance(0.05)) {
      text = rng.bytes(rng.int(1, 200)).toString('latin1');
      binary = rng.chance(0.5);
    } else {
      // A fresh id for each request, so each reply is told apart (unless the id was mutated).
      text = mutate({ ...frame, id: rng.chance(0.1) ? frame.id : nextId++ }, rng);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const what = `#${n} ${text.slice(0, 300)}`;
    const id = (parsed as Json | undefined)?.id;
    const usableId =
      typeof parsed === 'object' &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      (typeof id === 'number' || (typeof id === 'string' && id !== ''));
    const expectId = usableId ? id : parsed === undefined ? null : undefined;
    if (expectId === undefined) {
      // A notification, a batch or an unusable id: no reply to wait for; ping shows it lived.
      raw.socket.send(Buffer.from(text, binary ? 'latin1' : 'utf8'), { binary });
      counts.unanswerable++;
      await raw.ok('ping');
      if (fresh !== undefined) await raw.call('release', { object: fresh });
      continue;
    }
    const reply = await Promise.race([
      raw.sendRaw(binary ? Buffer.from(text, 'latin1') : text, expectId, binary),
      new Promise<Json>((_, reject) =>
        setTimeout(
          () => reject(new Error(`${what}: no reply within ${REPLY_TIMEOUT_MS} ms`)),
          REPLY_TIMEOUT_MS,
        ),
      ),
    ]);
    assert.equal(reply.jsonrpc, '2.0', what);
    if (reply.error !== undefined) {
      const error = reply.error as Json;
      assert.ok(Number.isInteger(error.code), `${what}: error without an integer code`);
      assert.ok(typeof error.message === 'string' && error.message !== '', `${what}: no message`);
      codes.set(error.code as number, (codes.get(error.code as number) ?? 0) + 1);
      if (expectId === null) counts.parseErrors++;
      else counts.errors++;
    } else {
      assert.ok(Object.hasOwn(reply, 'result'), `${what}: neither result nor error`);
      counts.results++;
    }
    if (fresh !== undefined) await raw.call('release', { object: fresh });
    if ((n + 1) % 50 === 0) {
      await raw.ok('ping');
      assert.deepEqual(crashes, []);
    }
  }
  await raw.ok('ping');
  await monitor.settle();
  assert.deepEqual(
    monitor.events.filter(isEvent('Error')),
    [],
    'an Error on the recorded pipeline',
  );
  // The recorded pipeline's worker still runs (it was never released by a fuzzed frame, whose
  // ids are the recorded ones, unless one released it: then it answers 40101).
  const described = await raw.call('describe', { object: pipelineId });
  if (described.error === undefined) assert.ok(engine.workerPids().includes(workers[0] ?? -1));
  else assert.equal((described.error as Json).code, 40101);
  assert.deepEqual(crashes, []);
  // -32603 is Kurento's "unexpected error": the engine caught something it did not foresee.
  assert.equal(codes.get(-32603) ?? 0, 0, `unexpected errors: ${JSON.stringify([...codes])}`);
  console.log(
    `# JSON-RPC fuzz: ${JSON.stringify(counts)} codes ${JSON.stringify([...codes])} in ${Date.now() - started} ms`,
  );
});
