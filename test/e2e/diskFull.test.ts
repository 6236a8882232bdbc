/**
 * The recordings disk running out, end to end, on the moderator's real panel page in Chromium.
 * The recordings folder is a 4 MB tmpfs that this file mounts and unmounts itself, with the
 * warning at 3 MB free and the recording minimum at 1 MB (checked every half second); one
 * Chromium camera makes the program (a noisy picture, so the recording fills the disk in
 * seconds rather than minutes). In turn:
 *  - a file filling the disk under the threshold raises the panel's warning, naming the folder
 *    and its free space (also on a panel opened later, and in /metrics), which clears when the
 *    file is deleted;
 *  - under the minimum, Start recording is refused with the reason;
 *  - a recording that fills the disk raises the panel's error with its reason within seconds,
 *    the program goes on to the HLS edge, and the partial file decodes to the camera's picture
 *    for about as long as it recorded; the archive lists it with that length, marked cut short,
 *    and the panel's own player plays it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { freeBytes } from '../../server/domain/DiskSpace.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { launchChromium } from '../helpers/browser.js';
import { fileQuadrants, lastVideoTime } from '../helpers/fileMedia.js';
import { fetchPlaylist } from '../helpers/hlsPlaylist.js';
import { classify, type PaletteName } from '../helpers/media.js';
import { sampleVideo } from '../helpers/pixels.js';
import { mountTinyDisk, type TinyDisk } from '../helpers/tmpfs.js';
import { until } from './drivers.js';
import { openPage, videoTime, type OpenedPage } from './pages.js';
import { Scene } from './Scene.js';
import { mintLink, setup, type Stack } from './stack.js';

const run = promisify(execFile);
const MB = 1024 * 1024;
const COLOUR: PaletteName = 'red';
/** Generous bounds for what only depends on the machine's load. */
const SLOW_MS = 60_000;
/** "Within seconds": the panel shows a failed recording this soon after the server knew. */
const PANEL_MS = 10_000;
const SCREENSHOTS = path.join(tmpdir(), 'montage-diskfull');

let stack: Stack;
let disk: TinyDisk;
let mediaFolder: string;
let scene: Scene;
let cameraBrowser: Browser;
let panelBrowser: Browser;
let panel: OpenedPage;

/**
 * A red picture with noise that changes every frame: the encoders cannot squeeze it, so a
 * recording grows at its full bitrate, while every sampled pixel is still nearest to red.
 */
async function makeNoisyCameraVideo(dir: string): Promise<string> {
  const file = path.join(dir, 'noisy-red.y4m');
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'color=c=red:s=320x180:r=30',
    '-vf',
    'noise=alls=30:allf=t',
    '-t',
    '2',
    '-pix_fmt',
    'yuv420p',
    file,
  ]);
  return file;
}

/** Writes a file that leaves `leaveMb` MiB free on the recordings disk. */
async function fillTo(leaveMb: number): Promise<string> {
  const file = path.join(disk.dir, 'filler.bin');
  await rm(file, { force: true });
  await writeFile(file, Buffer.alloc(Math.max(0, freeBytes(disk.dir) - leaveMb * MB), 1));
  return file;
}

async function openPanel(): Promise<OpenedPage> {
  const opened = await openPage(panelBrowser, mintLink(stack.app, scene.assemblyId, 'moderator'), {
    viewport: { width: 1366, height: 900 },
  });
  await opened.page.locator('#recording-toggle').waitFor({ timeout: SLOW_MS });
  return opened;
}

/** The text of the panel's disk warning about the recordings folder, or '' when none shows. */
async function recordingsWarning(page: Page): Promise<string> {
  // One look in the page: a locator's isVisible then innerText could see the warning, then wait
  // 30 s for it when it went in between (CI once failed so).
  return page.evaluate(() => {
    const warning = document.querySelector<HTMLElement>('#disk-warnings p[data-kind="recordings"]');
    return warning === null || warning.closest('[hidden]') !== null ? '' : warning.innerText;
  });
}

async function metricsText(): Promise<string> {
  return (await fetch(`${stack.app.url}/metrics`)).text();
}

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-diskfull-'));
  await rm(SCREENSHOTS, { recursive: true, force: true });
  await run('mkdir', ['-p', SCREENSHOTS]);
  disk = await mountTinyDisk('4m');
  const [video, started] = await Promise.all([
    makeNoisyCameraVideo(mediaFolder),
    setup('embedded', {
      MONTAGE_RECORDINGS_DIR: disk.dir,
      MONTAGE_DISK_WARN_FREE_MB: '3',
      MONTAGE_DISK_MIN_FREE_MB: '1',
      MONTAGE_DISK_CHECK_INTERVAL_MS: '500',
    }),
  ]);
  stack = started;
  cameraBrowser = await launchChromium({ fakeVideoFile: video });
  panelBrowser = await launchChromium();
  scene = await Scene.open(
    { stack, cameraBrowsers: new Map([[COLOUR, cameraBrowser]]), monitorBrowser: panelBrowser },
    'Disk full',
  );
  await scene.join(COLOUR);
  panel = await openPanel();
});

