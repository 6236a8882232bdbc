/**
 * The edge registry against real nginx-rtmp edges and a real origin: background probes (health,
 * load, streams, playlists that advance), recovery, the choice of an edge for a viewer from the
 * cached probes, draining, and the seeding of the table from MONTAGE_EDGES on the first start.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { ConfiguredEdge } from '../../server/config.js';
import { EdgeRegistry, type ProbeSettings } from '../../server/edges/EdgeRegistry.js';
import type { NginxEdge } from '../../server/edges/NginxEdge.js';
import { Logger } from '../../server/log.js';
import { RtmpOrigin, streamName, type EdgeId } from '../../server/origin/RtmpOrigin.js';
import { AuditLog } from '../../server/store/AuditLog.js';
import { openDatabase, type SqliteDatabase } from '../../server/store/Database.js';
import { EdgeStore } from '../../server/store/EdgeStore.js';
import { freePort } from '../helpers/engineProcess.js';
import { assertSignedFor, unsignedHlsUrl } from '../helpers/hlsPlaylist.js';
import { newEdge, waitFor } from './fleetHelpers.js';
import { EDGE_SECRET, publishQuadrants, SIGNED_HLS_PATH, type TestProcess } from './helpers.js';

let dir: string;
const edges: NginxEdge[] = [];
const registries: EdgeRegistry[] = [];
const databases: SqliteDatabase[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'montage-edge-registry-'));
});

after(async () => {
  for (const registry of registries) await registry.stop();
  for (const edge of edges) await edge.stop();
  for (const db of databases) db.close();
  await rm(dir, { recursive: true, force: true });
});

async function startedEdge(name: string): Promise<NginxEdge> {
  const edge = await newEdge(dir, name);
  edges.push(edge);
  await edge.start();
  return edge;
}

/** Log lines, parsed, so that a test can check what the registry warned about. */
class LogLines {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly logger = new Logger('info', {
    write: (line: string) => this.lines.push(JSON.parse(line) as Record<string, unknown>),
  });

  messages(level: string): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => String(line.msg));
  }
}

function registry(
  options: {
    file?: string;
    seed?: ConfiguredEdge[];
    liveStreams?: () => readonly string[];
    probe?: Partial<ProbeSettings>;
    log?: LogLines;
  } = {},
): { registry: EdgeRegistry; audit: AuditLog; log: LogLines } {
  const db = openDatabase(options.file ?? path.join(dir, `${Math.random()}.sqlite`));
  databases.push(db);
  const audit = new AuditLog(db);
  const log = options.log ?? new LogLines();
  const created = new EdgeRegistry({
    store: new EdgeStore(db),
    audit,
    logger: log.logger,
    seed: options.seed,
    liveStreams: options.liveStreams,
    probe: options.probe,
    hlsPath: SIGNED_HLS_PATH,
  });
  registries.push(created);
  return { registry: created, audit, log };
}

