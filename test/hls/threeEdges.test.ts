/**
 * Failover by HLS content steering, with three nginx-rtmp edges as three hosts: each edge runs
 * in a network namespace of its own (created and removed here), reachable only at its own
 * address, and the app server (origin, 360p encoder, steering) runs as `npm start` runs it with
 * the three listed in MONTAGE_EDGES and probed in the background.
 *
 *  - 12 real /watch pages (hls.js in Chromium) and 60 simulated players (HTTP clients that
 *    follow the steering manifest as hls.js does) spread over the edges within 15 %, counted
 *    where their playlist and fragment requests go;
 *  - one edge dies (every process of its host killed): its real players move to the others by
 *    themselves, and each one's longest stall, measured in the page from the video's
 *    currentTime, is at most 2 s; the simulated players leave it at their next reload.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { EDGE_SECRET } from '../edge/helpers.js';
import { launchChromium } from '../helpers/browser.js';
import { freePort } from '../helpers/engineProcess.js';
import { NetnsHost } from '../helpers/netns.js';
import { request } from '../server/appHelpers.js';
import { startDelivered, type Delivered } from './deliveryFixture.js';
import { TestEdge } from './TestEdge.js';

const EDGE_IDS = ['e1', 'e2', 'e3'] as const;
const REAL_PLAYERS = 12;
const SIMULATED_PLAYERS = 60;
const STEERING_TTL = 2;
const MAX_STALL_MS = 2000;

let dataDir: string;
const hosts: NetnsHost[] = [];
const edges = new Map<string, TestEdge>();
let delivered: Delivered | undefined;
let browser: Browser | undefined;
const pages: RealPlayer[] = [];
const simulated: SimulatedPlayer[] = [];

/** Which edge a URL is on, from its host. */
function edgeOf(url: string): string | undefined {
  for (const [id, edge] of edges) if (url.startsWith(edge.publicUrl)) return id;
  return undefined;
}

/** A real /watch page and where its fragment requests go. */
interface RealPlayer {
  page: Page;
  fragments: Array<{ edge: string; at: number }>;
}

function lastEdge(player: RealPlayer): string | undefined {
  return player.fragments.at(-1)?.edge;
}

/** A page's fragment requests as runs, e.g. "e1×12 e3×40", for failure messages. */
function runs(player: RealPlayer): string {
  const out: Array<[string, number]> = [];
  for (const { edge } of player.fragments) {
    const last = out.at(-1);
    if (last?.[0] === edge) last[1] += 1;
    else out.push([edge, 1]);
  }
  return out.map(([edge, n]) => `${edge}×${n}`).join(' ');
}

/** What hls.js does with the app's URLs, without the media: playlists follow the steering. */
class SimulatedPlayer {
  pathway = '.';
  #steeringUrl = '';
  #priority: string[] = [];
  #playlists = new Map<string, string>();
  #timers: NodeJS.Timeout[] = [];
  failures = 0;

  async open(appUrl: string, assemblyId: string, token: string): Promise<void> {
    const watch = await request(`${appUrl}/api/assemblies/${assemblyId}/watch`, 'GET', token);
    const liveUrl = new URL((watch.body as { liveUrl: string }).liveUrl, appUrl);
    const text = await (await fetch(liveUrl)).text();
    const steering = /SERVER-URI="([^"]+)",PATHWAY-ID="([^"]+)"/.exec(text);
    assert.ok(steering?.[1] !== undefined && steering[2] !== undefined, text);
    this.#steeringUrl = new URL(steering[1], liveUrl).href;
    this.pathway = steering[2];
    // The first variant of each pathway: the source's live playlist on that edge.
    for (const match of text.matchAll(/PATHWAY-ID="([^"]+)"[^\n]*\n(\S+)/g)) {
      if (match[1] !== undefined && match[2] !== undefined && !this.#playlists.has(match[1])) {
        this.#playlists.set(match[1], match[2]);
      }
    }
    await this.#steer();
    this.#timers.push(setInterval(() => void this.#steer(), STEERING_TTL * 1000));
    this.#timers.push(setInterval(() => void this.#reloadPlaylist(), 1000));
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
  }

  async #steer(): Promise<void> {
    const url = new URL(this.#steeringUrl);
    url.searchParams.set('_HLS_pathway', this.pathway);
    try {
      const manifest = (await (await fetch(url)).json()) as {
        'RELOAD-URI': string;
        'PATHWAY-PRIORITY': string[];
      };
      this.#steeringUrl = new URL(manifest['RELOAD-URI'], url).href;
      this.#priority = manifest['PATHWAY-PRIORITY'];
      const first = this.#priority.find((id) => this.#playlists.has(id));
      if (first !== undefined) this.pathway = first;
    } catch {
      this.failures += 1;
    }
  }

  /** Reloads the live playlist; on failure, moves to the next pathway (as hls.js does). */
  async #reloadPlaylist(): Promise<void> {
    const url = this.#playlists.get(this.pathway);
    if (url === undefined) return;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1500) });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(String(response.status));
    } catch {
      this.failures += 1;
      const next = this.#priority.find((id) => id !== this.pathway && this.#playlists.has(id));
      if (next !== undefined) this.pathway = next;
    }
  }
}

