/**
 * The edge fleet operated at run time, on the app server started as `npm start` starts it
 * (`loadAppConfig`, `new App`, `startDelivery(app, deliveryOptions(config))`) with its local
 * nginx edge, one edge seeded from MONTAGE_EDGES and real nginx-rtmp edges standing in for edge
 * VMs; a test publisher plays the program bridge. Through REST an operator adds an edge (the
 * origin pushes to it within seconds, no restart), drains one (no new viewers, still pushed)
 * and removes one (no longer pushed); /healthz reports each edge as it is; a killed local edge
 * is restarted and serves again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery, type Delivery } from '../../server/delivery.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { EdgeWire } from '../../server/edges/wire.js';
import type { NginxEdge } from '../../server/edges/NginxEdge.js';
import { Logger } from '../../server/log.js';
import { streamName, type StreamName } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import { unsignedHlsUrl } from '../helpers/hlsPlaylist.js';
import { request } from '../server/appHelpers.js';
import { newEdge, waitFor } from './fleetHelpers.js';
import { EDGE_SECRET, fragments, publishQuadrants, type TestProcess } from './helpers.js';

let dataDir: string;
const vms: NginxEdge[] = [];
let seeded: NginxEdge;
let added: NginxEdge;
let app: App;
let delivery: Delivery;
let publisher: TestProcess | undefined;
let operatorToken: string;
let viewerToken: string;
let assemblyId: string;
let stream: StreamName;

async function api(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return request(`${app.url}${url}`, method, operatorToken, body);
}

/** /healthz as `status` plus one entry per part, its detail. */
async function health(): Promise<Record<string, string>> {
  const response = await fetch(`${app.url}/healthz`);
  const report = (await response.json()) as {
    status: string;
    parts: Record<string, { ok: boolean; detail: string }>;
  };
  const flat: Record<string, string> = { status: report.status };
  for (const [name, part] of Object.entries(report.parts)) flat[name] = part.detail;
  return flat;
}

/** The newest fragment of `edge`'s playlist of the stream, or undefined when there is none. */
async function newestFragment(edge: NginxEdge): Promise<string | undefined> {
  const response = await fetch(edge.playlistUrl(stream)).catch(() => undefined);
  if (response?.status !== 200) return undefined;
  return fragments(await response.text()).at(-1);
}

/** Resolves once `edge`'s playlist has grown by a fragment. */
async function advances(edge: NginxEdge, what: string, timeoutMs: number): Promise<void> {
  const first = await waitFor(`${what} lists a fragment`, () => newestFragment(edge), timeoutMs);
  await waitFor(
    `${what} keeps growing`,
    async () => {
      const now = await newestFragment(edge);
      return now !== undefined && now !== first ? true : undefined;
    },
    timeoutMs,
  );
}

/** `count` viewers ask where to watch; returns the playlist URLs they were handed. */
/**
 * Where `count` new viewers are sent: for each, the watch API's live multivariant playlist and
 * its first steering manifest, and the 720p live playlist of the pathway ranked first.
 */
async function watchers(count: number): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await request(
      `${app.url}/api/assemblies/${assemblyId}/watch`,
      'GET',
      viewerToken,
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const answer = response.body as { liveUrl: string; live: boolean };
    assert.equal(answer.live, true);
    const playlistUrl = new URL(answer.liveUrl, app.url);
    const playlist = await (await fetch(playlistUrl)).text();
    const serverUri = /SERVER-URI="([^"]+)"/.exec(playlist)?.[1];
    assert.ok(serverUri !== undefined, playlist);
    const manifest = (await (await fetch(new URL(serverUri, playlistUrl))).json()) as {
      'PATHWAY-PRIORITY': string[];
    };
    const first = manifest['PATHWAY-PRIORITY'][0];
    const lines = playlist.split('\n');
    const variant = lines.findIndex(
      (line) => line.startsWith('#EXT-X-STREAM-INF') && line.includes(`PATHWAY-ID="${first}"`),
    );
    assert.ok(variant >= 0, `no variant of pathway ${first}:\n${playlist}`);
    // Where it points; the signature is tested in test/edge/hlsSigning.test.ts.
    urls.push(unsignedHlsUrl(lines[variant + 1]?.trim() ?? ''));
  }
  return urls;
}

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'montage-fleet-'));
  seeded = await newEdge(dataDir, 'vm-seeded');
  added = await newEdge(dataDir, 'vm-added');
  vms.push(seeded, added);
  await seeded.start();
  await added.start();
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_HTTP_PORT: String(await freePort()),
      MONTAGE_EDGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_SECRET: EDGE_SECRET,
      MONTAGE_EDGES: `seeded=${seeded.httpUrl}|${seeded.ingestUrl}`,
    },
    envFile: null,
  });
  // No media server: the test publishes the program itself, as the ffmpeg bridge would.
  app = new App(config, { logger: new Logger('silent'), media: false });
  await app.start();
  delivery = await startDelivery(app, deliveryOptions(config));
  operatorToken = app.core.invites.mintOperator('test', 3600).token;
  const created = await api('POST', '/api/assemblies', { name: 'Fleet', live: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assemblyId = (created.body as { assembly: { id: string } }).assembly.id;
  viewerToken = app.core.tokens.sign({
    assembly: parseAssemblyId(assemblyId),
    role: 'viewer',
    ttlSeconds: 3600,
  });
  stream = streamName(assemblyId);
  delivery.origin.allowStream(stream, 'fleet-test-stream-key-000001');
  publisher = publishQuadrants(delivery.origin.publishUrl(stream), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);
});

