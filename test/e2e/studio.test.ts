/**
 * The presenter's studio page, driven as a person would with the keyboard: its multiview lists
 * every source (the composite drawn from the cameras' thumbnails where the server tiles them,
 * each camera's live thumbnail, the library clip with its first frame and duration), each tile
 * numbered; a digit puts that source on the preview monitor and space takes it to the program,
 * the former program going to the preview. Real parts only: the engine supervised by the app,
 * real /camera pages in Chromiums with distinct fake pictures, and pixels sampled from the
 * studio's two <video> monitors and its multiview images.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { classify, makeQuadrantClip, makeQuadrantY4m, type PaletteName } from '../helpers/media.js';
import { createAssembly } from '../server/appHelpers.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { until } from './drivers.js';
import {
  openCameraPage,
  openPage,
  thumbnailColours,
  waitForColours,
  type CameraPage,
  type OpenedPage,
  type Points,
} from './pages.js';
import { mintLink, setup, type Stack } from './stack.js';

/** Generous: two cores shared with other test runs. Passing runs do not wait this long. */
const UI_WAIT_MS = 60_000;
const PROGRAM = 'video[aria-label="Program monitor"]';
const PREVIEW = 'video[aria-label="Preview monitor"]';
/** Quadrant centres: a full-frame picture shows one colour at all four. */
const FULL: Points = [
  [0.25, 0.25],
  [0.75, 0.25],
  [0.25, 0.75],
  [0.75, 0.75],
];
/** The centres of a grid of two (side by side, letterboxed in the middle band). */
const GRID2: Points = [
  [0.25, 0.5],
  [0.75, 0.5],
];

function all(colour: PaletteName): [PaletteName, PaletteName, PaletteName, PaletteName] {
  return [colour, colour, colour, colour];
}

let stack: Stack;
let media: string;
let crew: Browser;

before(async () => {
  media = await mkdtemp(path.join(tmpdir(), 'montage-studio-'));
  stack = await setup('embedded');
  crew = await launchChromium();
});

after(async () => {
  await crew?.close().catch(() => undefined);
  await stack?.teardown();
  await rm(media, { recursive: true, force: true });
});

/** The multiview's tiles in their visible order: source, digit, name and duration text. */
async function tiles(page: Page): Promise<Array<{ source: string; key: string; name: string }>> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLButtonElement>('#multiview button.mv-tile')).map(
      (tile) => ({
        source: tile.dataset.source ?? '',
        key: tile.querySelector('.mv-key')?.textContent ?? '',
        name: tile.querySelector('.mv-name')?.textContent ?? '',
      }),
    ),
  );
}

/** The colours of the multiview's composite drawing at `points` (fractions of the canvas). */
async function compositeColours(page: Page, points: Points): Promise<PaletteName[]> {
  const pixels = await page.evaluate((wanted) => {
    const canvas = document.querySelector<HTMLCanvasElement>('canvas[data-composite]');
    const context = canvas?.getContext('2d');
    if (canvas == null || context == null) return [];
    return wanted.map(([x, y]) => {
      const data = context.getImageData(x * canvas.width, y * canvas.height, 1, 1).data;
      return { r: data[0] ?? 0, g: data[1] ?? 0, b: data[2] ?? 0 };
    });
  }, points);
  return pixels.map(classify);
}

