/**
 * Drivers for the real pages (public/src) in headless Chromium: a camera page in its own browser
 * (Chromium's fake camera plays one file per browser, so distinct pictures need distinct
 * browsers), and pixel sampling of any page's <video> through a canvas. The pages are used as a
 * person would: invite link, buttons, file inputs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { classify, type PaletteName, type Rgb } from '../helpers/media.js';

/** Points inside a video, as fractions of its width and height. */
export type Points = Array<[number, number]>;

export interface OpenedPage {
  page: Page;
  /** Uncaught errors the page threw; a test asserts this stays empty. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Opens `url` in a fresh context of `browser` (its own storage, as another person's device) at a
 * phone-sized viewport, and fails unless the server answers 200.
 */
export async function openPage(browser: Browser, url: string): Promise<OpenedPage> {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: 412, height: 915 },
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
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
 * Reads the pixels of the video matched by `selector` at `points` (each averaged over a 9x9
 * block, so a codec's ringing at one pixel does not decide the colour). The page's own <video>
 * is drawn into a canvas: hls.js feeds it through MediaSource and WebRTC through a MediaStream,
 * and neither taints the canvas.
 */
export async function sampleVideo(page: Page, selector: string, points: Points): Promise<Rgb[]> {
  return page.evaluate(
    ({ selector, points }) => {
      const video = document.querySelector<HTMLVideoElement>(selector);
      if (video === null) throw new Error(`no ${selector} on the page`);
      if (video.readyState < 2 || video.videoWidth === 0) throw new Error('no frame yet');
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (context === null) throw new Error('no 2d context');
      context.drawImage(video, 0, 0);
      return points.map(([fx, fy]) => {
        const x = Math.min(canvas.width - 5, Math.max(4, Math.round(fx * canvas.width)));
        const y = Math.min(canvas.height - 5, Math.max(4, Math.round(fy * canvas.height)));
        const data = context.getImageData(x - 4, y - 4, 9, 9).data;
        let r = 0;
        let g = 0;
        let b = 0;
        for (let i = 0; i < data.length; i += 4) {
          r += data[i] ?? 0;
          g += data[i + 1] ?? 0;
          b += data[i + 2] ?? 0;
        }
        const n = data.length / 4;
        return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n) };
      });
    },
    { selector, points },
  );
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
