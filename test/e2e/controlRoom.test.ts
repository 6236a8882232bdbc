/**
 * The control room of a real assembly, proven with real media and the real pages: backstage (the
 * crew rehearses, viewers see a slate and nothing reaches the edges or the recording), Go live
 * (the composite reaches the viewers through the edge, the recording starts) and End (viewers are
 * told, the recording is finalized, the media is freed); cameras the server names, whose names
 * and mutes every page shows alike, after a reload too; a camera whose picture never starts
 * leaves the mix and is flagged.
 *
 * One stack and one set of browsers for the file; each test has an assembly of its own.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import type { ParticipantWire } from '../../server/signaling/events.js';
import { launchChromium } from '../helpers/browser.js';
import type { PaletteName, Rgb } from '../helpers/media.js';
import { sampleScreen } from '../helpers/pixels.js';
import {
  colourPoint,
  connectPage,
  decodeFrames,
  gridTiles,
  makeCameraVideo,
  probeStreams,
  until,
  welcomed,
} from './drivers.js';
import { openCameraPage, openPage, type OpenedPage } from './pages.js';
import { Scene } from './Scene.js';
import { call, mintLink, mintToken, setup, type Stack } from './stack.js';
import { WatchViewer } from './WatchViewer.js';

const COLOURS: readonly PaletteName[] = ['red', 'green'];
/** Generous: two cores shared with other test runs. */
const PICTURE_MS = 60_000;
/** The viewers' slate colour (public/src/lib/style.css .slate). */
const SLATE: Rgb = { r: 0x1b, g: 0x2a, b: 0x6b };

let stack: Stack;
let mediaFolder: string;
const videos = new Map<PaletteName, string>();
const cameraBrowsers = new Map<PaletteName, Browser>();
let monitorBrowser: Browser;

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-control-'));
  const [files, started] = await Promise.all([
    Promise.all(COLOURS.map((colour) => makeCameraVideo(mediaFolder, colour))),
    setup('embedded'),
  ]);
  stack = started;
  for (const [i, colour] of COLOURS.entries()) {
    videos.set(colour, files[i] ?? '');
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

function near(seen: Rgb, want: Rgb, tolerance = 40): boolean {
  return (
    Math.abs(seen.r - want.r) <= tolerance &&
    Math.abs(seen.g - want.g) <= tolerance &&
    Math.abs(seen.b - want.b) <= tolerance
  );
}

async function recordingsOf(assemblyId: string): Promise<string[]> {
  const folder = stack.app.config.recordingsDir;
  return (await readdir(folder).catch(() => []))
    .filter((name) => name.startsWith(`${assemblyId}-`))
    .map((name) => path.join(folder, name));
}

test('backstage the crew rehearses while viewers see the slate and nothing is delivered or recorded; Go live brings the composite to viewers and starts the recording; End tells viewers, finalizes the recording and frees the media', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Friday assembly', {
    live: false,
  });
  let viewer: WatchViewer | undefined;
  try {
    await scene.record(true);
    await scene.join('red');
    await scene.join('green');
    const tiles = gridTiles(2);
    const program = await scene.openMonitor();
    await program.waitForColours(tiles.map(colourPoint), ['red', 'green'], PICTURE_MS, 'rehearsal');

    viewer = await WatchViewer.open(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'viewer'),
    );
    const page = viewer.opened.page;
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.waitForSelector('#slate[data-state="starting"]', { timeout: 30_000 });
    assert.match((await page.locator('#slate').textContent()) ?? '', /Friday assembly/);
    assert.match((await page.locator('#slate').textContent()) ?? '', /Starting soon/);
    const [centre] = await sampleScreen(page, '.video-box', [[0.5, 0.8]]);
    assert.ok(
      centre !== undefined && near(centre, SLATE),
      `the slate, not a camera: ${JSON.stringify(centre)}`,
    );
    // The reactions row fits on a 1366x768 screen, under the picture.
    const bar = await page.locator('.reactions-bar').boundingBox();
    assert.ok(bar !== null && bar.y + bar.height <= 768, `reactions row at ${JSON.stringify(bar)}`);

    // Nothing reached the origin (so no edge has history) and nothing was recorded.
    const stream = streamName(parseAssemblyId(scene.assemblyId));
    assert.equal(stack.delivery.origin.isLive(stream), false, 'nothing published backstage');
    assert.deepEqual(await recordingsOf(scene.assemblyId), [], 'nothing recorded backstage');

    const wentLive = await call<{ phase: string }>(
      scene.moderator.timeout(20_000).emitWithAck('assembly:golive', {}),
    );
    assert.equal(wentLive.phase, 'live');
    await until(
      PICTURE_MS,
      async () => {
        // "no frame yet" until hls.js has the first fragment.
        const seen = await viewer?.colours(tiles.map(colourPoint)).catch(() => undefined);
        return seen?.join() === 'red,green' ? true : undefined;
      },
      () => 'the viewer did not see the composite after Go live',
      500,
    ).catch(async (error: unknown) => {
      throw new Error(
        `${String(error)}; slate: ${await page.locator('#slate').getAttribute('data-state')}`,
      );
    });
    assert.equal(await page.locator('#slate').isHidden(), true, 'the slate is gone');
    const file = await until(
      30_000,
      async () => {
        const [found] = await recordingsOf(scene.assemblyId);
        return found !== undefined && (await stat(found)).size > 100_000 ? found : undefined;
      },
      () => 'no recording grew after Go live',
    );

    await call(scene.moderator.timeout(30_000).emitWithAck('assembly:end', {}));
    await page.waitForSelector('#slate[data-state="ended"]', { timeout: 30_000 });
    assert.match((await page.locator('#slate').textContent()) ?? '', /has ended/);
    // The media is freed and the stream revoked.
    await until(
      20_000,
      () =>
        Promise.resolve(
          stack.app.live.find(parseAssemblyId(scene.assemblyId))?.media === undefined
            ? true
            : undefined,
        ),
      () => 'the media of the ended assembly is still there',
    );
    await until(
      20_000,
      () => Promise.resolve(stack.delivery.origin.isLive(stream) ? undefined : true),
      () => 'the program is still published after End',
    );
    // The recording was finalized: it decodes to its end and shows the composite.
    const streams = await probeStreams(file);
    assert.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
      'audio:opus',
      'video:vp8',
    ]);
    const frames = await decodeFrames(file);
    assert.ok(frames.count >= 30, `only ${frames.count} frames in the recording`);
    assert.deepEqual(
      tiles.map((tile) => frames.colourAt(-1, colourPoint(tile))),
      ['red', 'green'],
      'the recording ends on the composite',
    );
    const actions = stack.app.core.audit
      .recent(50)
      .filter((entry) => entry.assemblyId === scene.assemblyId)
      .map((entry) => entry.action);
    assert.ok(
      actions.includes('assembly.live') && actions.includes('assembly.end'),
      actions.join(),
    );
    // Ended is for good.
    const again = (await scene.moderator.timeout(10_000).emitWithAck('assembly:golive', {})) as {
      ok: boolean;
      error?: { code: string };
    };
    assert.equal(again.error?.code, 'wrong_phase');
  } finally {
    await viewer?.close();
    await scene.close();
  }
});

