/**
 * The assembly afterwards, with real media and the real pages: a recorded assembly appears in
 * the panel's archive with its date, duration and size once it ended, and plays (seekable) in
 * the panel's own player, which shows the program by pixels; an ended assembly's history on the
 * edge is closed with EXT-X-ENDLIST and a viewer who comes after the end watches it from the start
 * as video on demand; the program's cuts, clips, layout changes and Go live are chapters that a
 * late viewer sees on the timeline, and a click on the clip's chapter shows the clip; reactions
 * are stored at the program time on the sender's screen and replay for a viewer who watches that
 * moment later, and the totals of the whole assembly come from the server.
 *
 * One stack and one set of browsers for the file; each test has an assembly of its own.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RecordingView } from '../../server/domain/Archive.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { launchChromium } from '../helpers/browser.js';
import { classify, makeQuadrantClip, type PaletteName } from '../helpers/media.js';
import { sampleVideo } from '../helpers/pixels.js';
import { readPlaylist, waitForText } from '../edge/helpers.js';
import {
  colourPoint,
  connectPage,
  FULL,
  gridTiles,
  makeCameraVideo,
  until,
  welcomed,
} from './drivers.js';
import { openPage } from './pages.js';
import { Scene } from './Scene.js';
import { call, mintLink, mintToken, setup, type Stack } from './stack.js';
import { WatchViewer } from './WatchViewer.js';

const COLOURS: readonly PaletteName[] = ['red', 'green'];
/** Generous: two cores shared with other test runs. */
const PICTURE_MS = 60_000;

let stack: Stack;
let mediaFolder: string;
const cameraBrowsers = new Map<PaletteName, Browser>();
let monitorBrowser: Browser;

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-archive-'));
  const [files, started] = await Promise.all([
    Promise.all(COLOURS.map((colour) => makeCameraVideo(mediaFolder, colour))),
    setup('embedded'),
  ]);
  stack = started;
  for (const [i, colour] of COLOURS.entries()) {
    cameraBrowsers.set(colour, await launchChromium({ fakeVideoFile: files[i] ?? '' }));
  }
  monitorBrowser = await launchChromium();
});

after(async () => {
  for (const browser of cameraBrowsers.values()) await browser.close().catch(() => undefined);
  await monitorBrowser?.close().catch(() => undefined);
  await stack?.teardown();
  await rm(mediaFolder, { recursive: true, force: true });
});