test('edges are probed in the background: healthy with their load, unhealthy with the reason, healthy again when back', async () => {
  const up = await startedEdge('up');
  const down = await newEdge(dir, 'down');
  edges.push(down);
  const { registry: fleet } = registry();
  const health: string[] = [];
  fleet.on('health', (edge) => health.push(`${edge.id}:${String(edge.status.healthy)}`));
  fleet.add('operator', { id: 'up', publicUrl: up.httpUrl, ingestUrl: up.ingestUrl });
  fleet.add('operator', { id: 'down', publicUrl: down.httpUrl, ingestUrl: down.ingestUrl });
  fleet.start();

  const healthy = await waitFor(
    'edge up is healthy, with its load',
    () => {
      const edge = fleet.get('up');
      return edge.status.healthy && edge.status.httpConnections !== undefined ? edge : undefined;
    },
    15_000,
  );
  assert.equal(healthy.status.reachable, true);
  assert.equal(healthy.status.error, undefined);
  assert.equal(typeof healthy.status.httpConnections, 'number');
  assert.equal(typeof healthy.status.uptimeSeconds, 'number');
  assert.equal(typeof healthy.status.bwIn, 'number');
  assert.ok(healthy.status.probedAt !== undefined);
  const failing = await waitFor(
    'edge down fails three times in a row',
    () => {
      const edge = fleet.get('down');
      return edge.status.consecutiveFailures >= 3 ? edge : undefined;
    },
    15_000,
  );
  assert.equal(failing.status.healthy, false);
  assert.match(failing.status.error ?? '', /^\/stat: ECONNREFUSED/);
  assert.deepEqual(fleet.snapshot(), [
    {
      id: 'up',
      publicUrl: up.httpUrl,
      state: 'active',
      healthy: true,
      httpConnections: fleet.get('up').status.httpConnections,
    },
    {
      id: 'down',
      publicUrl: down.httpUrl,
      state: 'active',
      healthy: false,
      httpConnections: undefined,
    },
  ]);
  const report = fleet.health();
  assert.equal(report.serving, true, 'one active edge serves');
  assert.deepEqual(report.parts['edge:up'], { ok: true, detail: 'ok' });
  assert.equal(report.parts['edge:down']?.ok, false);
  assert.match(report.parts['edge:down']?.detail ?? '', /^failing: \/stat: ECONNREFUSED/);

  await down.start();
  await waitFor(
    'edge down recovers',
    () => (fleet.get('down').status.healthy ? true : undefined),
    15_000,
  );
  assert.equal(fleet.get('down').status.lastError?.message.startsWith('/stat: ECONNREFUSED'), true);
  await up.stop();
  await waitFor(
    'edge up is found down',
    () => (fleet.get('up').status.healthy ? undefined : true),
    15_000,
  );
  assert.deepEqual(health, ['up:true', 'down:true', 'up:false']);
  await fleet.stop();
});

test('an edge must serve every live stream: one the origin does not push to turns unhealthy, and healthy once it receives it', async (t) => {
  const pushed = await startedEdge('pushed');
  const forgotten = await startedEdge('forgotten');
  const origin = new RtmpOrigin({ port: await freePort(), edgeSecret: EDGE_SECRET });
  await origin.start();
  const running: { publisher?: TestProcess } = {};
  t.after(async () => {
    await running.publisher?.stop();
    await origin.stop();
  });
  const stream = streamName('registrystream1');
  origin.allowStream(stream, 'registry-stream-key-0123456789');
  origin.addEdge('pushed' as EdgeId, pushed.ingestUrl);
  const { registry: fleet } = registry({
    liveStreams: () => origin.liveStreams(),
    probe: { streamGraceMs: 4000 },
  });
  fleet.add('operator', { id: 'pushed', publicUrl: pushed.httpUrl, ingestUrl: pushed.ingestUrl });
  fleet.add('operator', {
    id: 'forgotten',
    publicUrl: forgotten.httpUrl,
    ingestUrl: forgotten.ingestUrl,
  });
  fleet.start();
  running.publisher = publishQuadrants(origin.publishUrl(stream), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);

  // The edge the origin pushes to serves the stream, and its playlist keeps growing.
  const first = await waitFor(
    'the pushed edge lists a fragment',
    () =>
      fleet.get('pushed').status.streams.find((s) => s.name === stream && s.playlistOk === true),
    20_000,
    () => JSON.stringify(fleet.get('pushed').status),
  );
  assert.equal(first.live, true);
  assert.equal(first.publishing, true);
  assert.ok(first.clients >= 1);
  await waitFor(
    'its playlist advances',
    () => {
      const now = fleet.get('pushed').status.streams.find((s) => s.name === stream);
      return now?.lastFragment !== undefined && now.lastFragment !== first.lastFragment
        ? true
        : undefined;
    },
    15_000,
  );
  assert.equal(fleet.get('pushed').status.healthy, true);

  // The other edge answers /stat but never receives the stream: after the grace period it is
  // unhealthy, and says why.
  const unserved = await waitFor(
    'the forgotten edge is unhealthy',
    () => {
      const edge = fleet.get('forgotten');
      return edge.status.probedAt !== undefined && !edge.status.healthy ? edge : undefined;
    },
    20_000,
  );
  assert.equal(unserved.status.reachable, true);
  assert.equal(
    unserved.status.error,
    `not receiving ${stream} from the origin (check its ingest URL and secret)`,
  );
  assert.equal(fleet.pick(stream)?.edge.id, 'pushed');

  origin.addEdge('forgotten' as EdgeId, forgotten.ingestUrl);
  await waitFor(
    'the forgotten edge serves once the origin pushes to it',
    () => (fleet.get('forgotten').status.healthy ? true : undefined),
    20_000,
    () => JSON.stringify(fleet.get('forgotten').status),
  );
  // The push stops while the stream stays live: the edge no longer serves it.
  origin.removeEdge('pushed' as EdgeId);
  const stopped = await waitFor(
    'the pushed edge is unhealthy once nothing is pushed',
    () => {
      const edge = fleet.get('pushed');
      return edge.status.healthy ? undefined : edge;
    },
    30_000,
    () => JSON.stringify(fleet.get('pushed').status),
  );
  assert.match(stopped.status.error ?? '', new RegExp(`${stream}`));
  await fleet.stop();
});

