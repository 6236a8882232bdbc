/**
 * Pixel sampling of a page's <video>, shared by the BrowserPeer (its one <video>) and the drivers
 * of the real pages (test/e2e/pages.ts).
 */
import type { Page } from 'playwright-core';
import type { Rgb } from './media.js';

/** Points inside a video, as fractions of its width and height. */
export type Points = ReadonlyArray<readonly [number, number]>;

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