test('a recorded assembly appears in the panel archive with date, duration, size and deletion date, and plays there seekable, showing the program', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Archive assembly');
  const assemblyId = parseAssemblyId(scene.assemblyId);
  const tiles = gridTiles(2);
  try {
    await scene.join('red');
    await scene.join('green');
    const program = await scene.openMonitor();
    await program.waitForColours(tiles.map(colourPoint), ['red', 'green'], PICTURE_MS, 'program');
    await scene.record(true);
    // Listed from the moment its recorder runs.
    await until(
      20_000,
      () => Promise.resolve(stack.app.archive.list(assemblyId)[0]),
      () => 'the recording is not listed while it records',
    );
    // Some seconds of program, then End finalizes it.
    const grown = Date.now() + 8000;
    await until(
      30_000,
      () => Promise.resolve(Date.now() > grown ? true : undefined),
      () => 'unreachable',
      500,
    );
    await call(scene.moderator.timeout(30_000).emitWithAck('assembly:end', {}));
    const recording = await until<RecordingView>(
      60_000,
      () => Promise.resolve(stack.app.archive.list(assemblyId).find((r) => r.state === 'finished')),
      () => `not finished: ${JSON.stringify(stack.app.archive.list(assemblyId))}`,
    );
    assert.ok(
      recording.durationMs !== null && recording.durationMs >= 5000,
      `duration ${recording.durationMs}`,
    );
    assert.ok(recording.sizeBytes !== null && recording.sizeBytes > 50_000);

    // The moderator's panel lists it and plays it.
    const panel = await openPage(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'moderator'),
      {
        viewport: { width: 1366, height: 768 },
      },
    );
    try {
      const row = panel.page.locator(`#archive-list li[data-recording="${recording.id}"]`);
      await row.waitFor({ timeout: 30_000 });
      assert.equal(await row.getAttribute('data-state'), 'finished');
      const text = (await row.textContent()) ?? '';
      assert.match(text, /0:\d\d · \d+(\.\d)? (kB|MB)/, text);
      assert.match(text, /Deleted on/, text);
      await row.getByRole('button', { name: 'Play' }).click();
      const player = '#archive-player';
      const duration = await until(
        30_000,
        () =>
          panel.page.evaluate((selector) => {
            const video = document.querySelector<HTMLVideoElement>(selector);
            return video !== null && video.readyState >= 2 && Number.isFinite(video.duration)
              ? video.duration
              : undefined;
          }, player),
        () => 'the panel player did not load the recording',
      );
      assert.ok(
        Math.abs(duration * 1000 - (recording.durationMs ?? 0)) < 1500,
        `player duration ${duration}`,
      );
      // Seek to the middle: the recording is seekable, and shows the composite there.
      const target = duration / 2;
      await panel.page.evaluate(
        ({ selector, target }) => {
          const video = document.querySelector<HTMLVideoElement>(selector);
          if (video === null) throw new Error('no player');
          video.pause();
          video.currentTime = target;
        },
        { selector: player, target },
      );
      await until(
        30_000,
        () =>
          panel.page.evaluate(
            ({ selector, target }) => {
              const video = document.querySelector<HTMLVideoElement>(selector);
              return video !== null &&
                !video.seeking &&
                video.readyState >= 2 &&
                Math.abs(video.currentTime - target) < 0.5
                ? true
                : undefined;
            },
            { selector: player, target },
          ),
        () => 'the player did not seek to the middle',
      );
      const seen = (await sampleVideo(panel.page, player, tiles.map(colourPoint))).map(classify);
      assert.deepEqual(seen, ['red', 'green'], 'the recording shows the program');
      await panel.page.screenshot({ path: path.join(tmpdir(), 'montage-archive-panel.png') });
      assert.deepEqual(panel.errors, []);
    } finally {
      await panel.close();
    }
  } finally {
    await scene.close();
  }
});

test('an ended assembly plays as video on demand from the edge: its history is closed with EXT-X-ENDLIST and a late viewer watches it from the start', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'VOD assembly');
  const tiles = gridTiles(2);
  let viewer: WatchViewer | undefined;
  try {
    await scene.join('red');
    await scene.join('green');
    const program = await scene.openMonitor();
    await program.waitForColours(tiles.map(colourPoint), ['red', 'green'], PICTURE_MS, 'program');
    const edge = stack.delivery.edge;
    assert.ok(edge !== undefined, 'the stack runs a local edge');
    const history = edge.hlsUrl(scene.assemblyId, 'history.m3u8');
    // Some seconds of history, open while the assembly is live.
    const open = await waitForText(
      history,
      (body) => readPlaylist(body).segments.reduce((sum, s) => sum + s.durationMs, 0) >= 8000,
      60_000,
    );
    assert.ok(!open.includes('#EXT-X-ENDLIST'), 'open while live');

    await call(scene.moderator.timeout(30_000).emitWithAck('assembly:end', {}));
    const closed = await waitForText(history, (body) => body.includes('#EXT-X-ENDLIST'), 30_000);
    assert.ok(closed.trimEnd().endsWith('#EXT-X-ENDLIST'), closed.slice(-200));
    const totalMs = readPlaylist(closed).segments.reduce((sum, s) => sum + s.durationMs, 0);
    assert.ok(totalMs >= 8000, `only ${totalMs} ms in the closed history`);

    // A viewer who comes after the end: the slate offers the assembly from its start.
    viewer = await WatchViewer.open(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'viewer'),
    );
    const page = viewer.opened.page;
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.waitForSelector('#slate[data-state="ended"]', { timeout: 30_000 });
    await page.getByRole('button', { name: '▶ Watch from the start' }).click();
    await until(
      PICTURE_MS,
      async () => {
        const seen = await viewer?.colours(tiles.map(colourPoint)).catch(() => undefined);
        return seen?.join() === 'red,green' ? true : undefined;
      },
      () => 'the late viewer did not see the program of the ended assembly',
      500,
    );
    const state = await page.evaluate(() => {
      const video = document.querySelector('video');
      return {
        duration: video?.duration ?? Number.NaN,
        currentTime: video?.currentTime ?? Number.NaN,
        playlist: video?.dataset.playlist,
        liveHidden: document.querySelector<HTMLElement>('#live-indicator')?.hidden,
        slateHidden: document.querySelector<HTMLElement>('#slate')?.hidden,
      };
    });
    // Video on demand: a finite duration (the whole history), played from its start, no LIVE.
    assert.equal(state.playlist, 'history');
    assert.ok(Math.abs(state.duration * 1000 - totalMs) < 2000, JSON.stringify({ state, totalMs }));
    assert.ok(state.currentTime < state.duration - 2, JSON.stringify(state));
    assert.equal(state.liveHidden, true, 'no live indicator for an ended assembly');
    assert.equal(state.slateHidden, true);
    await page.screenshot({ path: path.join(tmpdir(), 'montage-archive-vod.png') });
    // It stays closed: nothing pushes the ended stream to the edge again (no grace window).
    const later = await (await fetch(history)).text();
    assert.equal(later, closed, 'the closed history is unchanged');
    assert.deepEqual(viewer.opened.errors, []);
  } finally {
    await viewer?.close();
    await scene.close();
  }
});

