/**
 * Shared pieces of the end-to-end feature tests: the geometry of the program picture (grid
 * cells, the picture-in-picture inset), polling with a deadline, the cameras' test pictures,
 * the signaling connection of a page, the engine process of the running stack, and frames
 * decoded by ffmpeg from a recording. The pages themselves are driven by `CameraClient` and
 * `MonitorClient`.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import type { BrowserPeer } from '../helpers/BrowserPeer.js';
import { classify, type PaletteName } from '../helpers/media.js';
import { gridCells, makeMovingBoxY4m, type Rect } from '../media/hubHelpers.js';
import type { Client } from './stack.js';

export type { Rect };

const run = promisify(execFile);

export type Point = readonly [number, number];

/**
 * Where each camera's picture is in a grid of `n` tiles. The Composite letterboxes each picture
 * in its cell; the cameras and the program are both 16:9 and a grid never has more rows than
 * columns, so every picture is as wide as its cell and centred vertically in it.
 */
export function gridTiles(n: number): Rect[] {
  return gridCells(n).map((cell) => ({
    x: cell.x,
    y: cell.y + (cell.h - cell.w) / 2,
    w: cell.w,
    h: cell.w,
  }));
}

/** The whole picture (spotlight, or a program cut to one camera). */
export const FULL: Rect = { x: 0, y: 0, w: 1, h: 1 };

/** Where AssemblyMedia puts the second camera in picture-in-picture (its PIP_BOX). */
export const PIP_INSET: Rect = { x: 0.66, y: 0.64, w: 0.3, h: 0.3 };

/**
 * Where a rectangle's colour is read: its horizontal centre, a fifth of the way down, above the
 * white box that sweeps along the middle row of every camera's picture.
 */
export function colourPoint(rect: Rect): Point {
  return [rect.x + rect.w / 2, rect.y + rect.h * 0.2];
}

/** The master's picture around a picture-in-picture inset: its top-left area. */
export const PIP_MAIN_POINT: Point = [0.25, 0.2];

/**
 * Calls `probe` until it returns a value other than undefined, and returns that value; after
 * `timeoutMs` throws with `describe()`, which should say what was seen last.
 */
export async function until<T>(
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  describe: () => string,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${describe()} (after ${timeoutMs} ms)`);
    await sleep(intervalMs);
  }
}

/**
 * A one-second loop for Chromium's fake camera: a flat colour with a white box sweeping left to
 * right once a second, so a tile that stops moving is seen as frozen. 320x180 (16:9 like the
 * program) is plenty for tiles and keeps several cameras cheap on a two-core machine.
 */
export function makeCameraVideo(dir: string, colour: PaletteName): Promise<string> {
  return makeMovingBoxY4m(path.join(dir, `${colour}.y4m`), colour, 1, { width: 320, height: 180 });
}

/**
 * Ends the page's current peer connection and removes its <video> before a new offer, so the
 * page has one peer and one <video> at a time (BrowserPeer samples the page's only <video>).
 */
export async function endPeer(peer: BrowserPeer): Promise<void> {
  await peer.page.evaluate(() => {
    const state = window.montagePeer;
    state?.pc.close();
    state?.video.remove();
  });
}

/** The signaling connection of a page, with the auth fields the pages send. */
export function connectPage(
  url: string,
  auth: { token: string; assembly: string; cameraKey?: string },
): Client {
  return io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Connects and resolves with the server's welcome (rejects if the handshake is refused). */
export { welcome as welcomed } from '../server/sockets.js';

/**
 * The pid of the media engine that the stack's EngineSupervisor runs: the child of this
 * process (or of `parentPid`, the process running the stack) started from dist/kms/src/main.js.
 * Other agents' engines are not its children.
 */
export async function supervisedEnginePid(
  parentPid: number = process.pid,
): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== parentPid || fields[0] === 'Z') continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(path.join('dist', 'kms', 'src', 'main.js'))) return Number(entry);
    } catch {
      // The process ended between readdir and readFile; it is not the engine.
    }
  }
  return undefined;
}

/** What ffprobe says about a recorded file: its streams' codecs. */
export async function probeStreams(
  file: string,
): Promise<Array<{ codec_type: string; codec_name: string }>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file]);
  return (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string }> })
    .streams;
}

/** Decoded frames of a file, scaled to `width` x `height` RGB. */
export interface DecodedFrames {
  count: number;
  width: number;
  height: number;
  /** The colour at `point` (fractions) of frame `index` (negative counts from the end). */
  colourAt(index: number, point: Point): PaletteName;
}

/**
 * Decodes every video frame of `file` with ffmpeg, scaled down so that a recording of several
 * seconds stays small in memory. A live WebM recording has no index, so the frames are read
 * from the start rather than seeked to.
 */
export async function decodeFrames(file: string, width = 160, height = 90): Promise<DecodedFrames> {
  const { stdout } = await run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      file,
      '-an',
      '-vf',
      `scale=${width}:${height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
  );
  const frameBytes = width * height * 3;
  const count = Math.floor(stdout.length / frameBytes);
  return {
    count,
    width,
    height,
    colourAt(index, [fx, fy]) {
      const frame = index < 0 ? count + index : index;
      if (frame < 0 || frame >= count) throw new Error(`no frame ${index} of ${count}`);
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      const cx = Math.round(fx * width);
      const cy = Math.round(fy * height);
      for (let y = cy - 2; y <= cy + 2; y++) {
        for (let x = cx - 2; x <= cx + 2; x++) {
          const offset = frame * frameBytes + (y * width + x) * 3;
          r += stdout[offset] ?? 0;
          g += stdout[offset + 1] ?? 0;
          b += stdout[offset + 2] ?? 0;
          n += 1;
        }
      }
      return classify({ r: r / n, g: g / n, b: b / n });
    },
  };
}
