/**
 * Proves that an uploaded file is a video the program can play before it enters the library:
 * ffprobe must find a video stream with a size and a duration, and ffmpeg must decode frames
 * both from its first second and from its last one. The last check is the one that catches a
 * truncated file: an MP4 whose index is at the front (faststart) still reports its full duration
 * when most of its data is missing, and only decoding its end shows that nothing is there.
 */
import { execFile } from 'node:child_process';
import { InvalidArgumentError } from './errors.js';

export interface ProbedVideo {
  durationMs: number;
  width: number;
  height: number;
  /** The video codec, as ffprobe names it (h264, vp8, …). */
  codec: string;
}

/** How long one ffprobe or ffmpeg run may take (a large file on a slow disk). */
const RUN_TIMEOUT_MS = 60_000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
        } else if (typeof error.code === 'number') {
          resolve({ code: error.code, stdout, stderr });
        } else {
          // A missing ffprobe/ffmpeg, or one killed at the timeout: the server's fault, not the
          // upload's.
          reject(new Error(`${command} failed: ${error.message}`));
        }
      },
    );
  });
}

/** The first line ffmpeg or ffprobe wrote, without its `[demuxer @ 0x…]` prefix. */
function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((text) => text.trim() !== '') ?? '';
  return line.replace(/^\[[^\]]*\]\s*/, '').slice(0, 200);
}

/** What the file holds; InvalidArgumentError, saying why, when it is not a playable video. */
export async function probeVideo(file: string, label: string): Promise<ProbedVideo> {
  const probe = await run('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0'],
    ...['-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', file],
  ]);
  if (probe.code !== 0) {
    throw new InvalidArgumentError(
      `'${label}' is not a video file that can be played (${firstLine(probe.stderr) || 'unreadable'})`,
    );
  }
  const parsed = JSON.parse(probe.stdout) as {
    streams?: Array<{ codec_name?: string; width?: number; height?: number }>;
    format?: { duration?: string };
  };
  const stream = parsed.streams?.[0];
  if (stream === undefined) throw new InvalidArgumentError(`'${label}' has no video track`);
  const durationMs = Math.round(Number(parsed.format?.duration) * 1000);
  if (!Number.isFinite(durationMs) || durationMs <= 0) {
    throw new InvalidArgumentError(`'${label}' has no duration: it cannot be played to an end`);
  }
  if (!stream.width || !stream.height) {
    throw new InvalidArgumentError(`'${label}' has a video track without a picture size`);
  }
  for (const [where, seek] of [
    ['its beginning', ['-t', '1']],
    ['its end', ['-sseof', '-1']],
  ] as const) {
    // framecrc prints one line per decoded frame: none means nothing could be decoded there.
    const decode = await run('ffmpeg', [
      ...['-nostdin', '-v', 'error', ...(seek[0] === '-sseof' ? seek : [])],
      ...['-i', file, ...(seek[0] === '-t' ? seek : [])],
      ...['-map', '0:v:0', '-f', 'framecrc', '-'],
    ]);
    const frames = decode.stdout.split('\n').filter((line) => /^\d/.test(line)).length;
    if (decode.code !== 0 || frames === 0) {
      const why = firstLine(decode.stderr);
      throw new InvalidArgumentError(
        `'${label}' cannot be decoded at ${where}: it is truncated or damaged` +
          (why === '' ? '' : ` (${why})`),
      );
    }
  }
  return { durationMs, width: stream.width, height: stream.height, codec: stream.codec_name ?? '' };
}
