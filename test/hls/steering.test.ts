/**
 * HLS content steering through the real app server over real HTTP: the watch API, the
 * multivariant playlists and the steering manifest, as players fetch them. The edge fleet is
 * one whose state the test sets (active, draining, healthy, reported connections), standing in
 * for the probed registry; nothing here plays media (test/hls/threeEdges.test.ts does).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import type { EdgeFleetView, EdgeView } from '../../server/edges/EdgeView.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { Logger } from '../../server/log.js';
import { assertSignedFor, unsignedHlsUrl } from '../helpers/hlsPlaylist.js';
import { request, tempDataDir, wireError } from '../server/appHelpers.js';
import { rmSync } from 'node:fs';

/** A fleet whose edges the test edits. */
class TestFleet implements EdgeFleetView {
  edges: EdgeView[] = [];
  snapshot(): EdgeView[] {
    return this.edges.map((edge) => ({ ...edge }));
  }
  add(id: string): void {
    this.edges.push({
      id,
      publicUrl: `http://${id}.edges.example:8090`,
      state: 'active',
      healthy: true,
      httpConnections: undefined,
    });
  }
  set(id: string, changes: Partial<EdgeView>): void {
    const edge = this.edges.find((candidate) => candidate.id === id);
    assert.ok(edge !== undefined, id);
    Object.assign(edge, changes);
  }
}

const TTL = 7;
const fleet = new TestFleet();
let app: App;
let dataDir: string;
let assemblyId: string;
let viewerToken: string;

interface Manifest {
  VERSION: number;
  TTL: number;
  'RELOAD-URI': string;
  'PATHWAY-PRIORITY': string[];
  'PATHWAY-CLONES'?: Array<{
    'BASE-ID': string;
    ID: string;
    'URI-REPLACEMENT': { HOST: string; 'PER-VARIANT-URIS': Record<string, string> };
  }>;
}

/** A player: what hls.js does with the URLs the watch API hands out. */
class Player {
  pathway = '.';
  steeringUrl = '';

  static async open(kind: 'live' | 'history' = 'live'): Promise<{ player: Player; text: string }> {
    const watch = await request(
      `${app.url}/api/assemblies/${assemblyId}/watch`,
      'GET',
      viewerToken,
    );
    assert.equal(watch.status, 200, JSON.stringify(watch.body));
    const urls = watch.body as { liveUrl: string; historyUrl: string };
    const url = new URL(kind === 'live' ? urls.liveUrl : urls.historyUrl, app.url);
    const response = await fetch(url);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    const player = new Player();
    const steering = /#EXT-X-CONTENT-STEERING:SERVER-URI="([^"]+)",PATHWAY-ID="([^"]+)"/.exec(text);
    assert.ok(steering?.[1] !== undefined && steering[2] !== undefined, text);
    player.steeringUrl = new URL(steering[1], url).href;
    player.pathway = steering[2];
    return { player, text };
  }

  /** Loads the steering manifest as hls.js does, and follows its first pathway. */
  async steer(): Promise<Manifest> {
    const url = new URL(this.steeringUrl);
    url.searchParams.set('_HLS_pathway', this.pathway);
    url.searchParams.set('_HLS_throughput', '5000000');
    const response = await fetch(url);
    const body = (await response.json()) as Manifest;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(response.headers.get('cache-control'), 'no-store');
    this.steeringUrl = new URL(body['RELOAD-URI'], url).href;
    this.pathway = body['PATHWAY-PRIORITY'][0] ?? '.';
    return body;
  }
}

function tally(players: readonly Player[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const player of players) counts.set(player.pathway, (counts.get(player.pathway) ?? 0) + 1);
  return counts;
}

function assertSpread(counts: Map<string, number>, edges: readonly string[], what: string): void {
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  const mean = total / edges.length;
  for (const edge of edges) {
    const n = counts.get(edge) ?? 0;
    assert.ok(
      Math.abs(n - mean) <= 0.15 * mean,
      `${what}: ${edge} has ${n} of ${total} (mean ${mean.toFixed(1)}): ${JSON.stringify([...counts])}`,
    );
  }
}

