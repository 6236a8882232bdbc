/**
 * What the studio's multiview shows of a library clip before it is on air: its length and its
 * first frame. ffprobe and ffmpeg read each file once; the result is kept in memory under the
 * file's name, size and modification time, so listing the library again costs nothing and a
 * replaced upload is read afresh. Files are read one at a time: a library listed on a two-core
 * machine must not start a dozen decoders at once beside the live assemblies.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import type { MediaLibrary } from './MediaLibrary.js';

const run = promisify(execFile);

export interface ClipPreview {
  /** null when ffprobe could not tell (not a video, or a stream without a duration). */
  durationMs: number | null;
  /** Its picture size (ffprobe's first video stream); null when there is none. */
  width: number | null;
  height: number | null;
  /** A 160x90 JPEG of the first frame as a data: URL; null when no frame could be decoded. */
  poster: string | null;
}

/** The poster's size: the camera thumbnails' (public/src/lib/thumbnails.ts). */
const POSTER_WIDTH = 160;
const POSTER_HEIGHT = 90;
/** A broken or huge file must not hold the listing up for long. */
const TOOL_TIMEOUT_MS = 15_000;

export class ClipPreviews {
  readonly #library: MediaLibrary;
  readonly #log: Logger;
  /** By file name: the file's version (size and mtime) and its preview, read or being read. */
  readonly #cache = new Map<string, { version: string; preview: Promise<ClipPreview> }>();
  /** The read in progress or last queued: reads run one after another. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(library: MediaLibrary, logger: Logger) {
    this.#library = library;
    this.#log = logger;
  }

  /** The preview of every named library file, in order; never rejects. */
  async describe(names: readonly string[]): Promise<ClipPreview[]> {
    // Files no longer listed are forgotten, so the cache stays the size of the library.
    for (const name of this.#cache.keys()) if (!names.includes(name)) this.#cache.delete(name);
    return Promise.all(names.map((name) => this.#preview(name)));
  }

  #preview(name: string): Promise<ClipPreview> {
    let file: string;
    let version: string;
    try {
      file = this.#library.path(name);
      const stat = statSync(file);
      version = `${stat.size}:${stat.mtimeMs}`;
    } catch {
      return Promise.resolve({ durationMs: null, width: null, height: null, poster: null });
    }
    const cached = this.#cache.get(name);
    if (cached?.version === version) return cached.preview;
    const preview = this.#queue.then(() => this.#read(file));
    this.#queue = preview;
    this.#cache.set(name, { version, preview });
    return preview;
  }

  async #read(file: string): Promise<ClipPreview> {
    const [probed, poster] = await Promise.all([
      this.#probe(file).catch((error: unknown) => {
        this.#log.warn('ffprobe could not read a library clip', { file, error: String(error) });
        return { durationMs: null, width: null, height: null };
      }),
      this.#firstFrame(file).catch((error: unknown) => {
        this.#log.warn('ffmpeg could not decode a library clip', { file, error: String(error) });
        return null;
      }),
    ]);
    return { ...probed, poster };
  }

  async #probe(file: string): Promise<Omit<ClipPreview, 'poster'>> {
    const { stdout } = await run(
      'ffprobe',
      [
        ...['-v', 'error', '-select_streams', 'v:0'],
        ...['-show_entries', 'stream=width,height:format=duration', '-of', 'json', file],
      ],
      { timeout: TOOL_TIMEOUT_MS },
    );
    const parsed = JSON.parse(stdout) as {
      streams?: Array<{ width?: number; height?: number }>;
      format?: { duration?: string };
    };
    const seconds = Number.parseFloat(parsed.format?.duration ?? '');
    const stream = parsed.streams?.[0];
    return {
      durationMs: Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null,
      width: stream?.width ?? null,
      height: stream?.height ?? null,
    };
  }

  async #firstFrame(file: string): Promise<string | null> {
    const { stdout } = await run(
      'ffmpeg',
      [
        '-v',
        'error',
        '-i',
        file,
        '-frames:v',
        '1',
        '-an',
        '-vf',
        // Letterboxed like the camera thumbnails, so every multiview tile has one shape.
        `scale=${POSTER_WIDTH}:${POSTER_HEIGHT}:force_original_aspect_ratio=decrease,` +
          `pad=${POSTER_WIDTH}:${POSTER_HEIGHT}:(ow-iw)/2:(oh-ih)/2`,
        '-f',
        'image2pipe',
        '-c:v',
        'mjpeg',
        '-q:v',
        '5',
        'pipe:1',
      ],
      { timeout: TOOL_TIMEOUT_MS, encoding: 'buffer', maxBuffer: 1024 * 1024 },
    );
    if (stdout.length < 4 || stdout[0] !== 0xff || stdout[1] !== 0xd8) return null;
    return `data:image/jpeg;base64,${stdout.toString('base64')}`;
  }
}