function tallyEdges(ids: ReadonlyArray<string | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Why the counts are not within 15 % of the mean on every edge, or undefined when they are. */
function unevenSpread(
  counts: Map<string, number>,
  over: readonly string[],
  what: string,
): string | undefined {
  const total = over.reduce((sum, id) => sum + (counts.get(id) ?? 0), 0);
  const mean = total / over.length;
  for (const id of over) {
    const n = counts.get(id) ?? 0;
    if (Math.abs(n - mean) > 0.15 * mean + 1e-9) {
      return `${what}: ${id} has ${n} of ${total}: ${JSON.stringify([...counts])}`;
    }
  }
  return undefined;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'montage-three-edges-'));
  for (const id of EDGE_IDS) {
    const host = await NetnsHost.create(id);
    hosts.push(host);
    edges.set(
      id,
      await TestEdge.start({
        prefix: path.join(dataDir, id),
        httpPort: await freePort(),
        rtmpPort: await freePort(),
        edgeSecret: EDGE_SECRET,
        host,
      }),
    );
  }
  delivered = await startDelivered({
    dataDir,
    edges: EDGE_IDS.map((id) => ({ id, edge: edges.get(id) as TestEdge })),
    // Small and at 15 fps: a dozen pages decode it on two cores beside everything else (the
    // multivariant playlist still declares the 720p ladder).
    picture: { width: 512, height: 288, fps: 15, kbps: 400, grain: false },
    env: { MONTAGE_STEERING_TTL_SECONDS: String(STEERING_TTL) },
  });
});

after(async () => {
  for (const player of simulated) player.close();
  await browser?.close();
  await delivered?.teardown();
  for (const edge of edges.values()) await edge.stop();
  for (const host of hosts) await host.remove();
  await rm(dataDir, { recursive: true, force: true });
});

test('12 real players and 60 simulated ones spread over three edges within 15 %', async () => {
  const run = delivered;
  assert.ok(run !== undefined);
  browser = await launchChromium();
  for (let i = 0; i < REAL_PLAYERS; i++) {
    // Small windows with a small picture: twelve pages composite their video in software
    // (headless Chromium) on the same two cores as the edges, the encoder and the app.
    const context = await browser.newContext({ viewport: { width: 480, height: 360 } });
    await context.addInitScript(() => {
      document.addEventListener('DOMContentLoaded', () => {
        const style = document.createElement('style');
        style.textContent = 'video { width: 160px !important; height: 90px !important; }';
        document.head.append(style);
      });
    });
    const page = await context.newPage();
    const player: RealPlayer = { page, fragments: [] };
    page.on('request', (request) => {
      const url = request.url();
      const edge = edgeOf(url);
      if (edge !== undefined && /\/\d+\.ts$/.test(url)) {
        player.fragments.push({ edge, at: Date.now() });
      }
    });
    await page.goto(run.watchUrl(), { timeout: 120_000 });
    pages.push(player);
    // One page at a time, so that each is placed knowing where the previous ones went.
    await until(`page ${i} loading fragments`, () => player.fragments.length > 0, 60_000);
  }
  for (let i = 0; i < SIMULATED_PLAYERS; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const player = new SimulatedPlayer();
        await player.open(run.app.url, run.assemblyId, run.viewerToken);
        simulated.push(player);
      }),
    );
  }
  // Every page plays (its currentTime moves) before anything is counted.
  for (const { page } of pages) {
    await page.waitForFunction(
      () => (document.querySelector('video')?.currentTime ?? 0) > 1,
      null,
      { timeout: 60_000 },
    );
  }
  // Players that a busy machine made fail over by themselves while starting are moved back by
  // the steering manifest, one reload (TTL) at a time: wait for the spread to settle, within a
  // generous bound, and fail with where every player is if it never does.
  const uneven = (): string | undefined => {
    const real = tallyEdges(pages.map(lastEdge));
    const all = tallyEdges([...pages.map(lastEdge), ...simulated.map((player) => player.pathway)]);
    return (
      unevenSpread(real, EDGE_IDS, 'real players') ?? unevenSpread(all, EDGE_IDS, 'all players')
    );
  };
  const settleStart = Date.now();
  while (uneven() !== undefined && Date.now() - settleStart < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const all = tallyEdges([...pages.map(lastEdge), ...simulated.map((player) => player.pathway)]);
  console.log(
    `players per edge ${JSON.stringify([...tallyEdges(pages.map(lastEdge))])} real, ` +
      `${JSON.stringify([...all])} all, after ${Date.now() - settleStart} ms; ` +
      `real players' fragment requests: ${pages.map(runs).join(' | ')}`,
  );
  assert.equal(uneven(), undefined);
});