/** The text of every camera label on a panel or studio page, in page order. */
async function cameraLabels(page: Page): Promise<string[]> {
  return page.locator('#camera-list .camera-label').allTextContents();
}

async function waitForText(
  page: Page,
  what: string,
  read: () => Promise<string>,
  want: RegExp,
): Promise<void> {
  let seen = '';
  await until(
    30_000,
    async () => {
      seen = await read();
      return want.test(seen) ? true : undefined;
    },
    () => `${what}: expected ${String(want)}, saw "${seen}"`,
    250,
  );
}

test('names and mutes are the server’s: a rename and a mute on one panel show on the other panel, the studio and the camera page, and after a reload', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Names');
  const opened: OpenedPage[] = [];
  try {
    const camera = await openCameraPage(
      mintLink(stack.app, scene.assemblyId, 'camera'),
      videos.get('red') ?? '',
      PICTURE_MS,
    );
    opened.push(camera);
    await waitForText(
      camera.page,
      'camera page name',
      () => camera.page.locator('#camera-name').innerText(),
      /Camera 1/,
    );
    const panelLink = mintLink(stack.app, scene.assemblyId, 'moderator');
    const panels = [
      await openPage(monitorBrowser, panelLink, { viewport: { width: 1366, height: 900 } }),
      await openPage(monitorBrowser, panelLink, { viewport: { width: 1366, height: 900 } }),
    ];
    opened.push(...panels);
    const studio = await openPage(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'presenter'),
      {
        viewport: { width: 1366, height: 900 },
      },
    );
    opened.push(studio);
    for (const panel of panels) {
      await waitForText(
        panel.page,
        'panel before',
        async () => (await cameraLabels(panel.page)).join(),
        /^Camera 1$/,
      );
    }

    // Rename on the first panel, as a moderator would.
    const [first, second] = panels as [OpenedPage, OpenedPage];
    await first.page.getByRole('button', { name: 'Rename Camera 1' }).click();
    await first.page.getByRole('textbox', { name: 'New name for Camera 1' }).fill('Room 12');
    await first.page.getByRole('textbox', { name: 'New name for Camera 1' }).press('Enter');
    for (const panel of panels) {
      await waitForText(
        panel.page,
        'panel after rename',
        async () => (await cameraLabels(panel.page)).join(),
        /^Room 12$/,
      );
    }
    await waitForText(
      studio.page,
      'studio after rename',
      () => studio.page.locator('#camera-sources').innerText(),
      /Room 12/,
    );
    await waitForText(
      camera.page,
      'camera page after rename',
      () => camera.page.locator('#camera-name').innerText(),
      /Room 12/,
    );

    // Mute on the second panel: the first panel and the camera page say so.
    assert.equal(await camera.page.locator('#moderator-mute').isHidden(), true);
    await second.page.getByRole('button', { name: 'Mute the microphone of Room 12' }).click();
    await first.page
      .getByRole('button', { name: 'Unmute the microphone of Room 12' })
      .waitFor({ timeout: 30_000 });
    await camera.page.locator('#moderator-mute').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(
      await camera.page.locator('#moderator-mute').innerText(),
      /Muted by the moderator/,
    );

    // A reload shows the server's state, not the tab's.
    await second.page.reload();
    await waitForText(
      second.page,
      'panel after reload',
      async () => (await cameraLabels(second.page)).join(),
      /^Room 12$/,
    );
    await second.page
      .getByRole('button', { name: 'Unmute the microphone of Room 12' })
      .waitFor({ timeout: 30_000 });
    await camera.page.reload();
    await waitForText(
      camera.page,
      'camera page after reload',
      () => camera.page.locator('#camera-name').innerText(),
      /Room 12/,
    );
    await camera.page.locator('#moderator-mute').waitFor({ state: 'visible', timeout: 30_000 });

    // Unmute: the camera page's notice goes.
    await first.page.getByRole('button', { name: 'Unmute the microphone of Room 12' }).click();
    await camera.page.locator('#moderator-mute').waitFor({ state: 'hidden', timeout: 30_000 });
    for (const page of opened) assert.deepEqual(page.errors, [], 'no page errors');
  } finally {
    for (const page of opened.reverse()) await page.close().catch(() => undefined);
    await scene.close();
  }
});

