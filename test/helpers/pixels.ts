/**
 * Pixel sampling of a page's <video>, shared by the BrowserPeer (its one <video>) and the drivers
 * of the real pages (test/e2e/pages.ts).
 */
import { spawn } from 'node:child_process';
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

/**
 * The colours on screen at `points` (fractions) of the element matched by `selector`, as a
 * person would see them: a screenshot of the element, decoded by ffmpeg (each point averaged
 * over a 9x9 block). For what is not a <video> (a slate, an overlay over one).
 */
export async function sampleScreen(page: Page, selector: string, points: Points): Promise<Rgb[]> {
  const png = await page.locator(selector).first().screenshot();
  // The PNG's IHDR chunk holds the size at bytes 16..23.
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const ffmpeg = spawn(
      'ffmpeg',
      ['-v', 'error', '-f', 'png_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const chunks: Buffer[] = [];
    let stderr = '';
    ffmpeg.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    ffmpeg.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    ffmpeg.on('error', reject);
    ffmpeg.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new Error(`ffmpeg could not decode the screenshot: ${stderr}`));
    });
    ffmpeg.stdin.end(png);
  });
  if (raw.length < width * height * 3) throw new Error('the screenshot decoded short');
  return points.map(([fx, fy]) => {
    const cx = Math.min(width - 5, Math.max(4, Math.round(fx * width)));
    const cy = Math.min(height - 5, Math.max(4, Math.round(fy * height)));
    let r = 0;
    let g = 0;
    let b = 0;
    for (let y = cy - 4; y <= cy + 4; y++) {
      for (let x = cx - 4; x <= cx + 4; x++) {
        const at = (y * width + x) * 3;
        r += raw[at] ?? 0;
        g += raw[at + 1] ?? 0;
        b += raw[at + 2] ?? 0;
      }
    }
    return { r: Math.round(r / 81), g: Math.round(g / 81), b: Math.round(b / 81) };
  });
}
