import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { QUADRANT_CENTRES } from './BrowserPeer.js';
import { classify, type PaletteName, type Rgb } from './media.js';

const run = promisify(execFile);

/**
 * Decodes the whole file with ffmpeg (which must succeed: `-xerror` fails on a corrupt packet)
 * and classifies the centre of each quadrant of the frame at `atSeconds`.
 */
export async function fileQuadrants(file: string, atSeconds: number): Promise<PaletteName[]> {
  await run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  const width = 320;
  const height = 240;
  const { stdout } = await run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      file,
      '-ss',
      String(atSeconds),
      '-frames:v',
      '1',
      '-vf',
      `scale=${width}:${height}`,
      '-pix_fmt',
      'rgb24',
      '-f',
      'rawvideo',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 10 * 1024 * 1024 },
  );
  if (stdout.length < width * height * 3) throw new Error(`no frame at ${atSeconds} s in ${file}`);
  return QUADRANT_CENTRES.map(([fx, fy]) => {
    const x = Math.round(fx * width);
    const y = Math.round(fy * height);
    const i = (y * width + x) * 3;
    const pixel: Rgb = { r: stdout[i] ?? 0, g: stdout[i + 1] ?? 0, b: stdout[i + 2] ?? 0 };
    return classify(pixel);
  });
}

/**
 * Time of the file's last video packet, in seconds: how much of a clip was recorded, whatever the
 * frame rate a loaded machine let the encoder keep (works for files without an index too).
 */
export async function lastVideoTime(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time',
    '-of',
    'csv=p=0',
    file,
  ]);
  // parseFloat, not Number: for some containers ffprobe ends each line with a comma.
  const times = stdout
    .split('\n')
    .map((line) => Number.parseFloat(line))
    .filter((t) => Number.isFinite(t) && t > 0);
  return times.length === 0 ? 0 : Math.max(...times);
}
