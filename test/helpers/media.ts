import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** An RGB colour as the tests name and compare them. */
export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/**
 * The palette of test pictures. Colours are saturated and far apart so that lossy coding
 * never turns one into another, and each sample is classified as its nearest palette entry.
 */
export const PALETTE = {
  red: { r: 255, g: 0, b: 0 },
  green: { r: 0, g: 255, b: 0 },
  blue: { r: 0, g: 0, b: 255 },
  yellow: { r: 255, g: 255, b: 0 },
  magenta: { r: 255, g: 0, b: 255 },
  cyan: { r: 0, g: 255, b: 255 },
  white: { r: 255, g: 255, b: 255 },
  black: { r: 0, g: 0, b: 0 },
} as const satisfies Record<string, Rgb>;

export type PaletteName = keyof typeof PALETTE;

/** Returns the palette colour nearest to a sampled pixel. */
export function classify(pixel: Rgb): PaletteName {
  let best: PaletteName = 'black';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const [name, colour] of Object.entries(PALETTE) as Array<[PaletteName, Rgb]>) {
    const distance =
      (pixel.r - colour.r) ** 2 + (pixel.g - colour.g) ** 2 + (pixel.b - colour.b) ** 2;
    if (distance < bestDistance) {
      bestDistance = distance;
      best = name;
    }
  }
  return best;
}

/** A fresh temporary folder for generated media. */
export async function mediaDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'montage-media-'));
}

/** Four quadrants, top-left, top-right, bottom-left, bottom-right. */
export type Quadrants = readonly [PaletteName, PaletteName, PaletteName, PaletteName];

function quadrantFilter(quadrants: Quadrants, width: number, height: number, fps: number): string {
  const w = width / 2;
  const h = height / 2;
  const inputs = quadrants
    .map((name, i) => {
      const { r, g, b } = PALETTE[name];
      const hex = [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
      return `color=c=0x${hex}:s=${w}x${h}:r=${fps}[q${i}]`;
    })
    .join(';');
  return `${inputs};[q0][q1]hstack[top];[q2][q3]hstack[bottom];[top][bottom]vstack,format=yuv420p`;
}

/**
 * Writes a y4m file for Chromium's fake camera: four coloured quadrants, so a test can tell
 * that the picture came back whole and the right way round.
 */
export async function makeQuadrantY4m(
  file: string,
  quadrants: Quadrants,
  options: { width?: number; height?: number; fps?: number; seconds?: number } = {},
): Promise<string> {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const fps = options.fps ?? 30;
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-filter_complex',
    quadrantFilter(quadrants, width, height, fps),
    '-t',
    String(options.seconds ?? 1),
    '-pix_fmt',
    'yuv420p',
    file,
  ]);
  return file;
}

export type ClipContainer = 'webm' | 'mp4';

/**
 * Writes a clip with a known picture (four quadrants) and a sine tone: VP8 + Opus in WebM or
 * H.264 + AAC in MP4, the two kinds of file a school is likely to inject.
 */
export async function makeQuadrantClip(
  file: string,
  quadrants: Quadrants,
  options: {
    seconds: number;
    container: ClipContainer;
    width?: number;
    height?: number;
    toneHz?: number;
  },
): Promise<string> {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const codecArgs =
    options.container === 'webm'
      ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '1M', '-g', '30', '-c:a', 'libopus']
      : [
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-g',
          '30',
          '-pix_fmt',
          'yuv420p',
          '-c:a',
          'aac',
        ];
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-filter_complex',
    `${quadrantFilter(quadrants, width, height, 30)}[v];sine=frequency=${options.toneHz ?? 440}:sample_rate=48000:samples_per_frame=960[a]`,
    '-map',
    '[v]',
    '-map',
    '[a]',
    '-t',
    String(options.seconds),
    ...codecArgs,
    file,
  ]);
  return file;
}
