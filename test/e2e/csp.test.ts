/**
 * The pages under their Content-Security-Policy (server/security/securityHeaders.ts), in real
 * Chromium against the real stack: the watch page plays the program through hls.js from the
 * local edge (another origin than the app's: media and fetches there, a MediaSource blob), and
 * the panel, the studio and the camera page load and connect, with nothing refused by the
 * policy (openPage reports what Chromium's console says the CSP refused as a page error). A
 * script injected inline is refused on the same pages, so the check can fail.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import type { PaletteName } from '../helpers/media.js';
import { makeCameraVideo, until } from './drivers.js';
import { openPage, type OpenedPage } from './pages.js';
import { Scene } from './Scene.js';
import { mintLink, setup, type Stack } from './stack.js';
import { WatchViewer } from './WatchViewer.js';

/** Generous: two cores shared with other test runs. */
const PICTURE_MS = 90_000;

let stack: Stack;
let mediaFolder: string;
const cameraBrowsers = new Map<PaletteName, Browser>();
let monitorBrowser: Browser;

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-csp-'));
  const [file, started] = await Promise.all([
    makeCameraVideo(mediaFolder, 'red'),
    setup('embedded'),
  ]);
  stack = started;
  cameraBrowsers.set('red', await launchChromium({ fakeVideoFile: file }));
  monitorBrowser = await launchChromium();
});

after(async () => {
  for (const browser of cameraBrowsers.values()) await browser.close().catch(() => undefined);
  await monitorBrowser?.close().catch(() => undefined);
  await stack?.teardown();
  await rm(mediaFolder, { recursive: true, force: true });
});

/**
 * Injects an inline script, which the CSP must refuse (it does not run) and report: proves that
 * the policy is in force on `page` and that its refusals reach `opened.errors`. The report is
 * then taken out of the errors, which the caller asserts empty.
 */
async function inlineScriptRefused(opened: OpenedPage): Promise<void> {
  const page: Page = opened.page;
  const ran = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.head.append(script);
    return (window as unknown as { inlineRan?: boolean }).inlineRan === true;
  });
  assert.equal(ran, false, 'an inline script does not run');
  await until(
    10_000,
    () => Promise.resolve(opened.errors.some((e) => e.startsWith('CSP:')) ? true : undefined),
    () => 'the refused inline script was not reported',
    100,
  );
  const reports = opened.errors.filter((error) => error.startsWith('CSP:'));
  assert.ok(
    reports.every((report) => /inline/i.test(report)),
    reports.join('\n'),
  );
  opened.errors.splice(
    0,
    opened.errors.length,
    ...opened.errors.filter((e) => !reports.includes(e)),
  );
}

test('the watch page plays the program from the edge under its CSP; panel, studio and camera page load with nothing refused', async () => {
  const scene = await Scene.open({ stack, cameraBrowsers, monitorBrowser }, 'Policy assembly');
  const opened: OpenedPage[] = [];
  let viewer: WatchViewer | undefined;
  try {
    await scene.join('red');
    viewer = await WatchViewer.open(
      monitorBrowser,
      mintLink(stack.app, scene.assemblyId, 'viewer'),
    );
    await until(
      PICTURE_MS,
      async () => {
        const seen = await viewer?.colours([[0.5, 0.5]]).catch(() => undefined);
        return seen?.join() === 'red' ? true : undefined;
      },
      () => 'the viewer did not see the program',
      500,
    );
    // The segments came from the edge, another origin than the page's: the CSP let them in.
    const edgeOrigin = await viewer.opened.page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .map((entry) => new URL(entry.name))
        .filter((url) => url.pathname.endsWith('.ts') || url.pathname.endsWith('.m4s'))
        .map((url) => url.origin)
        .find((origin) => origin !== location.origin),
    );
    assert.ok(edgeOrigin !== undefined, 'segments were fetched from an edge of another origin');
    const meter = await viewer.meter();
    assert.ok(meter.currentTime > 0, `the video plays (currentTime ${meter.currentTime})`);

    for (const role of ['moderator', 'presenter'] as const) {
      const page = await openPage(monitorBrowser, mintLink(stack.app, scene.assemblyId, role), {
        viewport: { width: 1366, height: 900 },
      });
      opened.push(page);
      await page.page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    }
    const camera = await openPage(
      cameraBrowsers.get('red') as Browser,
      mintLink(stack.app, scene.assemblyId, 'camera'),
    );
    opened.push(camera);
    await camera.page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });

    for (const page of [viewer.opened, ...opened]) {
      assert.deepEqual(page.errors, [], `nothing refused on ${new URL(page.page.url()).pathname}`);
      await inlineScriptRefused(page);
      assert.deepEqual(page.errors, [], `only the injected script refused`);
    }
  } finally {
    for (const page of opened) await page.close().catch(() => undefined);
    await viewer?.close().catch(() => undefined);
    await scene.close();
  }
});