/** Opens `count` players, `parallel` at a time. */
async function openPlayers(count: number, parallel = 20): Promise<Player[]> {
  const players: Player[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, async () => {
        const { player } = await Player.open();
        await player.steer();
        return player;
      }),
    );
    players.push(...batch);
  }
  return players;
}

before(async () => {
  dataDir = tempDataDir();
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_STEERING_TTL_SECONDS: String(TTL),
    },
    envFile: null,
  });
  app = new App(config, { logger: new Logger('silent'), media: false, fleet });
  await app.start();
  const operator = app.core.invites.mintOperator('test', 3600).token;
  const created = await request(`${app.url}/api/assemblies`, 'POST', operator, {
    name: 'Steering',
    live: true,
  });
  assert.equal(created.status, 201);
  assemblyId = (created.body as { assembly: { id: string } }).assembly.id;
  viewerToken = app.core.invites.mint('test', parseAssemblyId(assemblyId), 'viewer', 3600).token;
});

after(async () => {
  await app.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('with no edge the watch API still answers and the playlist is a clear 404', async () => {
  const watch = await request(`${app.url}/api/assemblies/${assemblyId}/watch`, 'GET', viewerToken);
  assert.equal(watch.status, 200);
  const body = watch.body as { live: boolean; liveUrl: string; historyUrl: string };
  assert.equal(body.live, false, 'nothing is published');
  assert.match(body.liveUrl, /^\/api\/assemblies\/[^/]+\/hls\/live\.m3u8\?token=.+&session=/);
  const playlist = await fetch(new URL(body.liveUrl, app.url));
  assert.equal(playlist.status, 404);
  assert.match(wireError(await playlist.json()).message, /HLS edge/);
});

test('the multivariant playlist lists every rendition on every edge as a pathway', async () => {
  for (const id of ['e1', 'e2', 'e3']) fleet.add(id);
  const { text } = await Player.open('live');
  const variants = text.split('\n').filter((line) => line.startsWith('#EXT-X-STREAM-INF:'));
  const uris = text.split('\n').filter((line) => line.startsWith('http'));
  // No program is live, so only the source is listed (a rendition appears once it is live).
  assert.equal(variants.length, 3, text);
  for (const [i, id] of ['e1', 'e2', 'e3'].entries()) {
    assert.match(variants[i] ?? '', new RegExp(`PATHWAY-ID="${id}"`));
    assert.match(
      variants[i] ?? '',
      /BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1\.42c01f,mp4a\.40\.2",RESOLUTION=1280x720,FRAME-RATE=30\.000/,
    );
    assert.match(variants[i] ?? '', /STABLE-VARIANT-ID="720p"/);
    const uri = uris[i] ?? '';
    assert.equal(
      unsignedHlsUrl(uri),
      `http://${id}.edges.example:8090/hls/${assemblyId}/live.m3u8`,
    );
    assertSignedFor(uri, assemblyId, app.edgeSecret);
  }
  const { text: history } = await Player.open('history');
  assert.ok(
    unsignedHlsUrl(history).includes(`http://e2.edges.example:8090/hls/${assemblyId}/history.m3u8`),
  );
  const response = await fetch(
    new URL(
      (
        (await request(`${app.url}/api/assemblies/${assemblyId}/watch`, 'GET', viewerToken))
          .body as { liveUrl: string }
      ).liveUrl,
      app.url,
    ),
  );
  assert.match(response.headers.get('content-type') ?? '', /^application\/vnd\.apple\.mpegurl/);
  assert.equal(response.headers.get('cache-control'), 'no-store');
});

test('players spread evenly over the edges (within 15 %), and each keeps its edge', async () => {
  const players = await openPlayers(300);
  assertSpread(tally(players), ['e1', 'e2', 'e3'], '300 players');
  const before = players.map((player) => player.pathway);
  for (const player of players.slice(0, 60)) {
    const manifest = await player.steer();
    assert.equal(manifest.VERSION, 1);
    assert.equal(manifest.TTL, TTL);
    // The chosen edge first, then the others to fail over to.
    assert.deepEqual([...manifest['PATHWAY-PRIORITY']].sort(), ['e1', 'e2', 'e3']);
  }
  assert.deepEqual(
    players.slice(0, 60).map((player) => player.pathway),
    before.slice(0, 60),
    'sticky',
  );
  const assigned = app.steering.assignments();
  assertSpread(assigned, ['e1', 'e2', 'e3'], 'sessions counted by the server');
});

test('an edge with many viewers it was not sent gets fewer new ones', async () => {
  const counts = app.steering.assignments();
  // e3 reports 200 more connections than its sessions explain (viewers of another app server).
  fleet.set('e1', { httpConnections: counts.get('e1') });
  fleet.set('e2', { httpConnections: counts.get('e2') });
  fleet.set('e3', { httpConnections: (counts.get('e3') ?? 0) + 200 });
  const players = await openPlayers(90);
  const got = tally(players);
  assert.ok(
    (got.get('e3') ?? 0) < 10,
    `e3 got ${got.get('e3')} of 90: ${JSON.stringify([...got])}`,
  );
  for (const id of ['e1', 'e2', 'e3']) fleet.set(id, { httpConnections: undefined });
});

test('a draining or unhealthy edge is never first; its players move at their next reload', async () => {
  const players = await openPlayers(60);
  fleet.set('e2', { state: 'draining' });
  fleet.set('e3', { healthy: false });
  for (const player of players) {
    const manifest = await player.steer();
    const priority = manifest['PATHWAY-PRIORITY'];
    assert.equal(priority[0], 'e1', JSON.stringify(priority));
    // Still listed after the chosen one: somewhere to go if e1 fails.
    assert.deepEqual(priority.slice(1), ['e2', 'e3']);
  }
  const fresh = await openPlayers(30);
  assert.ok(fresh.every((player) => player.pathway === 'e1'));
  // Every session that reloaded moved off e2 and e3.
  const counts = app.steering.assignments();
  assert.ok((counts.get('e1') ?? 0) >= players.length + fresh.length, JSON.stringify([...counts]));
  fleet.set('e2', { state: 'active' });
  fleet.set('e3', { healthy: true });
  // Back in service: reloads move just enough players back to even the load out.
  for (let round = 0; round < 3; round++) for (const player of players) await player.steer();
  const all = app.steering.assignments();
  assertSpread(all, ['e1', 'e2', 'e3'], 'after e2 and e3 came back');
});

test('a player that left its edge by itself is counted where it is and not sent back', async () => {
  const { player } = await Player.open();
  await player.steer();
  const assigned = player.pathway;
  const other = ['e1', 'e2', 'e3'].find((id) => id !== assigned) ?? '';
  // hls.js moved to another pathway after errors on the assigned one.
  player.pathway = other;
  for (let i = 0; i < 3; i++) {
    const manifest = await player.steer();
    assert.notEqual(manifest['PATHWAY-PRIORITY'][0], assigned);
    assert.equal(manifest['PATHWAY-PRIORITY'].at(-1), assigned, 'the failed edge comes last');
  }
});

test('an edge added after a player loaded its playlist reaches it as a pathway clone', async () => {
  const { player } = await Player.open();
  await player.steer();
  fleet.add('e4');
  const manifest = await player.steer();
  assert.ok(manifest['PATHWAY-PRIORITY'].includes('e4'));
  const clone = manifest['PATHWAY-CLONES']?.find((entry) => entry.ID === 'e4');
  assert.ok(clone !== undefined, JSON.stringify(manifest));
  assert.ok(['e1', 'e2', 'e3'].includes(clone['BASE-ID']));
  assert.equal(clone['URI-REPLACEMENT'].HOST, 'e4.edges.example');
  const perVariant = clone['URI-REPLACEMENT']['PER-VARIANT-URIS'];
  assert.deepEqual(Object.keys(perVariant), ['720p']);
  assert.equal(
    unsignedHlsUrl(perVariant['720p'] ?? ''),
    `http://e4.edges.example:8090/hls/${assemblyId}/live.m3u8`,
  );
  assertSignedFor(perVariant['720p'] ?? '', assemblyId, app.edgeSecret);
  // New viewers go to the new, empty edge.
  const fresh = await openPlayers(12);
  assert.ok(tally(fresh).get('e4') === 12, JSON.stringify([...tally(fresh)]));
});

test('every query parameter is validated', async () => {
  const { player } = await Player.open();
  const steering = new URL(player.steeringUrl);
  const token = steering.searchParams.get('token') ?? '';
  const base = `${app.url}/api/assemblies/${assemblyId}/hls`;
  const cases: Array<[string, number, RegExp]> = [
    [`${base}/steering.json?kind=live&session=short&token=${token}`, 400, /session/],
    [`${base}/steering.json?kind=vod&session=${'a'.repeat(16)}&token=${token}`, 400, /kind/],
    [
      `${base}/steering.json?kind=live&session=${'a'.repeat(16)}&token=${token}&x=1`,
      400,
      /unknown/,
    ],
    [
      `${base}/steering.json?kind=live&session=${'a'.repeat(16)}&token=${token}&kind=live`,
      400,
      /once/,
    ],
    [
      `${base}/steering.json?kind=live&session=${'a'.repeat(16)}&token=${token}&_HLS_pathway=a%20b`,
      400,
      /_HLS_pathway/,
    ],
    [
      `${base}/steering.json?kind=live&session=${'a'.repeat(16)}&token=${token}&_HLS_throughput=fast`,
      400,
      /_HLS_throughput/,
    ],
    [`${base}/steering.json?kind=live&session=${'a'.repeat(16)}`, 401, /token/],
    [`${base}/steering.json?kind=live&session=${'a'.repeat(16)}&token=forged`, 401, /token/],
    [`${base}/live.m3u8?token=${token}&session=bad`, 400, /session/],
    [`${base}/live.m3u8?token=${token}&foo=bar`, 400, /unknown/],
    [`${base}/vod.m3u8?token=${token}`, 404, /playlist/],
  ];
  for (const [url, status, message] of cases) {
    const response = await fetch(url);
    const body = (await response.json()) as unknown;
    assert.equal(response.status, status, `${url}: ${JSON.stringify(body)}`);
    assert.match(wireError(body).message, message, url);
  }
  // Reserved _HLS_ parameters of later HLS versions are tolerated.
  const later = new URL(player.steeringUrl);
  later.searchParams.set('_HLS_future', '1');
  assert.equal((await fetch(later)).status, 200);

  // A token for another assembly is refused.
  const operator = app.core.invites.mintOperator('test', 3600).token;
  const other = await request(`${app.url}/api/assemblies`, 'POST', operator, {
    name: 'Other',
    live: true,
  });
  const otherId = (other.body as { assembly: { id: string } }).assembly.id;
  const foreign = await fetch(`${app.url}/api/assemblies/${otherId}/hls/live.m3u8?token=${token}`);
  assert.equal(foreign.status, 403);
  // A session of one assembly cannot be used for another.
  const stolen = new URL(`${app.url}/api/assemblies/${otherId}/hls/steering.json`);
  stolen.searchParams.set('kind', 'live');
  stolen.searchParams.set('session', steering.searchParams.get('session') ?? '');
  stolen.searchParams.set('token', operator);
  assert.equal((await fetch(stolen)).status, 400);
});

test('a deleted assembly answers 410, which tells players to stop asking', async () => {
  const { player } = await Player.open();
  const operator = app.core.invites.mintOperator('test', 3600).token;
  const deleted = await request(`${app.url}/api/assemblies/${assemblyId}`, 'DELETE', operator);
  assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted));
  const url = new URL(player.steeringUrl);
  // The viewer token of a deleted assembly is still signed: only the assembly is gone.
  const response = await fetch(url);
  assert.equal(response.status, 410);
});