test('a hung edge: probes never overlap, each gives up at its deadline, and come about every interval', async (t) => {
  let open = 0;
  let mostOpen = 0;
  let requests = 0;
  const held: ServerResponse[] = [];
  // An HTTP server that accepts /stat and never answers, as a wedged nginx would.
  const hung = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests += 1;
    open += 1;
    mostOpen = Math.max(mostOpen, open);
    held.push(response);
    request.socket.once('close', () => (open -= 1));
  });
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  t.after(async () => {
    hung.closeAllConnections();
    await new Promise((resolve) => hung.close(resolve));
  });
  const address = hung.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const { registry: fleet } = registry({ probe: { intervalMs: 600, timeoutMs: 200 } });
  fleet.add('operator', {
    id: 'hung',
    publicUrl: `http://127.0.0.1:${port}`,
    ingestUrl: 'rtmp://127.0.0.1:9/live',
  });
  const started = Date.now();
  fleet.start();
  await waitFor('four probes gave up', () => (requests >= 5 ? true : undefined), 15_000);
  const elapsed = Date.now() - started;
  await fleet.stop();
  const status = fleet.get('hung').status;
  assert.equal(mostOpen, 1, 'never more than one probe in flight');
  assert.equal(status.healthy, false);
  assert.equal(status.error, '/stat: no answer within 200 ms');
  assert.ok(status.consecutiveFailures >= 4);
  // Five probes at 600 ms intervals take 2.4 s at least; far longer means probes piled up.
  assert.ok(elapsed >= 2400, `five probes in ${elapsed} ms`);
});

test('pick: the least-loaded healthy active edge, a crowd spread between probes, none for draining edges', async (t) => {
  const one = await startedEdge('one');
  const two = await startedEdge('two');
  const { registry: fleet } = registry();
  fleet.add('operator', { id: 'one', publicUrl: one.httpUrl, ingestUrl: one.ingestUrl });
  fleet.add('operator', { id: 'two', publicUrl: two.httpUrl, ingestUrl: two.ingestUrl });
  fleet.start();
  const bothHealthy = (): true | undefined =>
    fleet.snapshot().every((edge) => edge.healthy) ? true : undefined;
  await waitFor('both edges are healthy', bothHealthy, 15_000);

  // Six open HTTP connections to edge one, as six viewers' players hold them.
  const sockets: Socket[] = [];
  t.after(() => {
    for (const socket of sockets) socket.destroy();
  });
  const url = new URL(one.httpUrl);
  for (let i = 0; i < 6; i++) {
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    sockets.push(socket);
  }
  await waitFor(
    'the probe counts the connections',
    () => ((fleet.get('one').status.httpConnections ?? 0) >= 6 ? true : undefined),
    15_000,
  );
  const loadOne = fleet.get('one').status.httpConnections ?? 0;
  const loadTwo = fleet.get('two').status.httpConnections ?? 0;
  // Between two probes, viewers handed out count as load: the first go to the idle edge until
  // it is as loaded as the other, then they alternate.
  const picks: string[] = [];
  for (let i = 0; i < 10; i++) picks.push(fleet.pick('s')?.edge.id ?? 'none');
  const toTwo = picks.filter((id) => id === 'two').length;
  assert.ok(toTwo >= 6, `picks ${picks.join(',')} with loads ${loadOne}/${loadTwo}`);
  assert.ok(picks.includes('one'), `a crowd spreads: ${picks.join(',')}`);
  const chosen = fleet.pick('s');
  const base = chosen?.edge.id === 'one' ? one.httpUrl : two.httpUrl;
  assert.equal(unsignedHlsUrl(chosen?.playlistUrl ?? ''), `${base}/hls/s/live.m3u8`);
  assertSignedFor(chosen?.playlistUrl ?? '', 's', EDGE_SECRET);

  fleet.drain('operator', 'two');
  for (let i = 0; i < 5; i++)
    assert.equal(fleet.pick('s')?.edge.id, 'one', 'draining edges get no new viewers');
  fleet.drain('operator', 'one');
  assert.equal(fleet.pick('s'), undefined, 'no active edge');
  fleet.activate('operator', 'two');
  assert.equal(fleet.pick('s')?.edge.id, 'two');

  // No healthy active edge: the first active one is handed out, marked unhealthy.
  await two.stop();
  await waitFor(
    'edge two is found down',
    () => (fleet.get('two').status.healthy ? undefined : true),
    15_000,
  );
  const fallback = fleet.pick('s');
  assert.equal(fallback?.edge.id, 'two');
  assert.equal(fallback?.healthy, false);
  assert.equal(fleet.health().serving, false, 'no active edge serves');
  await fleet.stop();
});

