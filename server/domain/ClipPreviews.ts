/**
 * What the studio's multiview shows of a library clip before it is on air: its length and its
 * first frame. ffprobe and ffmpeg read each file once; the result is kept in memory under the
 * file's path in its scope's folder (two assemblies' `clip.mp4` are two entries), size and
 * modification time, so listing the library again costs nothing and a changed file is read
 * afresh. Files are read one at a time: a library listed on a two-core
 * machine must not start a dozen decoders at once beside the live assemblies.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import type { AssemblyId } from './ids.js';
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
  /**
   * By the file's path in its scope's folder (never by its bare name, which another assembly's
   * library may hold too): the file's version (size and mtime) and its preview.
   */
  readonly #cache = new Map<string, { version: string; preview: Promise<ClipPreview> }>();
  /** The read in progress or last queued: reads run one after another. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(library: MediaLibrary, logger: Logger) {
    this.#library = library;
    this.#log = logger;
  }

  /** The preview of every named video of `assembly`'s library, in order; never rejects. */
  async describe(assembly: AssemblyId, names: readonly string[]): Promise<ClipPreview[]> {
    const folder = this.#library.folder(assembly);
    const keys = names.map((name) => join(folder, name));
    // Files of this folder no longer listed are forgotten, so the cache stays the size of the
    // libraries listed; other folders' entries are theirs to forget.
    for (const key of this.#cache.keys()) {
      if (dirname(key) === folder && !keys.includes(key)) this.#cache.delete(key);
    }
    return Promise.all(names.map((name) => this.#preview(assembly, name)));
  }

  /** Forgets every preview of `assembly`'s folder (the assembly was deleted, and its folder). */
  forget(assembly: AssemblyId): void {
    // In school scope the folder is everyone's, and stays.
    if (this.#library.scope !== 'assembly') return;
    const folder = this.#library.folder(assembly);
    for (const key of this.#cache.keys()) {
      if (dirname(key) === folder) this.#cache.delete(key);
    }
  }

  #preview(assembly: AssemblyId, name: string): Promise<ClipPreview> {
    const unknown = { durationMs: null, width: null, height: null, poster: null };
    const key = join(this.#library.folder(assembly), name);
    // Its real path (symlinks resolved, inside the scope's folder), or none: gone meanwhile.
    const file = this.#library.find(assembly, name);
    if (file === undefined) return Promise.resolve(unknown);
    let version: string;
    try {
      const stat = statSync(file);
      version = `${file}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      return Promise.resolve(unknown);
    }
    const cached = this.#cache.get(key);
    if (cached?.version === version) return cached.preview;
    const preview = this.#queue.then(() => this.#read(file));
    this.#queue = preview;
    this.#cache.set(key, { version, preview });
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
