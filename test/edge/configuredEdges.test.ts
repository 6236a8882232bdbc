/**
 * Edges run elsewhere, registered through MONTAGE_EDGES, receive the program: the app server is
 * configured and started exactly as `npm start` does it (`loadAppConfig`, `new App`,
 * `startDelivery(app, deliveryOptions(config))`), with no local edge, and two real nginx-rtmp
 * edges stand in for edge VMs. One edge is down when the stream starts, as a remote edge may be,
 * to prove that the origin keeps pushing until it comes up.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery, type Delivery } from '../../server/delivery.js';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { Logger } from '../../server/log.js';
import { streamName, type StreamName } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import { assertSignedFor, unsignedHlsUrl } from '../helpers/hlsPlaylist.js';
import { request } from '../server/appHelpers.js';
import { waitFor } from './fleetHelpers.js';
import {
  EDGE_SECRET,
  fragments,
  publishQuadrants,
  waitForText,
  type TestProcess,
} from './helpers.js';

/**
 * What viewers are handed. Nothing answers there (they stand for DNS names in front of the
 * edges): the registry probes each edge through its status URL, the third part of the entry.
 */
const PUBLIC_A = 'https://edge-a.school.example';
const PUBLIC_B = 'https://cdn.school.example/edge-b';

let dataDir: string;
const edges: NginxEdge[] = [];
let edgeA: NginxEdge;
let edgeB: NginxEdge;
let app: App | undefined;
let delivery: Delivery | undefined;
let publisher: TestProcess | undefined;
let operatorToken: string;
let assemblyId: string;
let stream: StreamName;

async function newEdge(name: string): Promise<NginxEdge> {
  const edge = new NginxEdge({
    prefix: path.join(dataDir, name),
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
    // nginx as root would run its workers as nobody, who cannot write the test's HLS folder.
    user: process.getuid?.() === 0 ? 'root' : undefined,
  });
  edges.push(edge);
  return edge;
}

/** GET /api/assemblies/:id/watch as a viewer's page does. */
async function watch(): Promise<{ liveUrl: string; live: boolean }> {
  assert.ok(app !== undefined);
  const response = await request(
    `${app.url}/api/assemblies/${assemblyId}/watch`,
    'GET',
    operatorToken,
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body as { liveUrl: string; live: boolean };
}

/** The multivariant playlist's initial pathway and its first steering manifest's priority. */
async function steering(): Promise<{ playlist: string; priority: string[] }> {
  assert.ok(app !== undefined);
  const url = new URL((await watch()).liveUrl, app.url);
  const playlist = await (await fetch(url)).text();
  const serverUri = /SERVER-URI="([^"]+)"/.exec(playlist)?.[1];
  assert.ok(serverUri !== undefined, playlist);
  const manifest = (await (await fetch(new URL(serverUri, url))).json()) as {
    'PATHWAY-PRIORITY': string[];
  };
  return { playlist, priority: manifest['PATHWAY-PRIORITY'] };
}

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'montage-configured-edges-'));
  edgeA = await newEdge('edge-a');
  edgeB = await newEdge('edge-b');
  await edgeA.start();
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_SECRET: EDGE_SECRET,
      MONTAGE_LOCAL_EDGE: 'false',
      MONTAGE_EDGES: [
        `a=${PUBLIC_A}|${edgeA.ingestUrl}|${edgeA.httpUrl}`,
        `b=${PUBLIC_B}/|${edgeB.ingestUrl}|${edgeB.httpUrl}`,
      ].join(','),
    },
    envFile: null,
  });
  // No media server: the test publishes the program itself, as the ffmpeg bridge would.
  app = new App(config, { logger: new Logger('silent'), media: false });
  await app.start();
  delivery = await startDelivery(app, deliveryOptions(config));
  operatorToken = app.core.invites.mintOperator('test', 3600).token;
  const created = await request(`${app.url}/api/assemblies`, 'POST', operatorToken, {
    name: 'Configured edges',
    live: true,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assemblyId = (created.body as { assembly: { id: string } }).assembly.id;
  stream = streamName(assemblyId);
  delivery.origin.allowStream(stream, 'configured-edges-stream-key-0001');
});

