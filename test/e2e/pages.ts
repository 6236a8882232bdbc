/**
 * Drivers for the real pages (public/src) in headless Chromium: a camera page in its own browser
 * (Chromium's fake camera plays one file per browser, so distinct pictures need distinct
 * browsers), and pixel sampling of any page's <video> through a canvas. The pages are used as a
 * person would: invite link, buttons, file inputs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { classify, type PaletteName } from '../helpers/media.js';
import { sampleVideo, type Points } from '../helpers/pixels.js';

export type { Points } from '../helpers/pixels.js';

export interface OpenedPage {
  page: Page;
  /**
   * Uncaught errors the page threw, and what its Content-Security-Policy refused (Chromium says
   * so on the console); a test asserts this stays empty.
   */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Opens `url` in a fresh context of `browser` (its own storage, as another person's device) at a
 * phone-sized viewport, and fails unless the server answers 200.
 */
export async function openPage(
  browser: Browser,
  url: string,
  options: {
    viewport?: { width: number; height: number };
    /** Runs in the page before its own scripts (Playwright's addInitScript). */
    initScript?: () => void;
    /** Sets the context up before the page opens (e.g. routes that cut the page off). */
    prepare?: (context: BrowserContext) => Promise<void>;
  } = {},
): Promise<OpenedPage> {
  const context: BrowserContext = await browser.newContext({
    viewport: options.viewport ?? { width: 412, height: 915 },
  });
  if (options.initScript !== undefined) await context.addInitScript(options.initScript);
  await options.prepare?.(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) errors.push(`CSP: ${message.text()}`);
  });
  const response = await page.goto(url);
  if (response?.status() !== 200) {
    await context.close();
    throw new Error(`${url} answered ${response?.status() ?? 'nothing'}`);
  }
  return { page, errors, close: () => context.close() };
}

/** A /camera page in a Chromium of its own whose fake camera plays `y4m`. */
export interface CameraPage extends OpenedPage {
  browser: Browser;
  /** The camera id the page shows once the server welcomed it. */
  cameraId: string;
}

/**
 * Opens the camera page of an invite link and waits until it says it is sending: the page picked
 * the fake devices, previewed them, offered and connected.
 */
export async function openCameraPage(
  inviteUrl: string,
  y4m: string,
  timeoutMs = 30_000,
): Promise<CameraPage> {
  const browser = await launchChromium({ fakeVideoFile: y4m });
  try {
    const opened = await openPage(browser, inviteUrl);
    await opened.page.waitForSelector('#publish-state[data-state="live"]', { timeout: timeoutMs });
    const label = (await opened.page.getByText(/^Camera id /).textContent()) ?? '';
    const cameraId = label.replace(/^Camera id /, '');
    return {
      ...opened,
      browser,
      cameraId,
      close: async () => {
        await opened.close().catch(() => undefined);
        await browser.close();
      },
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/**
 * Waits until the video shows the `expected` colours at `points`; returns how long that took.
 * The error names what was seen last, so a failure tells which tile is wrong.
 */
export async function waitForColours(
  page: Page,
  selector: string,
  points: Points,
  expected: PaletteName[],
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = Date.now();
  let seen = 'nothing';
  while (Date.now() - started < timeoutMs) {
    try {
      const colours = (await sampleVideo(page, selector, points)).map(classify);
      seen = colours.join(',');
      if (seen === expected.join(',')) return Date.now() - started;
    } catch (error) {
      seen = error instanceof Error ? error.message : String(error);
    }
    await sleep(150);
  }
  throw new Error(`${what}: expected ${expected.join(',')}, saw ${seen} after ${timeoutMs} ms`);
}

/** The video's playback position, to prove a picture keeps moving. */
export async function videoTime(page: Page, selector: string): Promise<number> {
  return page.evaluate(
    (s) => document.querySelector<HTMLVideoElement>(s)?.currentTime ?? -1,
    selector,
  );
}

/**
 * The colour at the centre of every camera thumbnail on the panel, by camera id (cameras whose
 * first thumbnail has not arrived yet are left out).
 */
export async function thumbnailColours(page: Page): Promise<Map<string, PaletteName>> {
  const pixels = await page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLImageElement>('img[data-thumbnail]'))
      .filter((image) => image.complete && image.naturalWidth > 1)
      .map((image) => {
        const canvas = document.createElement('canvas');
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        const context = canvas.getContext('2d');
        context?.drawImage(image, 0, 0);
        const data = context?.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data;
        return {
          cameraId: image.dataset.thumbnail ?? '',
          rgb: { r: data?.[0] ?? 0, g: data?.[1] ?? 0, b: data?.[2] ?? 0 },
        };
      }),
  );
  return new Map(pixels.map(({ cameraId, rgb }) => [cameraId, classify(rgb)]));
}