after(async () => {
  await publisher?.stop();
  await app.stop();
  await delivery.stop();
  for (const vm of vms) await vm.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('the local edge and the seeded edge serve the program and /healthz has a part for each', async () => {
  const local = delivery.edge;
  assert.ok(local !== undefined);
  await advances(local, 'the local edge', 20_000);
  await advances(seeded, 'the seeded edge', 20_000);
  const report = await waitFor(
    'both edges are probed healthy',
    async () => {
      const now = await health();
      return now['edge:local'] === 'ok' && now['edge:seeded'] === 'ok' ? now : undefined;
    },
    15_000,
  );
  assert.equal(report.status, 'ok');
});

test('an edge added through REST receives the program within seconds, without a restart, and gets viewers', async () => {
  const started = Date.now();
  const response = await api('POST', '/api/edges', {
    id: 'added',
    publicUrl: added.httpUrl,
    ingestUrl: added.ingestUrl,
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  await advances(added, 'the added edge', 15_000);
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 15, `HLS on the added edge after ${seconds.toFixed(1)} s`);
  assert.ok(
    delivery.origin.pushStatus(stream).some((push) => push.edge === 'added' && push.running),
  );
  // A new edge is healthy from its first probe (its streams have a grace period); wait for a
  // probe that saw the push arrive, which the HLS above proves has happened.
  await waitFor(
    'the added edge is probed healthy, receiving the stream',
    () => {
      const status = app.edges.get('added').status;
      const publishing = status.streams.find((s) => s.name === stream)?.publishing === true;
      return status.healthy && publishing ? true : undefined;
    },
    15_000,
  );
  // Its viewers are few (none yet): it gets some of the next ones.
  const urls = await watchers(6);
  assert.ok(
    urls.includes(`${added.httpUrl}/hls/${assemblyId}/live.m3u8`),
    `the new edge gets viewers: ${urls.join(' ')}`,
  );
  const listed = await api('GET', '/api/edges');
  const edge = (listed.body as { edges: EdgeWire[] }).edges.find((e) => e.id === 'added');
  assert.equal(edge?.status.healthy, true);
  assert.equal(edge?.status.streams.find((s) => s.name === stream)?.publishing, true);
});

test('a drained edge gets no new viewers and is still pushed to; activated, it gets viewers again', async () => {
  const drained = await api('POST', '/api/edges/seeded/drain');
  assert.equal(drained.status, 200);
  const seededUrl = `${seeded.httpUrl}/hls/${assemblyId}/live.m3u8`;
  const urls = await watchers(12);
  assert.ok(!urls.includes(seededUrl), `a draining edge was handed out: ${urls.join(' ')}`);
  // Its current viewers are still there until they move: the program keeps reaching it.
  await advances(seeded, 'the draining edge', 15_000);
  assert.ok((await health())['edge:seeded']?.endsWith(', draining'));
  assert.equal((await api('POST', '/api/edges/seeded/activate')).status, 200);
  assert.ok((await watchers(12)).includes(seededUrl), 'active again, it gets viewers');
});

test('a removed edge is no longer pushed to, handed out or reported', async () => {
  const removed = await api('DELETE', '/api/edges/added');
  assert.equal(removed.status, 204);
  assert.ok(!delivery.origin.pushStatus(stream).some((push) => push.edge === 'added'));
  await waitFor(
    'the removed edge no longer receives the stream',
    async () => {
      const stat = await (await fetch(`${added.httpUrl}/stat`)).text();
      return stat.includes('<publishing/>') ? undefined : true;
    },
    15_000,
  );
  const urls = await watchers(12);
  assert.ok(!urls.some((url) => url.startsWith(added.httpUrl)), urls.join(' '));
  assert.equal((await health())['edge:added'], undefined);
});

test('/healthz reports a stopped edge as failing; a killed local edge is restarted and serves again', async () => {
  await seeded.stop();
  const report = await waitFor(
    'the stopped edge fails in /healthz',
    async () => {
      const now = await health();
      return now['edge:seeded']?.startsWith('failing:') === true ? now : undefined;
    },
    15_000,
  );
  assert.match(report['edge:seeded'] ?? '', /^failing: \/stat: ECONNREFUSED/);
  // The local edge still serves: the report is degraded (one edge fails), not failing.
  assert.equal(report.status, 'degraded');
  assert.equal(report.delivery, undefined, 'viewers can still watch');
  const urls = await watchers(6);
  assert.ok(!urls.some((url) => url.startsWith(seeded.httpUrl)), 'a failing edge gets no viewers');

  const local = delivery.edge;
  assert.ok(local !== undefined);
  const pid = await local.pid();
  assert.ok(pid !== undefined);
  process.kill(pid, 'SIGTERM');
  const restarted = await waitFor(
    'the local edge is restarted',
    async () => {
      const now = await local.pid();
      return now !== undefined && now !== pid ? now : undefined;
    },
    20_000,
  );
  assert.notEqual(restarted, pid);
  await advances(local, 'the restarted local edge', 20_000);
  await waitFor(
    'the restarted local edge is healthy in /healthz',
    async () => ((await health())['edge:local'] === 'ok' ? true : undefined),
    15_000,
  );
});