after(async () => {
  await publisher?.stop();
  await delivery?.stop();
  await app?.stop();
  for (const edge of edges) await edge.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('npm start registers MONTAGE_EDGES with the registry and no local edge', () => {
  assert.ok(app !== undefined && delivery !== undefined);
  assert.equal(delivery.edge, undefined);
  assert.deepEqual(
    app.edges.list().map(({ id, publicUrl, ingestUrl, statusUrl, state, local, createdBy }) => ({
      id,
      publicUrl,
      ingestUrl,
      statusUrl,
      state,
      local,
      createdBy,
    })),
    [
      {
        id: 'a',
        publicUrl: PUBLIC_A,
        ingestUrl: edgeA.ingestUrl,
        statusUrl: edgeA.httpUrl,
        state: 'active',
        local: false,
        createdBy: 'config',
      },
      {
        id: 'b',
        publicUrl: PUBLIC_B,
        ingestUrl: edgeB.ingestUrl,
        statusUrl: edgeB.httpUrl,
        state: 'active',
        local: false,
        createdBy: 'config',
      },
    ],
  );
});

test('both configured edges receive the program, the one that was down once it is up', async () => {
  assert.ok(delivery !== undefined);
  const origin = delivery.origin;
  const started = new Promise<void>((resolve) => origin.once('publishStarted', () => resolve()));
  publisher = publishQuadrants(origin.publishUrl(stream), ['red', 'green', 'blue', 'yellow']);
  await started;
  const playlistA = await waitForText(
    edgeA.playlistUrl(stream),
    (body) => fragments(body).length > 0,
    15_000,
  );
  assert.match(playlistA, /#EXT-X-PLAYLIST-TYPE: ?EVENT/);

  // Edge b was down when the publish started: its push failed and must be retried.
  assert.deepEqual(
    origin.pushStatus(stream).map((push) => push.edge),
    ['a', 'b'],
  );
  await edgeB.start();
  // The push backs off 1 s, 2 s, 4 s...: well within the wait.
  const playlistB = await waitForText(
    edgeB.playlistUrl(stream),
    (body) => fragments(body).length > 0,
    20_000,
  );
  assert.match(playlistB, /#EXT-X-PLAYLIST-TYPE: ?EVENT/);
  const first = fragments(playlistB)[0];
  assert.ok(first !== undefined);
  const fragment = await fetch(new URL(first, edgeB.playlistUrl(stream)));
  assert.equal(fragment.status, 200);
  assert.equal(new Uint8Array(await fragment.arrayBuffer())[0], 0x47, 'an MPEG-TS fragment');
  for (const push of origin.pushStatus(stream)) assert.equal(push.running, true, push.edge);
});

test('viewers are steered to the configured public URLs, and away from one that is down', async () => {
  assert.equal((await watch()).live, true);
  const { playlist } = await steering();
  const unsigned = unsignedHlsUrl(playlist);
  assert.ok(unsigned.includes(`${PUBLIC_A}/hls/${assemblyId}/live.m3u8`), playlist);
  assert.ok(unsigned.includes(`${PUBLIC_B}/hls/${assemblyId}/live.m3u8`), playlist);

  // Probed through its status URL, a stopped edge is unhealthy and viewers go to the other.
  await edgeA.stop();
  assert.ok(app !== undefined);
  const registry = app.edges;
  await waitFor(
    'the registry finds edge a down',
    () => (registry.get('a').status.healthy ? undefined : true),
    15_000,
  );
  const deadline = Date.now() + 15_000;
  let priority: string[] = [];
  while (Date.now() < deadline) {
    priority = (await steering()).priority;
    if (priority[0] === 'b') break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(priority, ['b', 'a'], 'b first, a (down) kept last to fail over to');
  assert.ok(app !== undefined);
  const choice = app.edges.pick(assemblyId);
  assert.equal(choice?.edge.id, 'b');
  assert.equal(choice?.healthy, true);
});

test('MONTAGE_LOCAL_EDGE_PUBLIC_URL: viewers get the public URL, the registry probes the edge itself', async () => {
  assert.ok(app !== undefined && delivery !== undefined);
  await delivery.stop();
  // The configured edges are stored: they stay registered. Take them out for this install.
  assert.deepEqual(
    app.edges.list().map((edge) => edge.id),
    ['a', 'b'],
  );
  app.edges.remove('test', 'a');
  app.edges.remove('test', 'b');
  // A single-machine install behind a reverse proxy: the local edge, no MONTAGE_EDGES.
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_SECRET: EDGE_SECRET,
      MONTAGE_EDGE_HTTP_PORT: String(await freePort()),
      MONTAGE_EDGE_RTMP_PORT: String(await freePort()),
      MONTAGE_LOCAL_EDGE_PUBLIC_URL: 'https://assembly.school.example/',
    },
    envFile: null,
  });
  delivery = await startDelivery(app, deliveryOptions(config));
  const local = delivery.edge;
  assert.ok(local !== undefined);
  const registry = app.edges;
  assert.deepEqual(
    registry
      .list()
      .map(({ id, publicUrl, statusUrl, local }) => ({ id, publicUrl, statusUrl, local })),
    [
      {
        id: 'local',
        publicUrl: 'https://assembly.school.example',
        statusUrl: local.httpUrl,
        local: true,
      },
    ],
  );
  const choice = await waitFor(
    'the local edge is probed healthy',
    () => {
      const picked = registry.pick(assemblyId);
      return picked?.healthy === true ? picked : undefined;
    },
    15_000,
  );
  assert.equal(
    unsignedHlsUrl(choice.playlistUrl),
    `https://assembly.school.example/hls/${assemblyId}/live.m3u8`,
  );
  assertSignedFor(choice.playlistUrl, assemblyId, EDGE_SECRET);
  assert.equal(choice.healthy, true, 'probed at its own address, not the unreachable public one');
});