test('a camera whose picture never starts leaves the mix after 10 s and is flagged to the crew', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'No picture');
  // Listened for from the start: the flag comes 10 s after the camera joined.
  const flags: ParticipantWire[] = [];
  scene.moderator.on('participant:updated', (participant) => {
    if (participant.picture === 'none') flags.push(participant);
  });
  let blank: Page | undefined;
  let silent: ReturnType<typeof connectPage> | undefined;
  try {
    await scene.join('red');
    silent = connectPage(stack.app.url, {
      token: mintToken(stack.app, scene.assemblyId, 'camera'),
      assembly: scene.assemblyId,
    });
    const silentWelcome = welcomed(silent, 30_000);
    const { you } = await silentWelcome;
    // A peer that offers a video it never sends: ICE connects, no picture ever flows.
    const context = await monitorBrowser.newContext();
    blank = await context.newPage();
    const offer = await blank.evaluate(async () => {
      const pc = new RTCPeerConnection();
      (window as unknown as { pc: RTCPeerConnection }).pc = pc;
      pc.addTransceiver('video', { direction: 'sendonly' });
      pc.addTransceiver('audio', { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') resolve();
        });
      });
      return pc.localDescription?.sdp ?? '';
    });
    const answer = await call<{ sdp: string }>(
      silent.timeout(30_000).emitWithAck('camera:offer', { sdp: offer }),
    );
    silent.on('camera:candidate', (candidate) => {
      void blank?.evaluate(
        (c) => (window as unknown as { pc: RTCPeerConnection }).pc.addIceCandidate(c),
        candidate,
      );
    });
    await blank.evaluate(
      (sdp) =>
        (window as unknown as { pc: RTCPeerConnection }).pc.setRemoteDescription({
          type: 'answer',
          sdp,
        }),
      answer.sdp,
    );

    const tiles = (): readonly string[] =>
      stack.app.live.find(parseAssemblyId(scene.assemblyId))?.media?.tiles ?? [];
    // The silent camera has a tile at first (the engine's grid shows no black box for a port
    // that never had a frame; Kurento's would), then leaves the mix; red fills the frame.
    const silentId = you.cameraId ?? '';
    await until(
      PICTURE_MS,
      () => Promise.resolve(tiles().includes(silentId as never) ? true : undefined),
      () => `the silent camera never had a tile (${tiles().join()})`,
      100,
    );
    const started = Date.now();
    await until(
      PICTURE_MS,
      () => Promise.resolve(flags.find((p) => p.id === you.id)),
      () => `the silent camera was not flagged (flags: ${JSON.stringify(flags)})`,
    );
    assert.ok(!flags.some((p) => p.role === 'camera' && p.id !== you.id), 'red is not flagged');
    await until(
      PICTURE_MS,
      () => Promise.resolve(tiles().includes(silentId as never) ? undefined : true),
      () => `the silent camera is still a tile (${tiles().join()})`,
    );
    assert.ok(Date.now() - started < PICTURE_MS);
    const program = await scene.openMonitor();
    const halves = gridTiles(2).map(colourPoint);
    await program.waitForColours(halves, ['red', 'red'], PICTURE_MS, 'red alone, full frame');
    const presence = await call<ParticipantWire[]>(
      scene.moderator.timeout(10_000).emitWithAck('presence:list', {}),
    );
    assert.equal(presence.find((p) => p.id === you.id)?.picture, 'none', 'presence flags it too');
  } finally {
    silent?.close();
    await blank?.context().close();
    await scene.close();
  }
});

