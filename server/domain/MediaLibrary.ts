/**
 * The media library: the folder of videos a presenter may inject (`MONTAGE_MEDIA_DIR`). Uploads
 * arrive from the control panel as a raw request body; they are written to a temporary name and
 * renamed only when complete, so a PlayerEndpoint never opens a half-written file, and refused
 * as soon as they pass the size limit, so a large upload cannot fill the disk.
 *
 * Names are plain file names (no folders) with a video extension; anything else is refused here,
 * and `VideoSources` checks them again (with symlinks resolved) when a video is cut to.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, linkSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, InvalidArgumentError, TooLargeError } from './errors.js';
import { probeVideo, type ProbedVideo } from './VideoProbe.js';

/** Containers the engine's and Kurento's PlayerEndpoint play. */
export const VIDEO_EXTENSIONS = ['.mp4', '.webm', '.mkv', '.mov', '.m4v'] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}$/;

export interface LibraryVideo {
  name: string;
  sizeBytes: number;
}

export class MediaLibrary {
  readonly dir: string;
  readonly maxBytes: number;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** Checks an upload's file name; returns it trimmed. */
  static checkName(name: string): string {
    const trimmed = name.trim();
    const lower = trimmed.toLowerCase();
    if (!NAME.test(trimmed) || trimmed.includes('..')) {
      throw new InvalidArgumentError(
        `file name '${trimmed.slice(0, 60)}' is invalid: use letters, digits, spaces, . _ - ( ) and no folders`,
      );
    }
    if (!VIDEO_EXTENSIONS.some((extension) => lower.endsWith(extension))) {
      throw new InvalidArgumentError(
        `file name '${trimmed}' must end with one of ${VIDEO_EXTENSIONS.join(', ')}`,
      );
    }
    return trimmed;
  }

  list(): LibraryVideo[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter(
        (name) => NAME.test(name) && VIDEO_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e)),
      )
      .map((name) => ({ name, sizeBytes: statSync(join(this.dir, name)).size }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The absolute path of a library video (the name is checked first). */
  path(name: string): string {
    return join(this.dir, MediaLibrary.checkName(name));
  }

  /**
   * Deletes a library video; false when there is none of that name. A clip on the program
   * plays on: its player has the file open, and the file goes when it closes it.
   */
  delete(name: string): boolean {
    const file = this.path(name);
    try {
      if (!statSync(file).isFile()) return false;
    } catch {
      return false;
    }
    rmSync(file);
    return true;
  }

  /**
   * Stores `body` as `name` once it is proven to be a playable video (VideoProbe); a refused
   * upload leaves nothing behind. A name already in the library is refused, never replaced.
   * `declaredBytes` (the request's Content-Length) lets an oversized upload be refused before a
   * byte is written.
   */
  async save(
    name: string,
    body: Readable,
    declaredBytes: number | undefined,
  ): Promise<LibraryVideo & ProbedVideo> {
    const checked = MediaLibrary.checkName(name);
    if (declaredBytes !== undefined && declaredBytes > this.maxBytes) {
      throw new TooLargeError(
        `the video is larger than the library's limit of ${this.maxBytes} bytes`,
      );
    }
    mkdirSync(this.dir, { recursive: true });
    const partial = join(this.dir, `.upload-${randomBytes(6).toString('hex')}`);
    const out = createWriteStream(partial, { mode: 0o640 });
    let written = 0;
    let probed: ProbedVideo;
    try {
      await new Promise<void>((resolve, reject) => {
        body.on('data', (chunk: Buffer) => {
          written += chunk.length;
          if (written > this.maxBytes) {
            body.destroy();
            reject(
              new TooLargeError(
                `the video is larger than the library's limit of ${this.maxBytes} bytes`,
              ),
            );
            return;
          }
          if (!out.write(chunk)) {
            body.pause();
            out.once('drain', () => body.resume());
          }
        });
        body.once('end', () => out.end(() => resolve()));
        body.once('error', reject);
        body.once('aborted', () => reject(new InvalidArgumentError('the upload was interrupted')));
        out.once('error', reject);
      });
      if (written === 0) throw new InvalidArgumentError('the upload is empty');
      probed = await probeVideo(partial, checked);
      // A hard link, unlike a rename, fails when the name exists: an upload never replaces
      // another clip (one that may be on the program right now).
      try {
        linkSync(partial, join(this.dir, checked));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        throw new AlreadyExistsError(
          `a video named '${checked}' is already in the library; upload this one under another name`,
        );
      }
    } catch (error) {
      out.destroy();
      throw error;
    } finally {
      rmSync(partial, { force: true });
    }
    return { name: checked, sizeBytes: written, ...probed };
  }
}
