/**
 * Every upstream fault of a live assembly, one after another, on one running stack as `npm start`
 * runs it: the engine supervised by the app, the app, its RTMP origin and the local nginx edge
 * (supervised too). Two Chromium cameras make the program; two viewers watch it on the real
 * /watch page with hls.js. For each fault the test checks that:
 *  - the viewers already watching continue without a reload, within 5 s of the media being back
 *    (the goal of the issue), showing the cameras again;
 *  - the edge's playlist holds on: nothing listed before disappears, sequence numbers only grow,
 *    at most one discontinuity is added, the program's timestamps never go back;
 *  - in the fragments written after the fault, audio and video start within 100 ms of each other.
 * The faults: the bridge's ffmpeg killed, the origin restarted, the local edge killed, the
 * assembly's pipeline worker killed, the engine killed, and the recordings disk filling up
 * (the moderator is told, the viewers never stall). A viewer opened at the end starts playing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { LiveAssembly } from '../../server/domain/LiveAssemblies.js';
import { launchChromium } from '../helpers/browser.js';
import { workerPids } from '../helpers/engineProcess.js';
import {
  audioDecodeErrors,
  fetchPlaylist,
  fragmentStarts,
  type FragmentStarts,
  type ListedFragment,
  type MediaPlaylist,
} from '../helpers/hlsPlaylist.js';
import type { PaletteName } from '../helpers/media.js';
import { mountTinyDisk, type TinyDisk } from '../helpers/tmpfs.js';
import { colourPoint, gridTiles, makeCameraVideo, supervisedEnginePid, until } from './drivers.js';
import { Scene } from './Scene.js';
import { mintLink, setup, type Stack } from './stack.js';
import { WatchViewer } from './WatchViewer.js';

const COLOURS: readonly PaletteName[] = ['red', 'green'];
const TILES = gridTiles(2).map(colourPoint);
/** The goal: playback resumes within 5 s of the media being back. */
const RESUME_GOAL_MS = 5000;
/** Generous bounds for what only depends on the machine's load. */
const PICTURE_MS = 60_000;
/** MPEG-TS timestamps wrap after 2^33 ticks of 90 kHz. */
const PTS_WRAP_SECONDS = 2 ** 33 / 90_000;

let stack: Stack;
let disk: TinyDisk;
let mediaFolder: string;
let scene: Scene;
let live: LiveAssembly;
const cameraBrowsers = new Map<PaletteName, Browser>();
let monitorBrowser: Browser;
let viewerBrowser: Browser;
const viewers: WatchViewer[] = [];
let playlistUrl: string;
/** Measured resume delays, printed at the end. */
const resumes: Array<{ fault: string; delaysMs: number[] }> = [];

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-faults-'));
  // The recordings go to a tmpfs of 1 MB that the disk-full test fills in seconds.
  disk = await mountTinyDisk('1m');
  const [videos, started] = await Promise.all([
    Promise.all(COLOURS.map((colour) => makeCameraVideo(mediaFolder, colour))),
    // No recording minimum: the whole point is to start a recording that fills this disk.
    setup('embedded', { MONTAGE_RECORDINGS_DIR: disk.dir, MONTAGE_DISK_MIN_FREE_MB: '0' }),
  ]);
  stack = started;
  for (const [i, colour] of COLOURS.entries()) {
    cameraBrowsers.set(colour, await launchChromium({ fakeVideoFile: videos[i] ?? '' }));
  }
  monitorBrowser = await launchChromium();
  viewerBrowser = await launchChromium();
  scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Faults');
  for (const colour of COLOURS) await scene.join(colour);
  const found = stack.app.live.find(parseAssemblyId(scene.assemblyId));
  assert.ok(found !== undefined, 'the assembly is live');
  live = found;
  const edge = stack.delivery.edge;
  assert.ok(edge !== undefined, 'the stack runs a local edge');
  // The whole assembly's playlist (the edge's playlist agent writes it from nginx-rtmp's), so
  // that nothing listed before a fault can slide out of view.
  playlistUrl = edge.hlsUrl(scene.assemblyId, 'history.m3u8');
  for (let i = 0; i < 2; i++) {
    viewers.push(
      await WatchViewer.open(viewerBrowser, mintLink(stack.app, scene.assemblyId, 'viewer')),
    );
  }
  for (const viewer of viewers) await waitForCameras(viewer, 'before any fault');
});