test('a viewer whose browser blocks autoplay taps Play long after the page loaded and starts at live, not where loading stopped', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Tap to play');
  try {
    await scene.join('red');
    // Chromium's own policy ("user-gesture-required") lets a picture without sound play, and the
    // first fragments of a program may carry no audio yet; the page's play() is refused here as
    // that policy refuses a page with sound: until the person has touched the page.
    const opened = await openPage(monitorBrowser, mintLink(stack.app, scene.assemblyId, 'viewer'), {
      viewport: { width: 1366, height: 768 },
      initScript: () => {
        const play = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'play')?.value as (
          this: HTMLMediaElement,
        ) => Promise<void>;
        // Playwright's navigation counts as user activation, so the tap is tracked here.
        let tapped = false;
        addEventListener('pointerdown', (event) => (tapped ||= event.isTrusted), true);
        HTMLMediaElement.prototype.play = function (this: HTMLMediaElement) {
          if (!tapped) {
            return Promise.reject(new DOMException('play() needs a tap first', 'NotAllowedError'));
          }
          return play.call(this);
        };
      },
    });
    const page = opened.page;
    const play = page.getByRole('button', { name: '▶ Play' });
    // The page says what it waits for; a failure reports it (and the video's state).
    const state = (): Promise<string> =>
      page.evaluate(() => {
        const video = document.querySelector('video');
        const overlay = document.querySelector('.overlay')?.textContent ?? '';
        return `overlay "${overlay}", video readyState ${video?.readyState}, paused ${video?.paused}`;
      });
    let seen = '';
    await until(
      2 * PICTURE_MS,
      async () => {
        seen = await state();
        return (await play.isVisible()) ? true : undefined;
      },
      () => `no Play button: ${seen}`,
      500,
    );
    // The person looks away: the live edge moves on while the page waits for the tap.
    const behind = (): Promise<number> =>
      page.evaluate(() => {
        const video = document.querySelector('video');
        if (video === null || video.seekable.length === 0) return -1;
        return video.seekable.end(video.seekable.length - 1) - video.currentTime;
      });
    await until(
      PICTURE_MS,
      async () => ((await behind()) > 10 ? true : undefined),
      () => 'the live edge did not move on while waiting for the tap',
      500,
    );
    await play.click();
    await page.waitForFunction(
      () => {
        const video = document.querySelector('video');
        return video !== null && !video.paused && video.readyState >= 3;
      },
      undefined,
      { timeout: PICTURE_MS },
    );
    const late = await behind();
    assert.ok(late >= 0 && late < 6, `started ${late.toFixed(1)} s behind the live edge`);
    assert.deepEqual(opened.errors, []);
    await opened.close();
  } finally {
    await scene.close();
  }
});