test('the studio multiview lists the composite, every camera and the library clips with their duration; a digit or a click puts a source on the preview monitor and space or enter takes it to the program', async () => {
  const { app } = stack;
  const running = { ...stack, url: app.url, teardown: () => Promise.resolve() };
  const assembly = await createAssembly(running, 'Studio');
  const link = (role: 'camera' | 'presenter'): string => mintLink(app, assembly.id, role);
  // The clip goes into this assembly's own library (assembly scope, the default).
  const library = app.library.folder(parseAssemblyId(assembly.id));
  mkdirSync(library, { recursive: true });
  const [redY4m, greenY4m] = await Promise.all([
    makeQuadrantY4m(path.join(media, 'red.y4m'), all('red'), { width: 320, height: 180 }),
    makeQuadrantY4m(path.join(media, 'green.y4m'), all('green'), { width: 320, height: 180 }),
    makeQuadrantClip(path.join(library, 'clip.mp4'), all('yellow'), {
      seconds: 40,
      container: 'mp4',
      width: 320,
      height: 180,
    }),
  ]);
  const cameras: CameraPage[] = [];
  let studio: OpenedPage | undefined;
  try {
    // Red joins first, then green: the composite's tiles and the multiview are in that order.
    cameras.push(await openCameraPage(link('camera'), redY4m, 45_000));
    cameras.push(await openCameraPage(link('camera'), greenY4m, 45_000));
    const [red, green] = cameras;
    assert.ok(red !== undefined && green !== undefined);

    studio = await openPage(crew, link('presenter'), { viewport: { width: 1280, height: 1000 } });
    const page = studio.page;
    await waitForColours(page, PROGRAM, GRID2, ['red', 'green'], UI_WAIT_MS, 'program');
    await waitForColours(page, PREVIEW, GRID2, ['red', 'green'], UI_WAIT_MS, 'preview');

    // The multiview: composite, red, green, the clip; numbered 1 to 4.
    const expected = [
      { source: 'composite', key: '1', name: 'Composite' },
      { source: `camera:${red.cameraId}`, key: '2' },
      { source: `camera:${green.cameraId}`, key: '3' },
      { source: 'video:clip.mp4', key: '4', name: 'clip.mp4' },
    ];
    let seen: Array<{ source: string; key: string; name: string }> = [];
    await until(
      UI_WAIT_MS,
      async () => {
        seen = await tiles(page);
        const matches =
          seen.length === expected.length &&
          expected.every(
            (tile, i) =>
              seen[i]?.source === tile.source &&
              seen[i]?.key === tile.key &&
              (tile.name === undefined || seen[i]?.name === tile.name),
          );
        return matches ? true : undefined;
      },
      () => `multiview tiles: ${JSON.stringify(seen)}`,
    );
    // The clip shows its length (40 s) and its first frame (yellow).
    await page.waitForSelector('[data-source="video:clip.mp4"] .mv-duration', {
      timeout: UI_WAIT_MS,
    });
    assert.equal(
      await page.locator('[data-source="video:clip.mp4"] .mv-duration').textContent(),
      '0:40',
    );
    const poster = await page.evaluate(() => {
      const image = document.querySelector<HTMLImageElement>('img[data-poster="clip.mp4"]');
      if (image == null || !image.complete) return undefined;
      const canvas = document.createElement('canvas');
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context = canvas.getContext('2d');
      context?.drawImage(image, 0, 0);
      const data = context?.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data;
      return { r: data?.[0] ?? 0, g: data?.[1] ?? 0, b: data?.[2] ?? 0 };
    });
    assert.ok(poster !== undefined, 'the clip tile shows its first frame');
    assert.equal(classify(poster), 'yellow');

    // Each camera tile shows its live thumbnail; the composite is drawn from them in the
    // server's tile order.
    let thumbnails = '';
    await until(
      UI_WAIT_MS,
      async () => {
        const colours = await thumbnailColours(page);
        thumbnails = [...colours].map(([id, colour]) => `${id}=${colour}`).join();
        return colours.get(red.cameraId) === 'red' && colours.get(green.cameraId) === 'green'
          ? true
          : undefined;
      },
      () => `camera thumbnails: ${thumbnails}`,
    );
    let composite: PaletteName[] = [];
    await until(
      UI_WAIT_MS,
      async () => {
        composite = await compositeColours(page, GRID2);
        return composite.join() === 'red,green' ? true : undefined;
      },
      () => `multiview composite: ${composite.join()}`,
    );

    // Digit 3 (green) goes on the preview, not on the program.
    await page.keyboard.press('3');
    await waitForColours(page, PREVIEW, FULL, all('green'), UI_WAIT_MS, 'green on the preview');
    await waitForColours(page, PROGRAM, GRID2, ['red', 'green'], UI_WAIT_MS, 'program kept');
    await page.waitForSelector(`[data-source="camera:${green.cameraId}"][data-preview="true"]`, {
      timeout: UI_WAIT_MS,
    });

    // Space takes it: green on the program, the composite (the former program) on the preview.
    await page.keyboard.press(' ');
    await waitForColours(page, PROGRAM, FULL, all('green'), UI_WAIT_MS, 'green taken');
    await waitForColours(page, PREVIEW, GRID2, ['red', 'green'], UI_WAIT_MS, 'composite back');
    await page.waitForSelector(`[data-source="camera:${green.cameraId}"][data-program="true"]`, {
      timeout: UI_WAIT_MS,
    });

    // Digit 4 previews the clip; enter takes it and green goes back to the preview.
    await page.keyboard.press('4');
    await waitForColours(page, PREVIEW, FULL, all('yellow'), UI_WAIT_MS, 'clip on the preview');
    await page.keyboard.press('Enter');
    await waitForColours(page, PROGRAM, FULL, all('yellow'), UI_WAIT_MS, 'clip taken');
    await waitForColours(page, PREVIEW, FULL, all('green'), UI_WAIT_MS, 'green to preview');

    // A click on a tile previews it and leaves the keys to the studio: space then takes.
    await page.locator(`[data-source="camera:${red.cameraId}"]:not([disabled])`).click({
      timeout: UI_WAIT_MS,
    });
    await waitForColours(page, PREVIEW, FULL, all('red'), UI_WAIT_MS, 'red clicked to preview');
    await page.keyboard.press(' ');
    await waitForColours(page, PROGRAM, FULL, all('red'), UI_WAIT_MS, 'red taken');

    // E2E_SCREENSHOTS=DIR keeps a picture of the studio at this point, to look at it.
    const shots = process.env.E2E_SCREENSHOTS;
    if (shots !== undefined) {
      await page.screenshot({ path: path.join(shots, 'studio-preview.png'), fullPage: true });
    }
    assert.deepEqual(studio.errors, [], 'no uncaught errors on the studio page');
  } finally {
    await studio?.close().catch(() => undefined);
    for (const camera of cameras) await camera.close().catch(() => undefined);
  }
});