after(async () => {
  console.log('resume delays after each fault (ms, per viewer):');
  for (const { fault, delaysMs } of resumes) console.log(`  ${fault}: ${delaysMs.join(', ')}`);
  for (const viewer of viewers) await viewer.close().catch(() => undefined);
  await scene?.close().catch(() => undefined);
  for (const browser of [...cameraBrowsers.values(), monitorBrowser, viewerBrowser]) {
    await browser?.close().catch(() => undefined);
  }
  await stack?.teardown();
  await disk?.remove();
  await rm(mediaFolder, { recursive: true, force: true });
});

/** Waits until the viewer shows both cameras' tiles (the composite in either order). */
async function waitForCameras(viewer: WatchViewer, what: string): Promise<void> {
  let seen: PaletteName[] = [];
  await until(
    PICTURE_MS,
    async () => {
      seen = await viewer.colours(TILES).catch(() => []);
      return [...seen].sort().join() === 'green,red' ? true : undefined;
    },
    () => `${what}: the viewer shows ${seen.join(',') || 'nothing'}, not the two cameras`,
    250,
  );
}

function discontinuities(playlist: MediaPlaylist): number {
  return playlist.fragments.filter((fragment) => fragment.discontinuity).length;
}

/** A playlist with at least `count` more fragments than `before`, as the edge serves it. */
async function grownPlaylist(before: MediaPlaylist, count: number): Promise<MediaPlaylist> {
  let latest = before;
  return until(
    PICTURE_MS,
    async () => {
      latest = await fetchPlaylist(playlistUrl);
      const last = (p: MediaPlaylist): number => p.fragments.at(-1)?.sequence ?? -1;
      return last(latest) >= last(before) + count ? latest : undefined;
    },
    () => `the playlist did not grow by ${count} fragments (it lists ${latest.fragments.length})`,
    500,
  );
}

/** Where a listed fragment's video starts, in seconds of the MPEG-TS clock. */
async function videoStart(fragment: ListedFragment): Promise<number> {
  const starts = await fragmentStarts(new URL(fragment.uri, playlistUrl).href);
  assert.ok(starts.video !== undefined, `${fragment.uri} has no video`);
  return starts.video;
}

/**
 * Injects a fault (which resolves with the instant the media was back), then checks the viewers
 * and the edge's playlist as the file's header says.
 */
