/**
 * The media library: the videos a presenter may inject, under `MONTAGE_MEDIA_DIR`. Uploads
 * arrive from the control panel as a raw request body; they are written to a temporary name and
 * linked under their name only when complete and probed, so a PlayerEndpoint never opens a
 * half-written file, and refused as soon as they pass the size limit, so a large upload cannot
 * fill the disk.
 *
 * The library is scoped (`MONTAGE_LIBRARY_SCOPE`). In `assembly` scope, the default, each
 * assembly has a folder of its own, `<MONTAGE_MEDIA_DIR>/<assembly id>/`: its crew lists, plays,
 * uploads and deletes only there, so one assembly's `clip.mp4` and another's are two files that
 * never meet. In `school` scope every assembly shares the top folder itself (what the library
 * was before scopes existed, so an older installation keeps its videos by choosing it). Every
 * method takes the assembly a request is for, so no caller can forget the scope.
 *
 * Names are plain file names (no folders) with a video extension; anything else is refused. A
 * name is found only as a regular file whose real path (symlinks resolved) is inside the scope's
 * folder, so a link cannot lead into another assembly's folder or out of the library.
 */
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  linkSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, InvalidArgumentError, TooLargeError } from './errors.js';
import type { AssemblyId } from './ids.js';
import { probeVideo, type ProbedVideo } from './VideoProbe.js';

/** Who shares a library: each assembly its own (the default), or the whole school one. */
export const LIBRARY_SCOPES = ['assembly', 'school'] as const;
export type LibraryScope = (typeof LIBRARY_SCOPES)[number];

/** Containers the engine's and Kurento's PlayerEndpoint play. */
export const VIDEO_EXTENSIONS = ['.mp4', '.webm', '.mkv', '.mov', '.m4v'] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}$/;

export interface LibraryVideo {
  name: string;
  sizeBytes: number;
}

export class MediaLibrary {
  /** `MONTAGE_MEDIA_DIR`: the school's folder, holding each assembly's folder in assembly scope. */
  readonly root: string;
  readonly scope: LibraryScope;
  readonly maxBytes: number;

  constructor(root: string, scope: LibraryScope, maxBytes: number) {
    this.root = root;
    this.scope = scope;
    this.maxBytes = maxBytes;
  }

  /** The folder that holds the videos `assembly` sees (it may not exist yet). */
  folder(assembly: AssemblyId): string {
    // An AssemblyId is url-safe ([A-Za-z0-9_-], ids.ts), so it is one plain folder name.
    return this.scope === 'assembly' ? join(this.root, assembly) : this.root;
  }

  /** Whose library this is, in words for messages: "this assembly's library" or "the school's". */
  get whoseLibrary(): string {
    return this.scope === 'assembly' ? "this assembly's library" : "the school's library";
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

  /** The videos `assembly` sees, by name. */
  list(assembly: AssemblyId): LibraryVideo[] {
    return this.#videosIn(this.folder(assembly)).map(({ name, real }) => ({
      name,
      sizeBytes: statSync(real).size,
    }));
  }

  /**
   * Videos directly in the top folder while the scope is `assembly`: no assembly sees them
   * (uploads made before scopes existed went there). Empty in school scope, where they are the
   * library. The app warns about them at start, so an operator knows where they went.
   */
  unscopedVideos(): string[] {
    return this.scope === 'assembly' ? this.#videosIn(this.root).map(({ name }) => name) : [];
  }

  /** The videos of `folder` (as #find sees them), sorted by name; none when it does not exist. */
  #videosIn(folder: string): Array<{ name: string; real: string }> {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return [];
    }
    const videos: Array<{ name: string; real: string }> = [];
    for (const name of names) {
      if (!NAME.test(name) || !VIDEO_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e))) {
        continue;
      }
      const real = this.#find(folder, name);
      if (real !== undefined) videos.push({ name, real });
    }
    return videos.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The real path of the video `name` that `assembly` sees, or undefined when it sees none of
   * that name: an invalid name, no such file, not a regular file, or a symlink that leads out
   * of the scope's folder (into another assembly's, say).
   */
  find(assembly: AssemblyId, name: string): string | undefined {
    let checked: string;
    try {
      checked = MediaLibrary.checkName(name);
    } catch {
      return undefined;
    }
    // checkName trims; a name with spaces around it is not the file's name.
    return checked === name ? this.#find(this.folder(assembly), name) : undefined;
  }

  #find(folder: string, name: string): string | undefined {
    try {
      const real = realpathSync(join(folder, name));
      const root = realpathSync(folder);
      // Directly in the folder: in school scope, `<assembly id>/clip.mp4` is not a school clip.
      if (!real.startsWith(root + sep) || real.slice(root.length + 1).includes(sep)) {
        return undefined;
      }
      return statSync(real).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Deletes a video `assembly` sees; false when it sees none of that name. A clip on the program
   * plays on: its player has the file open, and the file goes when it closes it.
   */
  delete(assembly: AssemblyId, name: string): boolean {
    if (this.find(assembly, name) === undefined) return false;
    // The name itself goes, never what a symlink of that name points to.
    rmSync(join(this.folder(assembly), name));
    return true;
  }

  /**
   * An assembly was deleted: in assembly scope its folder goes with it (no one can reach those
   * clips any more, so they would only fill the disk); returns how many videos it held. In
   * school scope the library is everyone's and stays. A clip on the program plays on until its
   * player closes it, as with `delete`.
   */
  deleteFolderOf(assembly: AssemblyId): number {
    if (this.scope !== 'assembly') return 0;
    const videos = this.list(assembly).length;
    rmSync(this.folder(assembly), { recursive: true, force: true });
    return videos;
  }

  /**
   * Stores `body` as `name` in `assembly`'s library once it is proven to be a playable video
   * (VideoProbe); a refused upload leaves nothing behind. A name already in that library is
   * refused, never replaced; in assembly scope another assembly's library is another folder.
   * `declaredBytes` (the request's Content-Length) lets an oversized upload be refused before a
   * byte is written.
   */
  async save(
    assembly: AssemblyId,
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
    const folder = this.folder(assembly);
    mkdirSync(folder, { recursive: true });
    const partial = join(folder, `.upload-${randomBytes(6).toString('hex')}`);
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
        linkSync(partial, join(folder, checked));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        throw new AlreadyExistsError(
          `a video named '${checked}' is already in ${this.whoseLibrary}; upload this one under another name`,
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
