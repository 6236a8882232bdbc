/**
 * Test media for the delivery tests: a program published the way the bridge will publish it
 * (H.264 constrained baseline with a 1 s GOP at the engine's bit rate, AAC, timestamps on the
 * program clock), and ffmpeg/ffprobe readers of what the origin plays out.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { programTimestamp } from '../../server/hls/programClock.js';
import { spawnTestProcess, type TestProcess } from '../edge/helpers.js';
import { PALETTE, classify, type PaletteName, type Quadrants } from '../helpers/media.js';

const run = promisify(execFile);

export interface ProgramPicture {
  quadrants: Quadrants;
  width: number;
  height: number;
  fps: number;
  /** Video bit rate in kbit/s (the engine's x264 runs at 1500). */
  kbps: number;
  /** Grain over the quadrants, so that the encoder spends its bit rate as on a real picture. */
  grain: boolean;
}

const DEFAULT_PICTURE: ProgramPicture = {
  quadrants: ['red', 'green', 'blue', 'yellow'],
  width: 1280,
  height: 720,
  fps: 30,
  kbps: 1500,
  grain: true,
};

/**
 * Publishes a live program to `url`: four coloured quadrants (with grain), a 440 Hz tone, H.264
 * constrained baseline with a keyframe every second as the engine's x264 makes it, AAC as the
 * bridge makes it, and RTMP timestamps on the program clock (Unix ms modulo 2^31, what the lead's
 * bridge will stamp; emulated here with -output_ts_offset).
 */
export function publishProgram(url: string, picture: Partial<ProgramPicture> = {}): TestProcess {
  const p = { ...DEFAULT_PICTURE, ...picture };
  const inputs = p.quadrants
    .map((name, i) => {
      const { r, g, b } = PALETTE[name];
      const hex = [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
      return `color=c=0x${hex}:s=${p.width / 2}x${p.height / 2}:r=${p.fps}[q${i}]`;
    })
    .join(';');
  const grain = p.grain ? ',noise=alls=12:allf=t' : '';
  const graph =
    `${inputs};[q0][q1]hstack[top];[q2][q3]hstack[bottom];` +
    `[top][bottom]vstack,format=yuv420p${grain},realtime[v];` +
    'sine=frequency=440:sample_rate=48000:samples_per_frame=960,arealtime[a]';
  const offsetSeconds = programTimestamp(Date.now()) / 1000;
  return spawnTestProcess('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-filter_complex',
    graph,
    '-map',
    '[v]',
    '-map',
    '[a]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-profile:v',
    'baseline',
    '-b:v',
    `${p.kbps}k`,
    '-maxrate',
    `${p.kbps}k`,
    '-bufsize',
    `${p.kbps}k`,
    '-g',
    String(p.fps),
    '-keyint_min',
    String(p.fps),
    '-sc_threshold',
    '0',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-output_ts_offset',
    offsetSeconds.toFixed(3),
    '-f',
    'flv',
    url,
  ]);
}

/**
 * Copies `seconds` of a live 30 fps RTMP stream to an FLV file, timestamps untouched (counted in
 * frames of each stream: with -copyts, -t would count from timestamp zero and stop at once).
 */
export async function captureStream(url: string, file: string, seconds: number): Promise<void> {
  await run(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-copyts', '-i', url, '-map', '0'].concat([
      '-frames:v',
      String(seconds * 30),
      // AAC frames are 1024 samples at 48 kHz: 46.9 a second.
      '-frames:a',
      String(Math.floor(seconds * 46)),
      '-c',
      'copy',
      '-f',
      'flv',
      '-y',
      file,
    ]),
    { timeout: (seconds + 30) * 1000 },
  );
}

/** Presentation timestamps (ms) of the video keyframes in a file. */
export async function keyframeTimes(file: string): Promise<number[]> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time,flags',
    '-of',
    'csv=p=0',
    file,
  ]);
  return stdout
    .split('\n')
    .filter((line) => line.includes('K'))
    .map((line) => Math.round(Number(line.split(',')[0]) * 1000));
}

export interface StreamInfo {
  codec: string;
  profile: string;
  level: number;
  width: number;
  height: number;
  frameRate: string;
  audio: string | undefined;
}

/** What ffprobe says of a file's first video and audio streams. */
export async function streamInfo(file: string): Promise<StreamInfo> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_type,codec_name,profile,level,width,height,r_frame_rate',
    '-of',
    'json',
    file,
  ]);
  const streams = (JSON.parse(stdout) as { streams: Array<Record<string, unknown>> }).streams;
  const video = streams.find((stream) => stream.codec_type === 'video') ?? {};
  const audio = streams.find((stream) => stream.codec_type === 'audio');
  return {
    codec: String(video.codec_name),
    profile: String(video.profile),
    level: Number(video.level),
    width: Number(video.width),
    height: Number(video.height),
    frameRate: String(video.r_frame_rate),
    audio: audio === undefined ? undefined : `${String(audio.codec_name)} ${String(audio.profile)}`,
  };
}

/** Decodes the last frame of a file and classifies the centre of each quadrant. */
export async function fileQuadrants(file: string): Promise<PaletteName[]> {
  const info = await streamInfo(file);
  const { stdout } = await run(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-sseof', '-0.5', '-i', file].concat([
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ]),
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  const { width, height } = info;
  return [
    [0.25, 0.25],
    [0.75, 0.25],
    [0.25, 0.75],
    [0.75, 0.75],
  ].map(([fx, fy]) => {
    // The average of a 9x9 block, so that the grain does not decide the colour.
    let r = 0;
    let g = 0;
    let b = 0;
    let n = 0;
    const cx = Math.round((fx ?? 0) * width);
    const cy = Math.round((fy ?? 0) * height);
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const offset = ((cy + dy) * width + (cx + dx)) * 3;
        r += stdout[offset] ?? 0;
        g += stdout[offset + 1] ?? 0;
        b += stdout[offset + 2] ?? 0;
        n += 1;
      }
    }
    return classify({ r: r / n, g: g / n, b: b / n });
  });
}

/** CPU use of a process over `ms`, in percent of one core (from /proc/PID/stat). */
export async function cpuPercent(pid: number, ms: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const ticks = async (): Promise<number> => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  const before = await ticks();
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = (await ticks()) - before;
  // Linux reports CPU time in clock ticks of 1/100 s.
  return (used / 100 / ((Date.now() - started) / 1000)) * 100;
}