async function survives(fault: string, inject: () => Promise<number>): Promise<void> {
  const before = await fetchPlaylist(playlistUrl);
  const lastBefore = before.fragments.at(-1);
  assert.ok(lastBefore !== undefined, 'the playlist lists fragments before the fault');
  const injectedAt = Date.now();
  const mediaBackAt = await inject();
  // When the edge lists the first fragment written after the fault (for the timeline).
  const firstNewFragment = until(
    PICTURE_MS,
    async () => {
      const playlist = await fetchPlaylist(playlistUrl).catch(() => undefined);
      const newest = playlist?.fragments.at(-1);
      return newest !== undefined && newest.sequence > lastBefore.sequence + 1
        ? Date.now()
        : undefined;
    },
    () => `${fault}: no new fragment`,
    100,
  ).catch(() => Number.NaN);

  // The viewers already watching move again by themselves, and show the cameras.
  const delaysMs: number[] = [];
  for (const [i, viewer] of viewers.entries()) {
    const resumedAt = await until(
      PICTURE_MS,
      () => viewer.resumedAfter(mediaBackAt),
      () => `${fault}: viewer ${i + 1} did not play again`,
      200,
    );
    delaysMs.push(resumedAt - mediaBackAt);
    await waitForCameras(viewer, `${fault}, viewer ${i + 1}`);
  }
  resumes.push({ fault, delaysMs });
  const since = (at: number): string => `+${((at - injectedAt) / 1000).toFixed(1)} s`;
  console.log(
    `${fault}: media back ${since(mediaBackAt)}, new fragments listed ${since(await firstNewFragment)}, ` +
      `viewers playing ${delaysMs.map((d) => since(mediaBackAt + d)).join(' / ')}`,
  );
  for (const viewer of viewers)
    console.log(`  video events: ${await viewer.eventsSince(injectedAt)}`);
  for (const [i, delayMs] of delaysMs.entries()) {
    assert.ok(
      delayMs <= RESUME_GOAL_MS,
      `${fault}: viewer ${i + 1} played again ${delayMs} ms after the media was back`,
    );
  }

  // The playlist holds on: what was listed stays listed under the same numbers, at most one
  // discontinuity is added, and the timestamps go on forward.
  const after = await grownPlaylist(before, 4);
  const uris = new Map(after.fragments.map((fragment) => [fragment.sequence, fragment.uri]));
  for (const fragment of before.fragments) {
    assert.equal(uris.get(fragment.sequence), fragment.uri, `${fault}: ${fragment.uri} kept`);
  }
  const added = discontinuities(after) - discontinuities(before);
  assert.ok(added <= 1, `${fault}: ${added} discontinuities added`);
  // Program dates only go forward, by at least each fragment's length: the program clock went on.
  for (let i = 1; i < after.fragments.length; i++) {
    const previous = after.fragments[i - 1];
    const fragment = after.fragments[i];
    if (previous?.programDateMs === undefined || fragment?.programDateMs === undefined) {
      assert.fail(`${fault}: fragments without EXT-X-PROGRAM-DATE-TIME in the history playlist`);
    }
    assert.ok(
      fragment.programDateMs >= previous.programDateMs + previous.duration * 1000 - 50,
      `${fault}: ${fragment.uri} is dated before the end of ${previous.uri}`,
    );
  }
  const newer = after.fragments.filter((fragment) => fragment.sequence > lastBefore.sequence);
  let previous = await videoStart(lastBefore);
  for (const fragment of newer.slice(0, 3)) {
    const start = await videoStart(fragment);
    const step = start - previous;
    // A step back of more than half the clock is the 26.5 h wrap of MPEG-TS time, not a step back.
    assert.ok(
      step > 0 || step < -PTS_WRAP_SECONDS / 2,
      `${fault}: ${fragment.uri} starts at ${start} s, before the fragment listed ahead of it (${previous} s)`,
    );
    previous = start;
  }
  // Audio and video start together in every fragment written once the media was back, the
  // first one included (it opens with the origin's resent audio frame, which must decode). The
  // skews are printed first, so that a run shows how close to the bound it came.
  const starts: FragmentStarts[] = [];
  for (const fragment of newer) {
    starts.push(await fragmentStarts(new URL(fragment.uri, playlistUrl).href));
  }
  const skewsMs = starts.map(({ audio, video }) =>
    audio === undefined || video === undefined ? 'none' : Math.round((audio - video) * 1000),
  );
  console.log(`  ${fault}: audio start − video start per new fragment: ${skewsMs.join(', ')} ms`);
  for (const [i, fragment] of newer.entries()) {
    const { audio, video } = starts[i] ?? {};
    assert.ok(video !== undefined && audio !== undefined, `${fault}: A/V in ${fragment.uri}`);
    assert.ok(
      Math.abs(audio - video) <= 0.1,
      `${fault}: in ${fragment.uri} audio starts at ${audio} s and video at ${video} s`,
    );
  }
  const first = newer[0];
  assert.ok(first !== undefined);
  const errors = await audioDecodeErrors(new URL(first.uri, playlistUrl).href);
  assert.equal(errors, '', `${fault}: the audio of ${first.uri} decodes`);
}

/** Resolves with the instant the bridge next reports ffmpeg running (media flows to the origin). */
function nextBridgeRunning(): Promise<number> {
  const bridge = live.media?.bridge;
  assert.ok(bridge !== undefined, 'the assembly has a program bridge');
  return once(bridge, 'running').then(() => Date.now());
}

