/**
 * Which videos a presenter may inject: files inside the media library folder, or http(s) URLs
 * under a prefix on the allow list. Anything else, and any path that climbs out of the library
 * ('..', absolute paths, symlinks are resolved by the media server later), is refused, because
 * the URI ends up in a PlayerEndpoint that can read whatever the media server can.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from './errors.js';

export type VideoRequest = { file: string } | { url: string };

export class VideoSources {
  readonly #mediaDir: string;
  readonly #allowList: readonly URL[];

  constructor(mediaDir: string, allowList: readonly string[]) {
    this.#mediaDir = resolve(mediaDir);
    this.#allowList = allowList.map((prefix) => new URL(prefix));
  }

  /** The URI a PlayerEndpoint may play for this request; InvalidArgumentError otherwise. */
  resolve(request: VideoRequest): string {
    return 'file' in request ? this.#file(request.file) : this.#url(request.url);
  }

  #file(name: string): string {
    if (isAbsolute(name) || name.split(/[\\/]/).includes('..') || name.includes('\0')) {
      throw new InvalidArgumentError(
        `video file '${name}' is invalid: name a file inside the media library, without '..'`,
      );
    }
    const path = resolve(this.#mediaDir, name);
    if (!existsSync(path)) {
      throw new InvalidArgumentError(`video file '${name}' is not in the media library`);
    }
    // Resolving symlinks keeps a link inside the library from pointing outside it.
    const real = realpathSync(path);
    const root = realpathSync(this.#mediaDir);
    if (!real.startsWith(root + sep)) {
      throw new InvalidArgumentError(`video file '${name}' is outside the media library`);
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
