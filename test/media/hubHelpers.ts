import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { classify, PALETTE, type PaletteName } from '../helpers/media.js';
import type { DecodedFrame } from '../helpers/RtpReceiver.js';

const run = promisify(execFile);

function hex(name: PaletteName): string {
  const { r, g, b } = PALETTE[name];
  return [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}

/**
 * A single-colour picture with a white box sweeping left to right (one pass a second), so
 * a test can tell the picture is live: a frozen tile keeps its box where it was.
 */
function movingBoxFilter(colour: PaletteName, width: number, height: number): string {
  const box = Math.round(height / 4);
  return (
    `color=c=0x${hex(colour)}:s=${width}x${height}:r=30[bg${colour}];` +
    `color=c=white:s=${box}x${box}:r=30[box${colour}];` +
    `[bg${colour}][box${colour}]overlay=x='mod(t*${width - box},${width - box})':` +
    `y=${Math.round(height / 2 - box / 2)}:shortest=0,format=yuv420p`
  );
}

/** Clips made in this process, by file, so tests sharing a clip encode it once per run. */
const madeClips = new Map<string, Promise<string>>();

/**
 * A WebM clip (VP8 + Opus) of movingBoxFilter with a sine tone, encoded once per process:
 * asking again for the same file (same name, same options) reuses the first encoding.
 */
export function makeMovingBoxClip(
  file: string,
  colour: PaletteName,
  options: { seconds: number; toneHz: number; width?: number; height?: number },
): Promise<string> {
  const key = JSON.stringify([file, colour, options]);
  let made = madeClips.get(key);
  if (made === undefined) {
    made = encodeMovingBoxClip(file, colour, options);
    madeClips.set(key, made);
  }
  return made;
}

async function encodeMovingBoxClip(
  file: string,
  colour: PaletteName,
  options: { seconds: number; toneHz: number; width?: number; height?: number },
): Promise<string> {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-filter_complex',
    `${movingBoxFilter(colour, width, height)}[v];sine=frequency=${options.toneHz}:sample_rate=48000:samples_per_frame=960[a]`,
    '-map',
    '[v]',
    '-map',
    '[a]',
    '-t',
    String(options.seconds),
    '-c:v',
    'libvpx',
    '-deadline',
    'realtime',
    '-cpu-used',
    '8',
    '-b:v',
    '1M',
    '-g',
    '30',
    '-c:a',
    'libopus',
    file,
  ]);
  return file;
}

/**
 * A y4m of movingBoxFilter for Chromium's fake camera (which loops it), 640x360 unless a
 * smaller picture is asked for (cheaper to encode and decode when many cameras run at once).
 */
export async function makeMovingBoxY4m(
  file: string,
  colour: PaletteName,
  seconds: number,
  size: { width: number; height: number } = { width: 640, height: 360 },
): Promise<string> {
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-filter_complex',
    movingBoxFilter(colour, size.width, size.height),
    '-t',
    String(seconds),
    '-pix_fmt',
    'yuv420p',
    file,
  ]);
  return file;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Cells of Kurento's grid for n tiles, as fractions of the picture. */
export function gridCells(n: number): Rect[] {
  let cols = 1;
  while (cols * cols < n) cols++;
  const rows = Math.ceil(n / cols);
  return Array.from({ length: n }, (_, i) => ({
    x: (i % cols) / cols,
    y: Math.floor(i / cols) / rows,
    w: 1 / cols,
    h: 1 / rows,
  }));
}

function pixel(frame: DecodedFrame, width: number, x: number, y: number): [number, number, number] {
  const offset = (y * width + x) * 3;
  return [frame.data[offset] ?? 0, frame.data[offset + 1] ?? 0, frame.data[offset + 2] ?? 0];
}

/**
 * What one grid cell shows: its background colour (sampled above the box's path, 5x5
 * average) and the horizontal centre of the white box on the middle row (fraction of the
 * cell, NaN when no box is seen).
 */
export function readCell(
  frame: DecodedFrame,
  width: number,
  height: number,
  cell: Rect,
): { colour: PaletteName; box: number } {
  const x0 = Math.floor(cell.x * width);
  const y0 = Math.floor(cell.y * height);
  const w = Math.floor(cell.w * width);
  const h = Math.floor(cell.h * height);
  let r = 0;
  let g = 0;
  let b = 0;
  const cx = x0 + Math.floor(w / 2);
  const cy = y0 + Math.floor(h * 0.2);
  for (let dy = -2; dy <= 2; dy++)
    for (let dx = -2; dx <= 2; dx++) {
      const [pr, pg, pb] = pixel(frame, width, cx + dx, cy + dy);
      r += pr;
      g += pg;
      b += pb;
    }
  const colour = classify({ r: r / 25, g: g / 25, b: b / 25 });
  const row = y0 + Math.floor(h / 2);
  let sum = 0;
  let count = 0;
  for (let x = x0; x < x0 + w; x++) {
    const [pr, pg, pb] = pixel(frame, width, x, row);
    if (pr > 200 && pg > 200 && pb > 200) {
      sum += x - x0;
      count++;
    }
  }
  return { colour, box: count > 0 ? sum / count / w : Number.NaN };
}