interface ChapterBody {
  atMs: number;
  at: string;
  kind: string;
  title: string;
}

test('chapters: a late viewer sees Go live, the cuts, the clip and the layout change on the timeline, and a click on the clip chapter shows the clip within 1 s of its start', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Chapters assembly');
  let viewer: WatchViewer | undefined;
  try {
    await makeQuadrantClip(
      path.join(await scene.libraryFolder(), 'choir.mp4'),
      ['yellow', 'yellow', 'yellow', 'yellow'],
      { seconds: 60, container: 'mp4', width: 320, height: 180 },
    );
    const red = await scene.join('red');
    await scene.join('green');
    const program = await scene.openMonitor();
    await program.waitForColours(
      gridTiles(2).map(colourPoint),
      ['red', 'green'],
      PICTURE_MS,
      'grid',
    );
    const centre = [colourPoint(FULL)];
    const hold = async (ms: number): Promise<void> => {
      const until2 = Date.now() + ms;
      await until(
        ms + 5000,
        () => Promise.resolve(Date.now() > until2 ? true : undefined),
        () => '',
        250,
      );
    };
    await scene.cut({ source: 'camera', cameraId: red.cameraId });
    await program.waitForColours(centre, ['red'], PICTURE_MS, 'cut to red');
    await hold(4000);
    await scene.cut({ source: 'video', file: 'choir.mp4' });
    await program.waitForColours(centre, ['yellow'], PICTURE_MS, 'the clip');
    await hold(5000);
    await scene.layout({ layout: 'spotlight' });
    await scene.cut({ source: 'camera', cameraId: red.cameraId });
    await program.waitForColours(centre, ['red'], PICTURE_MS, 'back to red');

    // The API: Go live first, then the cuts, the clip and the layout, in program order.
    const response = await fetch(`${stack.app.url}/api/assemblies/${scene.assemblyId}/chapters`, {
      headers: { authorization: `Bearer ${mintToken(stack.app, scene.assemblyId, 'viewer')}` },
    });
    assert.equal(response.status, 200);
    const { chapters } = (await response.json()) as { chapters: ChapterBody[] };
    assert.deepEqual(
      chapters.map((c) => c.kind),
      ['live', 'cut', 'clip', 'layout', 'cut'],
      JSON.stringify(chapters),
    );
    assert.deepEqual(
      chapters.map((c) => c.title),
      ['Go live', 'Camera 1', 'Clip: choir.mp4', 'Layout: Spotlight, every camera', 'Camera 1'],
    );
    const clip = chapters[2];
    assert.ok(clip !== undefined);

    // A late viewer, once the clip has left the live window (the history playlist has it).
    await hold(12_000);
    viewer = await WatchViewer.open(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'viewer'),
    );
    const page = viewer.opened.page;
    await page.setViewportSize({ width: 1366, height: 768 });
    await until(
      PICTURE_MS,
      async () =>
        (await viewer?.colours(centre).catch(() => undefined))?.[0] === 'red' ? true : undefined,
      () => 'the late viewer does not see the live program',
      500,
    );
    const markers = page.locator('#chapter-bar .chapter-marker');
    await until(
      30_000,
      async () => ((await markers.count()) === 5 ? true : undefined),
      () => 'the timeline does not show the five chapters',
    );
    const lefts = await markers.evaluateAll((all) =>
      all.map((marker) => Number.parseFloat((marker as HTMLElement).style.left)),
    );
    assert.ok(
      lefts.every((left, i) => i === 0 || left >= (lefts[i - 1] ?? 0)) && (lefts[0] ?? 1) < 1,
      `markers in program order from the start: ${lefts.join()}`,
    );
    assert.match(
      (await page.locator('#chapter-list').textContent()) ?? '',
      /Go live.*Camera 1.*Clip: choir\.mp4.*Layout: Spotlight/,
    );
    const bar = await page.locator('.reactions-bar').boundingBox();
    assert.ok(bar !== null && bar.y + bar.height <= 768, `reactions row at ${JSON.stringify(bar)}`);
    await page.screenshot({ path: path.join(tmpdir(), 'montage-chapters.png') });

    // A click on the clip's chapter: the clip's picture, within 1 s of the chapter's start.
    await page.locator('#chapter-list .chapter-link[data-kind="clip"]').click();
    await until(
      PICTURE_MS,
      async () =>
        (await viewer?.colours(centre).catch(() => undefined))?.[0] === 'yellow' ? true : undefined,
      () => 'the clip chapter does not show the clip',
      250,
    );
    const landed = await page.evaluate(() => {
      const video = document.querySelector('video');
      return { date: Number(video?.dataset.programDate), time: video?.currentTime ?? 0 };
    });
    // The picture shows the clip, and playback started at the chapter: the date on screen now,
    // less what was played since the seek landed, is within 1 s of the chapter's start.
    const seekedAt = await page.evaluate(() =>
      Number(document.querySelector('video')?.dataset.seekedDate),
    );
    assert.ok(
      Math.abs(seekedAt - clip.atMs) <= 1000,
      `landed ${seekedAt - clip.atMs} ms from the clip chapter (${JSON.stringify(landed)})`,
    );
    assert.equal(await page.locator('#live-indicator').getAttribute('data-live'), 'false');
    await page.screenshot({ path: path.join(tmpdir(), 'montage-chapter-clip.png') });
    assert.deepEqual(viewer.opened.errors, []);
  } finally {
    await viewer?.close();
    await scene.close();
  }
});