after(async () => {
  await panel?.close().catch(() => undefined);
  await scene?.close().catch(() => undefined);
  for (const browser of [cameraBrowser, panelBrowser]) {
    await browser?.close().catch(() => undefined);
  }
  await stack?.teardown();
  await disk?.remove();
  await rm(mediaFolder, { recursive: true, force: true });
});

test('under the free-space threshold the panel warns, naming the folder and its free MB, also a panel opened later and /metrics; the warning clears when space is back', async () => {
  assert.equal(await recordingsWarning(panel.page), '', 'no warning while the disk has room');
  const filler = await fillTo(2);
  const text = await until(
    SLOW_MS,
    async () => (await recordingsWarning(panel.page)) || undefined,
    () => 'the panel shows no disk warning',
    250,
  );
  assert.ok(text.includes(disk.dir), `the warning names the folder: ${text}`);
  assert.match(text, /The recordings disk .* has 2 MB free, under the 3 MB warning level/);
  await panel.page.screenshot({ path: path.join(SCREENSHOTS, 'warning.png') });
  const later = await openPanel();
  try {
    // Shown from the welcome: a panel opened later does not wait for the next change.
    await later.page
      .locator('#disk-warnings p[data-kind="recordings"]')
      .waitFor({ timeout: SLOW_MS });
    assert.match(await recordingsWarning(later.page), /has 2 MB free/);
    assert.match(await metricsText(), /montage_disk_low\{folder="recordings",path="[^"]+"\} 1/);

    await rm(filler);
    for (const page of [panel.page, later.page]) {
      await until(
        SLOW_MS,
        async () => ((await recordingsWarning(page)) === '' ? true : undefined),
        () => 'the warning is still shown once the space is back',
        250,
      );
    }
    assert.equal(await panel.page.locator('#disk-warnings').isHidden(), true);
    assert.match(await metricsText(), /montage_disk_low\{folder="recordings",path="[^"]+"\} 0/);
  } finally {
    await later.close();
  }
});

test('under the recording minimum, Start recording is refused on the panel with the reason', async () => {
  const filler = await fillTo(0.5);
  try {
    await panel.page.locator('#recording-toggle').click();
    const notice = panel.page.locator('#recording .notice');
    await until(
      SLOW_MS,
      async () => (/Could not start/.test(await notice.innerText()) ? true : undefined),
      () => 'the panel did not say that recording could not start',
      250,
    );
    assert.match(
      await notice.innerText(),
      /Could not start recording: the recordings disk is almost full: .* has 0 MB free, and a recording needs at least 1 MB/,
    );
    assert.equal(
      stack.app.core.assemblies.get(parseAssemblyId(scene.assemblyId)).recording,
      false,
      'recording stays off',
    );
    assert.deepEqual(await readdir(disk.dir), ['filler.bin'], 'no recording file was made');
    assert.equal(await panel.page.locator('#recording-toggle').innerText(), 'Start recording');
  } finally {
    await rm(filler);
  }
});

test('a recording that fills its disk: the panel says why within seconds, the program goes on, the partial file plays and is archived as cut short', async () => {
  const edge = stack.delivery.edge;
  assert.ok(edge !== undefined, 'the stack runs a local edge');
  const playlistUrl = edge.hlsUrl(scene.assemblyId, 'history.m3u8');
  const assemblyId = parseAssemblyId(scene.assemblyId);
  // Room for a second or so of the program above the minimum.
  await fillTo(1.5);
  const failed = new Promise<number>((resolve) =>
    scene.moderator.once('recording:failed', () => resolve(Date.now())),
  );
  // When the server turned recording on (the moderator's socket is told as the panel is).
  const started = new Promise<number>((resolve) => {
    const listener = (assembly: { recording: boolean }): void => {
      if (!assembly.recording) return;
      scene.moderator.off('assembly:updated', listener);
      resolve(Date.now());
    };
    scene.moderator.on('assembly:updated', listener);
  });
  await panel.page.locator('#recording-toggle').click();
  const startedAt = await started;
  const failedAt = await failed;
  const recordedSeconds = (failedAt - startedAt) / 1000;
  const notice = panel.page.locator('#recording .notice');
  await until(
    PANEL_MS,
    async () => (/Recording stopped/.test(await notice.innerText()) ? true : undefined),
    () => 'the panel did not show that the recording stopped',
    100,
  );
  const shownMs = Date.now() - failedAt;
  assert.match(
    await notice.innerText(),
    /Recording stopped: the recordings disk is full\. The assembly goes on/,
  );
  assert.equal(await notice.getAttribute('data-tone'), 'bad');
  assert.equal(await panel.page.locator('#recording-toggle').innerText(), 'Start recording');
  // It had warned before: the recordings folder is low.
  assert.match(await recordingsWarning(panel.page), /The recordings disk .* has 0 MB free/);
  console.log(
    `recorded ${recordedSeconds.toFixed(1)} s until the disk was full; the panel said so ` +
      `${shownMs} ms after the server's recording:failed`,
  );

  // The program goes on: the edge lists new fragments after the failure.
  const before = await fetchPlaylist(playlistUrl);
  const lastBefore = before.fragments.at(-1)?.sequence ?? -1;
  await until(
    SLOW_MS,
    async () =>
      ((await fetchPlaylist(playlistUrl)).fragments.at(-1)?.sequence ?? -1) >= lastBefore + 3
        ? true
        : undefined,
    () => 'the HLS playlist stopped growing after the recording failed',
    500,
  );

  // The partial file decodes without an error to the camera's picture, for about as long as it
  // recorded (the recorder starts at a keyframe, a moment after it was turned on).
  const files = (await readdir(disk.dir)).filter((name) => name.endsWith('.webm'));
  assert.equal(files.length, 1, `one recording on the disk: ${files.join()}`);
  const file = path.join(disk.dir, files[0] ?? '');
  const seconds = await lastVideoTime(file);
  assert.ok(
    seconds >= recordedSeconds * 0.5 && seconds <= recordedSeconds + 1,
    `the file holds ${seconds} s of the ${recordedSeconds.toFixed(1)} s recorded`,
  );
  for (const at of [seconds / 4, seconds - 0.5]) {
    assert.deepEqual(await fileQuadrants(file, at), [COLOUR, COLOUR, COLOUR, COLOUR], `at ${at} s`);
  }

  // The archive lists it with that length, cut short by the full disk, and so does the panel.
  const recording = await until(
    SLOW_MS,
    async () => {
      await stack.app.archive.settled();
      return stack.app.archive.list(assemblyId).find((entry) => entry.state === 'finished');
    },
    () => `the archive lists ${JSON.stringify(stack.app.archive.list(assemblyId))}`,
    500,
  );
  assert.equal(recording.failure, 'the recordings disk was full');
  // Its length is the file's (audio may run a little past the last video frame on a loaded
  // machine), within what was recorded.
  const archivedSeconds = (recording.durationMs ?? 0) / 1000;
  assert.ok(
    archivedSeconds >= seconds - 0.5 && archivedSeconds <= recordedSeconds + 1,
    `archived as ${archivedSeconds} s long; the file's video lasts ${seconds} s of the ` +
      `${recordedSeconds.toFixed(1)} s recorded`,
  );
  const row = panel.page.locator(`#archive-list li[data-recording="${recording.id}"]`);
  await until(
    SLOW_MS,
    async () => ((await row.locator('.recording-failure').isVisible()) ? true : undefined),
    () => 'the panel does not show the recording as cut short',
    500,
  );
  assert.match(
    await row.innerText(),
    /Cut short: the recordings disk was full\. It plays up to there\./,
  );
  // The panel's own player plays it: Chromium decodes the cut-short file to the camera's picture.
  await row.getByRole('button', { name: 'Play' }).click();
  let seen = 'nothing';
  await until(
    SLOW_MS,
    async () => {
      const at = await videoTime(panel.page, '#archive-player');
      const [centre] = await sampleVideo(panel.page, '#archive-player', [[0.5, 0.5]]).catch(
        () => [],
      );
      seen = `${centre === undefined ? 'no picture' : classify(centre)} at ${at} s`;
      return at > 2 && centre !== undefined && classify(centre) === COLOUR ? true : undefined;
    },
    () => `the archive's player shows ${seen}`,
    250,
  );
  await panel.page.screenshot({ path: path.join(SCREENSHOTS, 'failed.png'), fullPage: true });
  console.log(`partial file: ${seconds} s; archive: ${JSON.stringify(recording)}`);
});
