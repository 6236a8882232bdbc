/**
 * Which videos a presenter may inject: a video of the assembly's media library (its scope:
 * MediaLibrary), or an http(s) URL under a prefix on the allow list. Anything else is refused,
 * because the URI ends up in a PlayerEndpoint that can read whatever the media server can: a
 * name with a folder or '..' in it, a name the assembly's library does not hold (another
 * assembly's clip in assembly scope), and a symlink that leads out of the library's folder.
 */
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from './errors.js';
import type { AssemblyId } from './ids.js';
import type { MediaLibrary } from './MediaLibrary.js';

export type VideoRequest = { file: string } | { url: string };

export class VideoSources {
  readonly #library: MediaLibrary;
  readonly #allowList: readonly URL[];

  constructor(library: MediaLibrary, allowList: readonly string[]) {
    this.#library = library;
    this.#allowList = allowList.map((prefix) => new URL(prefix));
  }

  /** The URI a PlayerEndpoint may play for `assembly`'s request; InvalidArgumentError otherwise. */
  resolve(assembly: AssemblyId, request: VideoRequest): string {
    return 'file' in request ? this.#file(assembly, request.file) : this.#url(request.url);
  }

  #file(assembly: AssemblyId, name: string): string {
    if (/[\\/\0]/.test(name) || name.includes('..')) {
      throw new InvalidArgumentError(
        `video file '${name.slice(0, 120)}' is invalid: name a video of the library, without folders or '..'`,
      );
    }
    // The real path, symlinks resolved, and only inside the scope's folder (MediaLibrary.find).
    const real = this.#library.find(assembly, name);
    if (real === undefined) {
      throw new InvalidArgumentError(
        `video file '${name.slice(0, 120)}' is not in ${this.#library.whoseLibrary}`,
      );
    }
    return pathToFileURL(real).href;
  }

  #url(text: string): string {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new InvalidArgumentError(`video URL '${text}' is not an absolute URL`);
    }
    const allowed = this.#allowList.some(
      (prefix) =>
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        url.origin === prefix.origin &&
        url.pathname.startsWith(prefix.pathname) &&
        !url.pathname.split('/').includes('..'),
    );
    if (!allowed) {
      throw new InvalidArgumentError(
        `video URL '${url.href}' is not under an allowed prefix (MONTAGE_VIDEO_URL_ALLOWLIST)`,
      );
    }
    return url.href;
  }
}