test('MONTAGE_EDGES seeds the table on the first start only; afterwards the database is the truth', () => {
  const file = path.join(dir, 'seed.sqlite');
  const a: ConfiguredEdge = {
    id: 'a',
    publicUrl: 'https://a.school.example',
    ingestUrl: 'rtmp://10.0.0.1:1935/live',
    statusUrl: 'http://10.0.0.1:8090',
  };
  const b: ConfiguredEdge = {
    id: 'b',
    publicUrl: 'https://b.school.example',
    ingestUrl: 'rtmp://10.0.0.2:1935/live',
    statusUrl: 'https://b.school.example',
  };
  const first = registry({ file, seed: [a, b] });
  assert.deepEqual(
    first.registry.list().map((edge) => [edge.id, edge.createdBy, edge.state]),
    [
      ['a', 'config', 'active'],
      ['b', 'config', 'active'],
    ],
  );
  assert.deepEqual(
    first.audit
      .recent()
      .map((entry) => [entry.actor, entry.action, entry.details.edge])
      .reverse(),
    [
      ['config', 'edge.add', 'a'],
      ['config', 'edge.add', 'b'],
    ],
  );
  // Operators change the fleet at run time.
  first.registry.add('operator', {
    id: 'c',
    publicUrl: 'https://c.school.example',
    ingestUrl: 'rtmp://10.0.0.3/live',
  });
  first.registry.drain('operator', 'a');
  first.registry.remove('operator', 'b');

  // A restart with MONTAGE_EDGES changed: ignored, with a warning that says so.
  const changed = registry({
    file,
    seed: [
      a,
      b,
      {
        ...b,
        id: 'd',
        ingestUrl: 'rtmp://10.0.0.4:1935/live',
        publicUrl: 'https://d.school.example',
      },
    ],
  });
  assert.deepEqual(
    changed.registry.list().map((edge) => [edge.id, edge.state, edge.ingestUrl]),
    [
      ['a', 'draining', 'rtmp://10.0.0.1:1935/live'],
      ['c', 'active', 'rtmp://10.0.0.3:1935/live'],
    ],
  );
  const warnings = changed.log.messages('warn');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /^MONTAGE_EDGES differs .* ignored: the database is the truth/);

  // The same MONTAGE_EDGES as on the first start: nothing to warn about.
  const same = registry({ file, seed: [a, b] });
  assert.deepEqual(same.log.messages('warn'), []);
  assert.deepEqual(
    same.registry.list().map((edge) => edge.id),
    ['a', 'c'],
  );

  // A first start without MONTAGE_EDGES seeds an empty fleet: a later MONTAGE_EDGES is ignored.
  const emptyFile = path.join(dir, 'empty.sqlite');
  assert.deepEqual(registry({ file: emptyFile }).registry.list(), []);
  const late = registry({ file: emptyFile, seed: [a] });
  assert.deepEqual(late.registry.list(), []);
  assert.equal(late.log.messages('warn').length, 1);
});