test('reactions in time: a reaction sent while watching live replays for a late viewer who goes back to that moment, and the totals of the whole assembly come from the server', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Reactions assembly');
  let sender: WatchViewer | undefined;
  let late: WatchViewer | undefined;
  try {
    const red = await scene.join('red');
    const program = await scene.openMonitor();
    const centre = [colourPoint(FULL)];
    sender = await WatchViewer.open(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'viewer'),
    );
    await until(
      PICTURE_MS,
      async () =>
        (await sender?.colours(centre).catch(() => undefined))?.[0] === 'red' ? true : undefined,
      () => 'the sender does not see the program',
      500,
    );
    // A chapter to go back to, then "minute 1" (shortened here to some seconds after it): the
    // sender, watching live, claps twice.
    await scene.cut({ source: 'camera', cameraId: red.cameraId });
    await program.waitForColours(centre, ['red'], PICTURE_MS, 'cut to red');
    const wait = async (ms: number): Promise<void> => {
      const end = Date.now() + ms;
      await until(
        ms + 5000,
        () => Promise.resolve(Date.now() > end ? true : undefined),
        () => '',
        250,
      );
    };
    await wait(6000);
    const sentAt = await sender.opened.page.evaluate(() =>
      Number(document.querySelector('video')?.dataset.programDate),
    );
    assert.ok(Number.isFinite(sentAt), 'the sender knows the program date on screen');
    await sender.opened.page.locator('button[data-reaction="clap"]').click();
    await sender.opened.page.locator('button[data-reaction="clap"]').click();
    const assemblyId = parseAssemblyId(scene.assemblyId);
    const viewerToken = mintToken(stack.app, scene.assemblyId, 'viewer');
    // Stored at the sender's program time (by the second), within a second of the tick.
    const stored = await until(
      20_000,
      async () => {
        const response = await fetch(
          `${stack.app.url}/api/assemblies/${scene.assemblyId}/reactions?from=${sentAt - 60_000}&to=${sentAt + 60_000}`,
          { headers: { authorization: `Bearer ${viewerToken}` } },
        );
        const body = (await response.json()) as {
          totals: Record<string, number>;
          reactions: Array<{ atMs: number; reaction: string; count: number }>;
        };
        return body.totals.clap === 2 ? body : undefined;
      },
      () => 'the reactions were not stored',
    );
    assert.ok(
      stored.reactions.every((r) => r.reaction === 'clap' && Math.abs(r.atMs - sentAt) <= 3000),
      `stored at the sender's program time ${sentAt}: ${JSON.stringify(stored.reactions)}`,
    );
    // The totals every new page gets in its welcome are the server's, for the whole assembly.
    const moderator = connectPage(stack.app.url, {
      token: mintToken(stack.app, scene.assemblyId, 'moderator'),
      assembly: scene.assemblyId,
    });
    try {
      const welcome = await welcomed(moderator);
      assert.equal(welcome.reactionTotals.clap, 2);
    } finally {
      moderator.close();
    }
    void assemblyId;

    // A late viewer, once that moment has left the live window: nothing replays at live; going
    // back to the cut before it (a chapter) replays the claps as the picture passes their time.
    await wait(12_000);
    late = await WatchViewer.open(monitorBrowser, mintLink(stack.app, scene.assemblyId, 'viewer'));
    const page = late.opened.page;
    await page.evaluate(() => {
      const seen: Array<{ reaction: string; at: number; playing: number }> = [];
      (window as unknown as { replayed: typeof seen }).replayed = seen;
      new MutationObserver((records) => {
        for (const record of records) {
          record.addedNodes.forEach((node) => {
            if (!(node instanceof HTMLElement) || !node.classList.contains('replay')) return;
            seen.push({
              reaction: node.dataset.reaction ?? '',
              at: Number(node.dataset.at),
              playing: Number(document.querySelector('video')?.dataset.programDate),
            });
          });
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('#live-indicator')?.dataset.live === 'true',
      null,
      { timeout: PICTURE_MS },
    );
    await page.locator('#chapter-list .chapter-link[data-kind="cut"]').first().click();
    const replayed = await until(
      PICTURE_MS,
      () =>
        page.evaluate(() => {
          const seen = (
            window as unknown as {
              replayed: Array<{ reaction: string; at: number; playing: number }>;
            }
          ).replayed;
          return seen.length > 0 ? seen : undefined;
        }),
      () => 'no reaction replayed for the late viewer',
      250,
    );
    const [first] = replayed;
    assert.ok(first !== undefined);
    assert.equal(first.reaction, 'clap');
    assert.ok(
      Math.abs(first.at - sentAt) <= 1000,
      `replayed the second of ${sentAt}: ${JSON.stringify(replayed)}`,
    );
    assert.ok(
      first.playing >= first.at - 1000 && first.playing <= first.at + 2000,
      `replayed when the picture reached it: ${JSON.stringify(replayed)}`,
    );
    await page.screenshot({ path: path.join(tmpdir(), 'montage-reaction-replay.png') });
    assert.deepEqual(late.opened.errors, []);
  } finally {
    await sender?.close();
    await late?.close();
    await scene.close();
  }
});