test('an edge dies: its players move by themselves, none stalls more than 2 s', async () => {
  const run = delivered;
  assert.ok(run !== undefined);
  const victim = 'e2';
  const onVictim = pages.filter((player) => lastEdge(player) === victim);
  assert.ok(onVictim.length >= 3, `only ${onVictim.length} real players on ${victim}`);
  // Each page measures how long its picture stands still: the longest time between two moves
  // of the video's currentTime, from now on.
  for (const { page } of pages) {
    await page.evaluate(() => {
      const video = document.querySelector('video');
      if (video === null) throw new Error('no video');
      const state = { longest: 0, lastTime: video.currentTime, lastMove: performance.now() };
      (window as unknown as { stall: typeof state }).stall = state;
      setInterval(() => {
        const now = performance.now();
        if (video.currentTime !== state.lastTime) {
          state.longest = Math.max(state.longest, now - state.lastMove);
          state.lastTime = video.currentTime;
          state.lastMove = now;
        } else {
          state.longest = Math.max(state.longest, now - state.lastMove);
        }
      }, 50);
    });
  }
  const killedAt = Date.now();
  const edge = edges.get(victim);
  assert.ok(edge !== undefined);
  await edge.kill();
  // Long enough for every player to notice, move, and play on for a while.
  await until(
    'the real players of the dead edge fetching fragments elsewhere',
    () =>
      onVictim.every((player) =>
        player.fragments.some((fragment) => fragment.at > killedAt && fragment.edge !== victim),
      ),
    30_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 8000));
  const stalls = await Promise.all(
    pages.map(({ page }) =>
      page.evaluate(() => (window as unknown as { stall: { longest: number } }).stall.longest),
    ),
  );
  const moved = onVictim.map((player) => {
    const first = player.fragments.find((f) => f.at > killedAt && f.edge !== victim);
    return first === undefined ? Number.NaN : first.at - killedAt;
  });
  console.log(
    `after killing ${victim}: its ${onVictim.length} real players fetched from another edge ` +
      `after ${moved.map((ms) => `${ms} ms`).join(', ')}; longest stall per page ` +
      `${stalls.map((ms) => Math.round(ms)).join(', ')} ms; fragment requests ` +
      pages.map(runs).join(' | '),
  );
  // The dead edge's players are the ones that fail over; the others show what this machine's
  // load alone does to a page's picture in the same window (printed above).
  for (const player of onVictim) {
    const stall = stalls[pages.indexOf(player)] ?? Number.NaN;
    assert.ok(
      stall <= MAX_STALL_MS,
      `a player of ${victim} stood still for ${Math.round(stall)} ms`,
    );
  }
  // Every page still plays, from a live edge.
  for (const player of pages) {
    assert.notEqual(lastEdge(player), victim);
  }
  // The simulated players leave it at their next steering reload (or their next failure).
  await until(
    'simulated players off the dead edge',
    () => simulated.every((player) => player.pathway !== victim),
    20_000,
  );
  const all = tallyEdges([...pages.map(lastEdge), ...simulated.map((player) => player.pathway)]);
  console.log(`after the failover: ${JSON.stringify([...all])}`);
});