/** Resolves with the instant the assembly's media has been built again. */
function nextMediaReset(): Promise<number> {
  return once(live, 'mediaReset').then(() => Date.now());
}

test("the bridge's ffmpeg killed: viewers continue, the playlist holds", async () => {
  await survives('bridge killed', async () => {
    const pid = live.media?.bridge?.pid;
    assert.ok(pid !== undefined, 'ffmpeg runs');
    const running = nextBridgeRunning();
    process.kill(pid, 'SIGKILL');
    return running;
  });
});

test('the origin restarted: viewers continue, the playlist holds', async () => {
  await survives('origin restarted', async () => {
    const running = nextBridgeRunning();
    await stack.delivery.restartOrigin();
    return running;
  });
});

test('the local edge killed: its supervisor starts it again, viewers continue', async () => {
  const edge = stack.delivery.edge;
  assert.ok(edge !== undefined);
  await survives('edge killed', async () => {
    const pid = await edge.pid();
    assert.ok(pid !== undefined, 'nginx runs');
    const started = once(edge, 'started').then(() => Date.now());
    // The whole edge dies at once: its master and its workers.
    process.kill(-pid, 'SIGKILL');
    return started;
  });
});

test("the assembly's pipeline worker killed: the app rebuilds the assembly by itself", async () => {
  const engine = await supervisedEnginePid();
  assert.ok(engine !== undefined, 'the engine runs');
  const resetsBefore = scene.cameras.map((camera) => camera.resets);
  await survives('pipeline worker killed', async () => {
    const workers = await workerPids(engine);
    assert.equal(workers.length, 1, 'one pipeline: one worker');
    const rebuilt = nextMediaReset();
    process.kill(workers[0] ?? 0, 'SIGKILL');
    return rebuilt;
  });
  // The cameras were asked to offer again, and did.
  for (const [i, camera] of scene.cameras.entries()) {
    assert.ok(camera.resets > (resetsBefore[i] ?? 0), `${camera.colour} offered again`);
    await camera.published;
  }
  assert.equal(
    stack.app.live.find(parseAssemblyId(scene.assemblyId))?.mediaHealth.state,
    'running',
  );
});

test('the engine killed: its supervisor starts it again and the assembly comes back', async () => {
  await survives('engine killed', async () => {
    const pid = await supervisedEnginePid();
    assert.ok(pid !== undefined, 'the engine runs');
    const rebuilt = nextMediaReset();
    process.kill(pid, 'SIGKILL');
    return rebuilt;
  });
});

test('the recordings disk fills up: the moderator is told, the recording stops, the viewers never stall', async () => {
  const failed = new Promise<{ type: string }>((resolve) =>
    scene.moderator.once('recording:failed', resolve),
  );
  await scene.record(true);
  const failure = await failed;
  assert.equal(failure.type, 'RESOURCE_ERROR_NO_SPACE_LEFT');
  const failedAt = Date.now();
  // The program goes on: the viewers play 10 s more, with the cameras, and no stall longer than
  // a hiccup comes with the failure.
  for (const viewer of viewers) {
    await until(
      PICTURE_MS,
      async () => ((await viewer.meter()).lastProgressAt > failedAt + 10_000 ? true : undefined),
      () => 'the viewer stopped playing after the recording failed',
      500,
    );
    await waitForCameras(viewer, 'after the disk filled up');
    const stallMs = await viewer.longestStall(failedAt - 2000, failedAt + 10_000);
    assert.ok(stallMs < 2000, `a viewer stalled for ${stallMs} ms when the disk filled up`);
  }
  assert.equal(
    stack.app.core.assemblies.get(parseAssemblyId(scene.assemblyId)).recording,
    false,
    'recording is off once it failed',
  );
});

test('after all of that, a newly opened watch page plays the assembly', async () => {
  const late = await WatchViewer.open(
    viewerBrowser,
    mintLink(stack.app, scene.assemblyId, 'viewer'),
  );
  try {
    await waitForCameras(late, 'a late viewer');
  } finally {
    await late.close();
  }
});
